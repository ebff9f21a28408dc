"""DSIR: hashed n-gram features, smoothed bucket distributions, log importance weights, Gumbel resampling."""

import hashlib
import json
import math
import re
from collections import Counter

import datasets
import numpy as np
import pytest

import hf_select as hs
from hf_select.selectors.base import BUILTIN_SELECTORS, get_selector_class
from hf_select.selectors.dsir import DSIRSelector, HashedNgramFeaturizer
from hf_select.strategies import apply_strategy

POOL = [
    "The cat sat on the mat.",
    "Stock prices fell sharply, again!",
    "A cat and a dog played on the mat.",
    "Bond yields rose; markets fell.",
    "Cats don't like baths.",
]
TARGET = ["The cat sat.", "A dog's mat."]


def reference_bucket(ngram, buckets):
    # The DSIR reference implementation's hash, written out independently.
    return int(hashlib.sha256(ngram.encode("utf-8")).hexdigest(), 16) % buckets


def reference_features(text, buckets):
    words = re.findall(r"\w+|[^\w\s]+", text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return Counter(reference_bucket(g, buckets) for g in grams)


def test_tokenisation_and_buckets_are_the_reference_ones():
    feat = HashedNgramFeaturizer(num_buckets=97, ngrams=2)
    assert feat.tokenize("Cats don't like baths.") == ["cats", "don", "'", "t", "like", "baths", "."]
    ids = feat(["Cats don't"])[0]
    grams = ["cats", "don", "'", "t", "cats don", "don '", "' t"]
    assert ids == [reference_bucket(g, 97) for g in grams]


def _probs(texts, buckets, smoothing):
    counts = Counter()
    for t in texts:
        counts.update(reference_features(t, buckets))
    total = sum(counts.values())
    return [(counts[j] + smoothing) / (total + smoothing * buckets) for j in range(buckets)]


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_log_importance_weights_by_hand(smoothing):
    buckets, floor = 16, 1e-8
    sel = hs.get_selector("dsir", num_buckets=buckets, sampling="top", smoothing=smoothing)
    scores = sel.score(POOL, target=TARGET)
    p_target, p_raw = _probs(TARGET, buckets, smoothing), _probs(POOL, buckets, smoothing)
    np.testing.assert_allclose(sel.target_probs, p_target, rtol=1e-12)
    np.testing.assert_allclose(sel.raw_probs, p_raw, rtol=1e-12)
    diff = [math.log(p_target[j] + floor) - math.log(p_raw[j] + floor) for j in range(buckets)]
    expected = [sum(c * diff[j] for j, c in reference_features(t, buckets).items()) for t in POOL]
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    np.testing.assert_array_equal(sel.log_importance_weights, scores)


def test_default_is_the_reference_raw_frequencies_with_a_floor():
    c = DSIRSelector().config
    assert (c.smoothing, c.floor) == (0.0, 1e-8)
    # an n-gram the target never shows costs log(1e-8 / p_raw): large, as in the reference
    scores = hs.get_selector("dsir", sampling="top").score(["cat", "dog"], target=["cat"])
    assert scores[1] < -10 < 0 < scores[0]


def test_equals_the_reference_package_on_the_embedded_pool(tmp_path):
    """data-selection's HashedNgramDSIR (the reference code) on 3,000 rows of the embedded pool: Spearman >= 0.99."""
    reference = pytest.importorskip("data_selection")
    from scipy.stats import spearmanr

    from hf_select.data.builtin import load_builtin_pool, load_builtin_target
    from hf_select.data.formats import text_view

    pool_texts = text_view(load_builtin_pool(max_rows=3000), "full")
    target_texts = text_view(load_builtin_target("validation"), "full")
    for name, texts in (("raw", pool_texts), ("target", target_texts)):
        with open(tmp_path / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    ref = reference.HashedNgramDSIR([str(tmp_path / "raw.jsonl")], [str(tmp_path / "target.jsonl")],
                                    cache_dir=str(tmp_path / "cache"), num_proc=1, ngrams=2, num_buckets=10_000)
    ref.fit_importance_estimator(num_tokens_to_fit="all")
    ref.compute_importance_weights()
    ref_weights = np.load(tmp_path / "cache" / "log_importance_weights" / "0.npy")

    sel = hs.get_selector("dsir", show_progress=False)  # defaults
    sel.score(pool_texts, target=target_texts)
    ours = sel.log_importance_weights
    assert spearmanr(ours, ref_weights).statistic >= 0.99
    np.testing.assert_allclose(ours, ref_weights, rtol=1e-9, atol=1e-6)  # same features, same formula
    np.testing.assert_allclose(sel.raw_probs, ref.raw_probs, rtol=1e-12)


def test_batching_does_not_change_scores():
    texts = [t * (i % 3 + 1) for i, t in enumerate(POOL * 7)]
    whole = hs.get_selector("dsir", batch_size=10_000).score(texts, target=TARGET)
    small = hs.get_selector("dsir", batch_size=4, hash_cache_size=3).score(texts, target=TARGET)
    np.testing.assert_array_equal(whole, small)


def test_ngram_features_match_a_plain_loop_for_three_grams():
    from hf_select.selectors._text import hashed_ngram_coo, ngram_bucket

    docs = [["a", "b", "c", "d"], [], ["a"], ["b", "c", "b", "c"]]
    rows, buckets = hashed_ngram_coo(docs, 50, 3)
    got = sorted(zip(rows.tolist(), buckets.tolist()))
    want = sorted((i, ngram_bucket(" ".join(d[j:j + n]), 50)) for i, d in enumerate(docs) for n in (1, 2, 3)
                  for j in range(len(d) - n + 1))
    assert got == want


def test_smoothing_and_ngram_order_change_the_weights():
    base = hs.get_selector("dsir", sampling="top", smoothing=1.0).score(POOL, target=TARGET)
    smoother = hs.get_selector("dsir", sampling="top", smoothing=10.0).score(POOL, target=TARGET)
    unigram = hs.get_selector("dsir", sampling="top", ngrams=1).score(POOL, target=TARGET)
    assert not np.allclose(base, smoother) and not np.allclose(base, unigram)
    assert np.abs(smoother).max() < np.abs(base).max()  # more smoothing pulls both distributions to uniform


def test_target_like_rows_rank_first_on_a_clear_case():
    pool = ["the cat sat on the mat"] * 3 + ["stock prices fell sharply today"] * 30
    scores = hs.get_selector("dsir", sampling="top").score(pool, target=["a cat on a mat", "the cat sat"])
    assert scores[:3].min() > scores[3:].max()


def test_gumbel_sampling_is_seeded_and_equals_the_gumbel_strategy():
    logw = hs.get_selector("dsir", sampling="top").score(POOL, target=TARGET)
    a = hs.get_selector("dsir", seed=3, temperature=2.0).score(POOL, target=TARGET)
    b = hs.get_selector("dsir", seed=3, temperature=2.0).score(POOL, target=TARGET)
    c = hs.get_selector("dsir", seed=4, temperature=2.0).score(POOL, target=TARGET)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    noise = np.random.default_rng(3).gumbel(size=len(POOL))
    np.testing.assert_allclose(a, logw / 2.0 + noise)
    # top-k of the perturbed scores == the "gumbel" strategy on the plain log weights (same seed and temperature)
    np.testing.assert_array_equal(apply_strategy(a, 3, "top"),
                                  apply_strategy(logw, 3, "gumbel", seed=3, temperature=2.0))


def test_dataset_path_equals_list_path():
    rows = [{"prompt": p, "completion": " " + c} for p, c in zip(POOL, reversed(POOL))] * 20
    ds = datasets.Dataset.from_list(rows)
    sel = hs.get_selector("dsir", sampling="top", batch_size=7, show_progress=False)
    from_dataset = sel.score(ds, target=TARGET)
    from_list = sel.score([r["prompt"] + r["completion"] for r in rows], target=TARGET)
    np.testing.assert_array_equal(from_dataset, from_list)


def test_default_view_is_full_and_query_view_differs():
    rows = [{"prompt": "What is a cat?", "completion": " A small stock market animal."},
            {"prompt": "What are stocks?", "completion": " Shares of a cat company."}] * 5
    target = [{"prompt": "What is a cat?", "completion": " A pet."}]
    full = hs.get_selector("dsir", sampling="top").score(rows, target=target)
    query = hs.get_selector("dsir", sampling="top", text_view="query").score(rows, target=target)
    assert DSIRSelector.default_view == "full"
    assert not np.allclose(full, query)


def test_cost_stages():
    sel = hs.get_selector("dsir")
    sel.score(POOL, target=TARGET)
    names = [s.name for s in sel.last_cost.stages]
    assert names[:4] == ["prepare_target", "featurize_pool", "fit", "score"]
    assert sel.last_cost.flops == 0
    assert sel.last_cost.stages[1].tokens == sum(len(HashedNgramFeaturizer(num_buckets=10, ngrams=2)([t])[0])
                                                 for t in POOL)


def test_registry_maps_to_this_module():
    assert get_selector_class("dsir") is DSIRSelector
    assert BUILTIN_SELECTORS["dsir"] == "hf_select.selectors.dsir"


def test_empty_text_rows_score_zero_log_weight():
    scores = hs.get_selector("dsir", sampling="top").score(["", "cat", "dog"], target=["cat"])
    assert scores[0] == 0.0 and scores[1] > 0 > scores[2]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"num_buckets": 0}, ValueError),
        ({"ngrams": 0}, ValueError),
        ({"smoothing": -1.0}, ValueError),
        ({"smoothing": 0.0, "floor": 0.0}, ValueError),
        ({"temperature": -1.0}, ValueError),
        ({"sampling": "softmax"}, ValueError),
        ({"num_buckets": 10.5}, TypeError),
        ({"batch_size": 0}, ValueError),
    ],
)
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        hs.get_selector("dsir", **kwargs)


def test_needs_a_target():
    with pytest.raises(ValueError, match="target"):
        hs.get_selector("dsir").score(POOL)


@pytest.mark.parametrize("tokenizer", [None, r"[a-z]+", str.split])
def test_bulk_tokenisation_equals_text_by_text(tokenizer):
    from hf_select.selectors._text import hashed_ngram_coo

    texts = ["", "Hello, World!", "a\x00b c", "   ", "x", "ΟΔΟΣ Σ, don't", "a b a b"] * 3
    feat = HashedNgramFeaturizer(num_buckets=101, ngrams=2, tokenizer=tokenizer)
    rows, buckets = feat.coo(texts)
    ref_rows, ref_buckets = hashed_ngram_coo(list(map(feat.tokenize, texts)), 101, 2)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(buckets, ref_buckets)
    clean = [t for t in texts if "\x00" not in t]  # without the separator in a text, the bulk path runs
    rows, buckets = feat.coo(clean)
    ref_rows, ref_buckets = hashed_ngram_coo(list(map(feat.tokenize, clean)), 101, 2)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(buckets, ref_buckets)
