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
