"""BM25: exactly rank_bm25.BM25Okapi's scores (sparse implementation), aggregation, preprocessing, errors."""

import math
import string

import numpy as np
import pytest

import hf_select as hs
from hf_select.data.formats import text_view
from hf_select.import_utils import is_package_available
from hf_select.selectors.base import BUILTIN_SELECTORS, get_selector_class
from hf_select.selectors.bm25 import BM25Index, BM25Selector

rank_bm25 = pytest.importorskip("rank_bm25")

PAPER_TABLE = str.maketrans("", "", string.punctuation)


def paper_tokenize(text):
    return text.lower().translate(PAPER_TABLE).split()


def max_rel_diff(ours, ref):
    ours, ref = np.asarray(ours), np.asarray(ref)
    denom = np.maximum(np.abs(ref), 1e-12)
    return float(np.max(np.abs(ours - ref) / denom))


@pytest.fixture(scope="module")
def pool_and_target():
    from hf_select.data.builtin import load_builtin_pool, load_builtin_target

    pool = load_builtin_pool(max_rows=3000)
    target = load_builtin_target("validation")
    return pool, target


@pytest.mark.parametrize("aggregate, target_view", [("mean", "full"), ("max", "full"), ("mean", "query")])
def test_equals_rank_bm25_on_embedded_pool(pool_and_target, aggregate, target_view):
    pool, target = pool_and_target
    docs = [paper_tokenize(t) for t in text_view(pool, "query")]
    queries = [paper_tokenize(t) for t in text_view(target, target_view)]
    ref_model = rank_bm25.BM25Okapi(docs)
    per_query = np.stack([ref_model.get_scores(q) for q in queries])
    ref = per_query.mean(axis=0) if aggregate == "mean" else per_query.max(axis=0)

    kwargs = {} if target_view == "full" else {"target_view": target_view}  # 'full' is the default (the paper's)
    sel = hs.get_selector("bm25", aggregate=aggregate, query_block_size=7, **kwargs)  # several query blocks for max
    ours = sel.score(pool, target=target)
    assert ours.shape == (pool.num_rows,)
    assert (ref > 0).sum() > 100  # the comparison is not vacuous
    assert max_rel_diff(ours, ref) < 1e-6
    # The fitted statistics match rank_bm25's internals too.
    assert math.isclose(sel.avgdl, ref_model.avgdl, rel_tol=1e-12)
    assert math.isclose(sel.average_idf, ref_model.average_idf, rel_tol=1e-9)


def test_default_query_text_holds_the_target_answers(pool_and_target):
    """The paper's BM25 queries include the target answers (issue 11); target_view='query' drops them."""
    pool, target = pool_and_target
    small = pool.select(range(500))
    assert BM25Selector().config.target_view == "full"
    default = hs.get_selector("bm25").score(small, target=target)
    full = hs.get_selector("bm25", target_view="full").score(small, target=target)
    question_only = hs.get_selector("bm25", target_view="query").score(small, target=target)
    np.testing.assert_array_equal(default, full)
    assert not np.allclose(default, question_only)
    # only the answers differ: a target whose completion is empty gives the same query either way
    rows = [{"prompt": "numpy array sum", "completion": ""}]
    np.testing.assert_array_equal(hs.get_selector("bm25").score(small, target=rows),
                                  hs.get_selector("bm25", target_view="query").score(small, target=rows))


def test_sharding_does_not_change_scores(pool_and_target):
    pool, target = pool_and_target
    from hf_select.streaming.engine import score_in_memory

    texts = text_view(pool.select(range(700)), "query")
    for aggregate in ("mean", "max"):
        whole = hs.get_selector("bm25", aggregate=aggregate).score(texts, target=target)
        sel = hs.get_selector("bm25", aggregate=aggregate)
        sel.config.batch_size = 33  # the in-memory runner's batches stand for stream shards
        np.testing.assert_array_equal(score_in_memory(sel, texts, target), whole)


def test_negative_idf_floor_matches_rank_bm25_and_formula():
    # "the" is in 3 of 4 documents: idf < 0, floored to epsilon * mean idf.
    docs = [["the", "cat"], ["the", "dog", "the"], ["the", "bird"], ["fish"]]
    index = BM25Index(docs)
    ref = rank_bm25.BM25Okapi(docs)
    for query in (["the"], ["cat", "the"], ["fish", "fish"], ["unknown"], ["the", "dog", "dog"]):
        assert max_rel_diff(index.get_scores(query), ref.get_scores(query)) < 1e-12
    n = 4
    raw = {w: math.log(n - df + 0.5) - math.log(df + 0.5) for w, df in
           {"the": 3, "cat": 1, "dog": 1, "bird": 1, "fish": 1}.items()}
    mean_idf = sum(raw.values()) / len(raw)
    assert raw["the"] < 0
    idf_the = 0.25 * mean_idf
    avgdl = 8 / 4
    # doc 1: tf("the") = 2, |d| = 3
    expected = idf_the * 2 * 2.5 / (2 + 1.5 * (1 - 0.75 + 0.75 * 3 / avgdl))
    assert math.isclose(index.get_scores(["the"])[1], expected, rel_tol=1e-12)


def test_repeated_query_terms_count_each_time_and_unknown_terms_count_zero():
    index = BM25Index([["a", "b"], ["b", "c"], ["d"]])
    once, twice = index.get_scores(["a"]), index.get_scores(["a", "a", "zzz"])
    np.testing.assert_allclose(twice, 2 * once)
    assert once[0] > 0 and once[1] == 0


def test_mean_is_average_of_single_query_scores_and_max_is_max():
    pool = ["the cat sat on the mat", "dogs bark at night", "a cat and a dog", "stock prices fell"]
    target = ["cat mat", "dog night", "prices"]
    singles = np.stack([hs.get_selector("bm25").score(pool, target=[t]) for t in target])
    np.testing.assert_allclose(hs.get_selector("bm25").score(pool, target=target), singles.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(hs.get_selector("bm25", aggregate="max").score(pool, target=target),
                               singles.max(axis=0), rtol=1e-12)


def test_preprocessing_options():
    pool = ["Use numpy.linalg.norm here", "NUMPY arrays", "pandas frames"]
    default = hs.get_selector("bm25").score(pool, target=["numpy"])
    assert default[0] == 0 and default[1] > 0  # "numpylinalgnorm" is one token when punctuation is deleted
    spaced = hs.get_selector("bm25", punctuation="space").score(pool, target=["numpy"])
    assert spaced[0] > 0 and spaced[1] > 0
    cased = hs.get_selector("bm25", lowercase=False).score(pool, target=["numpy"])
    assert cased[1] == 0
    regex = hs.get_selector("bm25", punctuation="keep", tokenizer=r"[a-z]+").score(pool, target=["linalg"])
    assert regex[0] > 0 and regex[1] == 0
    called = hs.get_selector("bm25", tokenizer=lambda t: t.split("a")).score(pool, target=["p"])
    assert called.shape == (3,)


def test_dataset_and_list_inputs_agree_and_cost_is_recorded(pool_and_target):
    pool, target = pool_and_target
    small = pool.select(range(200))
    sel = hs.get_selector("bm25")
    from_dataset = sel.score(small, target=target)
    from_list = sel.score(text_view(small, "query"), target=text_view(target, "full"))
    np.testing.assert_array_equal(from_dataset, from_list)
    cost = sel.last_cost
    assert [s.name for s in cost.stages][:4] == ["prepare_target", "featurize_pool", "fit", "score"]
    assert cost.flops == 0 and cost.tokens > 0 and cost.seconds > 0
    assert cost.stages[2].detail["vocab_size"] > 0


def test_full_view_scores_differ_from_query_view(pool_and_target):
    pool, target = pool_and_target
    small = pool.select(range(300))
    q = hs.get_selector("bm25").score(small, target=target)
    f = hs.get_selector("bm25", text_view="full").score(small, target=target)
    assert not np.allclose(q, f)


def test_registry_maps_to_this_module():
    assert get_selector_class("bm25") is BM25Selector
    assert BUILTIN_SELECTORS["bm25"] == "hf_select.selectors.bm25"
    assert hs.get_selector("bm25").default_view == "query"


def test_select_top_k_uses_bm25():
    res = hs.select(["the cat sat", "dogs bark", "a cat and a dog"], "bm25", target=["cat"], k=2)
    assert sorted(res.indices.tolist()) == [0, 2]


def test_all_empty_documents_score_zero():
    scores = hs.get_selector("bm25").score(["...", "!!"], target=["cat"])
    np.testing.assert_array_equal(scores, [0.0, 0.0])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"aggregate": "median"}, ValueError),
        ({"k1": -1.0}, ValueError),
        ({"b": 1.5}, ValueError),
        ({"query_block_size": 0}, ValueError),
        ({"punctuation": "strip"}, ValueError),
        ({"tokenizer": 3}, TypeError),
        ({"tokenizer": "("}, ValueError),
        ({"k_one": 1.0}, TypeError),
    ],
)
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        hs.get_selector("bm25", **kwargs)


def test_needs_a_target():
    with pytest.raises(ValueError, match="target"):
        hs.get_selector("bm25").score(["a b"])
    with pytest.raises(ValueError, match="empty"):
        hs.get_selector("bm25").score(["a b"], target=[])


def test_tokenizer_returning_non_strings_is_rejected():
    with pytest.raises(TypeError, match="list of strings"):
        hs.get_selector("bm25", tokenizer=lambda t: [1, 2]).score(["a b"], target=["a"])


@pytest.mark.skipif(not is_package_available("scipy"), reason="scipy missing")
def test_index_is_sparse():
    index = BM25Index([["a"] * 3, ["b"]])
    assert index.weights.nnz == 2


@pytest.mark.parametrize("punctuation", ["delete", "space", "keep"])
def test_bulk_whitespace_path_equals_text_by_text_tokenisation(pool_and_target, punctuation):
    from hf_select.selectors._text import simple_tokenizer, tokenize_all

    pool, target = pool_and_target
    texts = text_view(pool.select(range(500)), "full") + ["", "...", "  ", "ΟΔΟΣ Σ word"]
    queries = tokenize_all(text_view(target, "query") + ["οδος σ"], simple_tokenizer(punctuation=punctuation))
    bulk = BM25Index.from_texts(texts, punctuation=punctuation)
    slow = BM25Index(tokenize_all(texts, simple_tokenizer(punctuation=punctuation)))
    np.testing.assert_array_equal(bulk.doc_len, slow.doc_len)
    assert bulk.vocab == slow.vocab
    for aggregate in ("mean", "max"):
        np.testing.assert_array_equal(bulk.score_queries(queries, aggregate), slow.score_queries(queries, aggregate))
    # a text holding the bulk path's NUL separator falls back to text-by-text tokenisation
    odd = BM25Index.from_texts(["a \x00 b", "b c"])
    np.testing.assert_array_equal(odd.doc_len, [3, 2])
