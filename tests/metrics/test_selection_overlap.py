"""The local selection_overlap evaluate module."""

import os

import numpy as np
import pytest

evaluate = pytest.importorskip("evaluate")

import hf_select  # noqa: E402

METRIC_DIR = os.path.join(os.path.dirname(hf_select.__file__), "metrics", "selection_overlap")


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(METRIC_DIR)


def test_known_overlap(metric):
    out = metric.compute(predictions=[[0, 1, 2, 3]], references=[[2, 3, 4, 5, 6, 7]], pool_size=10)
    assert out["intersection"] == 2
    assert out["jaccard"] == pytest.approx(2 / 8)
    assert out["overlap"] == pytest.approx(2 / 4)
    assert out["percent_of_reference"] == pytest.approx(100 * 2 / 6)
    expected = 4 * 6 / 10
    assert out["expected_jaccard_random"] == pytest.approx(expected / (10 - expected))


def test_identical_disjoint_and_mean_over_pairs(metric):
    out = metric.compute(predictions=[[1, 2], [1, 2]], references=[[2, 1], [3, 4]])
    assert [p["jaccard"] for p in out["per_pair"]] == [1.0, 0.0]
    assert out["jaccard"] == pytest.approx(0.5)


def test_selection_results(metric):
    from hf_select.selection import select

    pool = [f"row {i} {'cat' if i % 3 == 0 else 'dog'}" for i in range(30)]
    a = select(pool, "bm25", target=["cat"], k=10)
    b = select(pool, "random", k=10, seed=1)
    out = metric.compute(predictions=[a.indices], references=[b.indices], pool_size=len(pool))
    inter = len(set(a.indices.tolist()) & set(b.indices.tolist()))
    assert out["intersection"] == inter
    assert out["jaccard"] == pytest.approx(inter / len(set(a.indices.tolist()) | set(b.indices.tolist())))
    assert isinstance(a.indices, np.ndarray)


def test_out_of_pool_index(metric):
    with pytest.raises(ValueError, match="outside a pool"):
        metric.compute(predictions=[[0, 12]], references=[[1]], pool_size=10)


def test_flat_lists_are_one_pair(metric):
    nested = metric.compute(predictions=[[0, 1, 2, 3]], references=[[2, 3, 4, 5, 6, 7]], pool_size=10)
    flat = metric.compute(predictions=[0, 1, 2, 3], references=[2, 3, 4, 5, 6, 7], pool_size=10)
    assert flat == nested
    arrays = metric.compute(predictions=np.array([0, 1, 2, 3]), references=np.array([2, 3, 4, 5, 6, 7]))
    assert arrays["jaccard"] == pytest.approx(2 / 8)


@pytest.mark.parametrize("predictions, references, message", [
    ([0, 1], [[0, 1]], "predictions is flat and references is nested"),
    ([[0, 1], [2]], [[0, 1]], "2 prediction selection"),
    (["a", "b"], [0, 1], "predictions must be one selection"),
    ([0, [1, 2]], [0, 1], "predictions must be one selection"),
])
def test_unclear_inputs_get_a_clear_error(metric, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=predictions, references=references)
