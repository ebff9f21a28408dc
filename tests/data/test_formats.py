import datasets
import pytest

from hf_select.data.formats import detect_format, prompt_completion_texts, text_view

CONV = [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "content": "4."}]},
]


@pytest.mark.parametrize(
    "rows, fmt, query, full",
    [
        ([{"text": "plain text"}], "language_modeling", "plain text", "plain text"),
        (CONV, "conversational", "What is 2+2?", "<|system|>\nBe brief.\n<|user|>\nWhat is 2+2?\n<|assistant|>\n4.\n"),
        ([{"prompt": "Q: sky?", "completion": " blue"}], "prompt_completion", "Q: sky?", "Q: sky? blue"),
        ([{"prompt": "Only a prompt"}], "prompt_only", "Only a prompt", "Only a prompt"),
        ([{"prompt": "P", "chosen": " good", "rejected": " bad"}], "preference", "P", "P good"),
        ([{"prompt": "P", "completion": " c", "label": True}], "unpaired_preference", "P", "P c"),
        ([{"prompt": "P", "completions": ["s1", "s2"], "labels": [True, False]}], "stepwise", "P", "Ps1\ns2"),
    ],
)
def test_every_trl_format(rows, fmt, query, full):
    assert detect_format(rows) == fmt
    assert text_view(rows, "query") == [query]
    assert text_view(rows, "full") == [full]
    assert text_view(datasets.Dataset.from_list(rows), "full") == [full]


def test_conversational_prompt_completion():
    rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Yo"}]}]
    assert detect_format(rows) == "prompt_completion"
    assert text_view(rows, "query") == ["Hi"]
    assert text_view(rows, "completion") == ["<|assistant|>\nYo\n"]
    (prompt, completion), = prompt_completion_texts(rows)
    assert prompt.endswith("<|assistant|>\n") and completion == "<|assistant|>\nYo\n"


def test_completion_view_and_pairs_add_up():
    pairs = prompt_completion_texts(CONV)
    assert pairs[0][0] + pairs[0][1] == text_view(CONV, "full")[0]
    assert text_view(CONV, "completion") == ["<|assistant|>\n4.\n"]
    assert prompt_completion_texts([{"text": "abc"}]) == [("", "abc")]


def test_chat_template_is_used_with_a_tokenizer():
    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            body = "".join(f"[{m['role']}]{m['content']}" for m in messages)
            return body + ("[assistant]" if add_generation_prompt else "")

    full = text_view(CONV, "full", tokenizer=Tok())
    assert full == ["[system]Be brief.[user]What is 2+2?[assistant]4."]
    (prompt, completion), = prompt_completion_texts(CONV, tokenizer=Tok())
    assert prompt + completion == full[0] and completion == "4."


def test_text_field_and_plain_strings():
    rows = [{"body": "abc", "n": 1}]
    assert text_view(rows, "full", text_field="body") == ["abc"]
    assert text_view(["x", "y"], "query") == ["x", "y"]


def test_multimodal_parts_keep_text():
    rows = [{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "caption?"}]},
                          {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]}]}]
    assert text_view(rows, "query") == ["caption?"]


def test_no_text_column_lists_columns_and_options():
    with pytest.raises(ValueError, match=r"columns are \['a', 'b'\].*text_field"):
        text_view([{"a": 1, "b": 2}], "full")
    with pytest.raises(ValueError, match="text_field='missing' is not a column"):
        text_view([{"a": "x"}], "full", text_field="missing")


@pytest.mark.parametrize(
    "rows, exc, match",
    [
        ([{"messages": "not a list"}], ValueError, "Row 0, column 'messages'"),
        ([{"messages": []}], ValueError, "empty list"),
        ([{"messages": [{"role": "user"}]}], ValueError, "'role' and 'content'"),
        ([{"messages": [{"role": "user", "content": None}]}], TypeError, "'content' is None"),
        ([{"text": "ok"}, {"text": None}], TypeError, "Row 1, column 'text': text is None"),
        ([{"text": 3}], TypeError, "expected a string"),
        ([{"prompt": "p", "completion": None}], TypeError, "completion"),
    ],
)
def test_malformed_rows(rows, exc, match):
    with pytest.raises(exc, match=match):
        text_view(rows, "full")


def test_unknown_view_and_format():
    with pytest.raises(ValueError, match="view='side'"):
        text_view(CONV, "side")
    with pytest.raises(ValueError, match="format='weird'"):
        text_view(CONV, "full", format="weird")


# -- real-world schemas (issue 9 item 4): Alpaca and ShareGPT in every view, never an answer dropped -------------
ALPACA_ROW = {"instruction": "Sort", "input": "[3,1]", "output": "[1,3]"}
SHAREGPT_ROW = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi?"},
                                  {"from": "gpt", "value": "Hello."}]}


@pytest.mark.parametrize("row, fmt, query, prompt, completion", [
    (ALPACA_ROW, "alpaca", "Sort\n\n[3,1]", "<|user|>\nSort\n\n[3,1]\n", "<|assistant|>\n[1,3]\n"),
    ({"instruction": "Sort", "input": "", "output": "x"}, "alpaca", "Sort", "<|user|>\nSort\n", "<|assistant|>\nx\n"),
    ({"instruction": "Summarise", "context": "Long text.", "response": "Short.", "category": "summarization"},
     "alpaca", "Summarise\n\nLong text.", "<|user|>\nSummarise\n\nLong text.\n", "<|assistant|>\nShort.\n"),
    ({"question": "2+2?", "answer": "4"}, "alpaca", "2+2?", "<|user|>\n2+2?\n", "<|assistant|>\n4\n"),
    ({"instruction": "Go on", "input": None, "output": "B", "system": "Sys", "history": [["Start", "A"]]}, "alpaca",
     "Start", "<|system|>\nSys\n<|user|>\nStart\n<|assistant|>\nA\n<|user|>\nGo on\n", "<|assistant|>\nB\n"),
    (SHAREGPT_ROW, "sharegpt", "Hi?", "<|system|>\nBe brief.\n<|user|>\nHi?\n", "<|assistant|>\nHello.\n"),
    ({"conversations": [{"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]}, "sharegpt", "U",
     "<|user|>\nU\n", "<|assistant|>\nA\n"),
])
def test_real_world_schemas_in_every_view(row, fmt, query, prompt, completion):
    for data in ([row], datasets.Dataset.from_list([row])):
        assert detect_format(data) == fmt
        assert text_view(data, "query") == [query]
        assert text_view(data, "completion") == [completion]
        assert text_view(data, "full") == [prompt + completion]
        assert prompt_completion_texts(data) == [(prompt, completion)]


def test_real_world_schemas_use_the_chat_template():
    class Template:
        chat_template = "t"

        def apply_chat_template(self, msgs, tokenize=False, add_generation_prompt=False):
            return "".join(f"[{m['role']}]{m['content']}" for m in msgs) + ("[assistant]" if add_generation_prompt
                                                                              else "")

    (prompt, completion), = prompt_completion_texts([ALPACA_ROW], tokenizer=Template())
    assert prompt == "[user]Sort\n\n[3,1][assistant]" and completion == "[1,3]"


def test_alpaca_as_target_is_read_like_the_pool():
    import hf_select as hs

    answers = ("cats purr", "stocks fell", "cats nap", "rain today", "dogs bark")
    pool = [{"instruction": "Q", "input": "", "output": w} for w in answers]
    res = hs.select(pool, "bm25", target=[{"instruction": "Tell me", "output": "cats"}], k=2, text_view="full")
    assert sorted(res.indices.tolist()) == [0, 2]


@pytest.mark.parametrize("rows, exc, match", [
    ([{"instruction": "Sort", "output": None}], TypeError, "Row 0, column 'output': text is None"),
    ([{"instruction": "Sort", "output": 3}], TypeError, "column 'output': expected a string"),
    ([{"instruction": "S", "output": "o", "history": [["only one"]]}], ValueError, "history', turn 0"),
    ([{"conversations": [{"from": "robot", "value": "x"}]}], ValueError, "unknown role 'robot'"),
    ([{"conversations": []}], ValueError, "non-empty list"),
    ([{"conversations": ["text"]}], ValueError, "turn 0: expected a dict"),
])
def test_real_world_schema_errors_name_row_and_column(rows, exc, match):
    with pytest.raises(exc, match=match):
        text_view(rows, "full")


def test_a_lone_fallback_column_is_read_but_other_columns_are_named():
    with pytest.warns(UserWarning, match=r"columns \['reply'\] are not read"):
        assert text_view([{"question": "Why?", "reply": "Because."}], "full") == ["Why?"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert text_view([{"question": "Why?"}], "full") == ["Why?"]  # nothing else to read: no warning
