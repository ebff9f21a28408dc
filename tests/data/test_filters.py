"""Filters drop what they should, with reasons counted; they work with dataset.filter and apply_filters."""

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from hf_select.data.filters import (  # noqa: E402
    CharsetFilter,
    ExactDedupFilter,
    MalformedFilter,
    NearDedupFilter,
    RegexFilter,
    ScoreFilter,
    TokenLengthFilter,
    apply_filters,
    build_filters,
)
from hf_select.import_utils import is_datasketch_available, is_transformers_available  # noqa: E402


def _msgs(user, assistant):
    out = [{"role": "user", "content": user}]
    if assistant is not None:
        out.append({"role": "assistant", "content": assistant})
    return out


@pytest.fixture(scope="module")
def tokenizer():
    if not is_transformers_available():
        pytest.skip("transformers missing")
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    try:
        path = smollm2_local_path()
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(str(err))
    return load_tokenizer(path)


def test_malformed_reasons_and_dataset_filter():
    rows = [
        {"prompt": "Q1", "completion": "A1"},
        {"prompt": "Q2", "completion": ""},
        {"prompt": "Q3", "completion": "   "},
        {"prompt": None, "completion": "A4"},
        {"prompt": "Q5", "completion": "A5"},
    ]
    ds = datasets.Dataset.from_list(rows)
    flt = MalformedFilter()
    out = ds.filter(flt, load_from_cache_file=False)
    assert out["prompt"] == ["Q1", "Q5"]
    assert dict(flt.drop_counts) == {"empty_completion": 2, "none_value": 1}


def test_malformed_messages():
    rows = [
        {"messages": _msgs("hi", "hello")},
        {"messages": []},
        {"messages": [{"role": "user"}]},
        {"messages": _msgs("only a question", None)},
    ]
    filtered, idx, drops = apply_filters(rows, [MalformedFilter()])
    assert idx.tolist() == [0]
    assert filtered.num_rows == 1
    assert drops == {"malformed/bad_messages": 2, "malformed/empty_completion": 1}


def test_exact_dedup_keeps_first_and_normalises():
    rows = ["The cat sat.", "the  CAT sat.", "A dog.", "The cat sat.", "a dog. "]
    _, idx, drops = apply_filters(rows, [ExactDedupFilter()])
    assert idx.tolist() == [0, 2]
    assert drops == {"exact_dedup/exact_duplicate": 3}
    _, idx, _ = apply_filters(rows, [ExactDedupFilter(normalize=False)])
    assert idx.tolist() == [0, 1, 2, 4]


@pytest.mark.skipif(not is_datasketch_available(), reason="datasketch missing")
def test_near_dedup_threshold():
    base = ("the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden "
            "porch and drinks his morning coffee slowly")
    near = base.replace("slowly", "quickly")  # one word of 22 changed
    other = "stock prices fell sharply on tuesday after the central bank raised interest rates again this year"
    rows = [base, other, near]
    _, idx, drops = apply_filters(rows, [NearDedupFilter(threshold=0.7)])
    assert idx.tolist() == [0, 1]
    assert drops == {"near_dedup/near_duplicate": 1}
    # a copy with 4 of 22 words changed shares ~1/3 of its 3-word shingles: kept at threshold 0.8
    words = base.split()
    for i in (3, 8, 13, 18):
        words[i] = "zzz"
    medium = " ".join(words)
    flt = NearDedupFilter(threshold=0.8)
    assert flt.minhash(base).jaccard(flt.minhash(medium)) < 0.6
    _, idx, _ = apply_filters([base, medium], [flt])
    assert idx.tolist() == [0, 1]


@pytest.mark.skipif(not is_datasketch_available(), reason="datasketch missing")
def test_near_dedup_reset():
    flt = NearDedupFilter(threshold=0.5)
    assert flt({"text": "one two three four five"}) is True
    assert flt({"text": "one two three four five"}) is False
    flt.reset()
    assert flt({"text": "one two three four five"}) is True
    assert dict(flt.drop_counts) == {}


def test_token_length_uses_chat_template(tokenizer):
    short = {"messages": _msgs("hi", "ok")}
    long = {"messages": _msgs("word " * 200, "fine")}
    flt = TokenLengthFilter(tokenizer=tokenizer, min_tokens=5, max_tokens=100)
    n_short = flt.count(short)
    # the chat template adds role markers and a system prompt, so the count exceeds the raw words
    raw = len(tokenizer("hi ok", add_special_tokens=False)["input_ids"])
    assert n_short > raw
    rendered = tokenizer.apply_chat_template(short["messages"], tokenize=False)
    assert n_short == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    _, idx, drops = apply_filters([short, long], [flt])
    assert idx.tolist() == [0]
    assert drops == {"token_length/too_long": 1}
    tiny = TokenLengthFilter(tokenizer=tokenizer, min_tokens=n_short + 1)
    assert tiny(short) is False and dict(tiny.drop_counts) == {"too_short": 1}


def test_token_length_counts_special_tokens_once():
    """Token counts follow hf_select.scoring.encoding: the tokenizer's BOS once, not again when a chat template
    writes it; add_special_tokens=False counts the bare text."""
    if not is_transformers_available():
        pytest.skip("transformers missing")
    from hf_select.scoring.encoding import encode
    from hf_select.testing import toy_tokenizer

    tok = toy_tokenizer(add_bos=True)  # one token per character, BOS id 2 in front of every text
    tok.chat_template = "{% for m in messages %}<2>{{ m['content'] }}<1>{% endfor %}"
    assert TokenLengthFilter(tokenizer=tok, max_tokens=99).count({"text": "hello"}) == 6
    assert TokenLengthFilter(tokenizer=tok, max_tokens=99, add_special_tokens=False).count({"text": "hello"}) == 5
    chat = {"messages": _msgs("hi", "ok")}
    rendered = tok.apply_chat_template(chat["messages"], tokenize=False)
    assert TokenLengthFilter(tokenizer=tok, max_tokens=99).count(chat) == len(rendered) - 4 * 2  # <2>, <1>: 1 token
    assert TokenLengthFilter(tokenizer=tok, max_tokens=99).count(chat) == encode([rendered], tok).lengths[0]


def test_score_filter_column_and_result():
    ds = datasets.Dataset.from_dict({"text": list("abcde"), "hf_select_score": [0.1, 0.9, 0.5, None, 2.0]})
    _, idx, drops = apply_filters(ds, [ScoreFilter(min_score=0.4, max_score=1.0)])
    assert idx.tolist() == [1, 2]
    assert drops == {"score/score_below_min": 1, "score/score_missing": 1, "score/score_above_max": 1}

    from hf_select.selection import select

    res = select(["x", "y", "z", "w"], "random", k=2, seed=0)
    flt = ScoreFilter(min_score=float(np.median(res.scores)), scores=res)
    pool = datasets.Dataset.from_dict({"text": ["x", "y", "z", "w"]})
    kept = pool.filter(flt, with_indices=True, load_from_cache_file=False)
    expected = [t for t, s in zip(pool["text"], res.scores) if s >= np.median(res.scores)]
    assert kept["text"] == expected
    with pytest.raises(ValueError, match="with_indices=True"):
        ScoreFilter(min_score=0.0, scores=res)({"text": "x"})


def test_charset_filter_batched():
    texts = ["Hello there", "Привет, как дела?", "日本語のテキスト", "1234 !!", "Ça va?"]
    ds = datasets.Dataset.from_dict({"text": texts})
    flt = CharsetFilter(scripts=["latin"], min_ratio=0.9)
    out = ds.filter(flt, batched=True, batch_size=2, load_from_cache_file=False)
    assert out["text"] == ["Hello there", "1234 !!", "Ça va?"]
    assert dict(flt.drop_counts) == {"other_script": 2}
    ascii_only = CharsetFilter(scripts=["ascii"], min_ratio=1.0)
    assert ascii_only({"text": "Ça va?"}) is False
    assert CharsetFilter(scripts=["cyrillic", "latin"])({"text": "Привет"}) is True


def test_apply_filters_chain_first_reason_wins_and_dict_specs():
    rows = [{"prompt": "q", "completion": "As an AI language model I cannot"}, {"prompt": "q", "completion": ""},
            {"prompt": "q", "completion": "fine answer"}, {"prompt": "q", "completion": "fine answer"}]
    chain = build_filters([{"name": "malformed"}, {"name": "regex", "pattern": r"as an ai language model"},
                           {"name": "exact_dedup"}, lambda row: (False, "custom") if row["prompt"] == "zzz" else True])
    filtered, idx, drops = apply_filters(rows, chain)
    assert idx.dtype == np.int64 and idx.tolist() == [2]
    assert filtered["completion"] == ["fine answer"]
    assert drops == {"malformed/empty_completion": 1, "regex/pattern_match": 1, "exact_dedup/exact_duplicate": 1}


def test_bad_filter_arguments():
    with pytest.raises(ValueError, match="tokenizer"):
        TokenLengthFilter(max_tokens=3)
    with pytest.raises(ValueError, match="min_score"):
        ScoreFilter()
    with pytest.raises(ValueError, match="script"):
        CharsetFilter(scripts=["klingon"])
    with pytest.raises(ValueError, match="Unknown filter"):
        build_filters([{"name": "nope"}])
    with pytest.raises(TypeError, match="must return"):
        apply_filters(["a"], [lambda row: "yes"])
    with pytest.raises(ValueError, match="pattern"):
        RegexFilter()


def test_select_uses_filters():
    from hf_select.selection import select

    pool = ["cat cat", "cat cat", "a cat", "dogs"]
    res = select(pool, "bm25", target=["cat"], k=2, filters=[ExactDedupFilter()])
    assert 1 not in res.indices.tolist()
    assert np.isneginf(res.scores[1])
    assert res.config["filter_drops"] == {"exact_dedup/exact_duplicate": 1}

