import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.batching import collate, first_fit_decreasing, plan_batches  # noqa: E402
from hf_select.scoring.encoding import TokenizedExamples  # noqa: E402


@pytest.mark.parametrize("mode", ["bucketed", "packed", "single"])
def test_plan_covers_every_row_once_within_budget(mode):
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 90, size=57)
    batches = plan_batches(lengths, mode, max_tokens=200)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(57))
    for b in batches:
        if mode == "bucketed":
            assert len(b) * max(lengths[b]) <= 200
        elif mode == "packed":
            assert sum(lengths[b]) <= 200
        else:
            assert len(b) == 1


def test_plan_rows_subset_and_oversized_example():
    lengths = np.array([500, 3, 4, 5])
    assert plan_batches(lengths, "packed", 10, rows=[0, 2]) == [[0], [2]]
    with pytest.raises(ValueError, match="mode"):
        plan_batches(lengths, "magic", 10)
    with pytest.raises(ValueError, match="max_tokens"):
        plan_batches(lengths, "packed", 0)
    with pytest.raises(ValueError, match="max_tokens"):
        plan_batches(lengths, "packed", None)
    with pytest.raises(ValueError, match="max_rows"):
        plan_batches(lengths, "bucketed", 10, max_rows=0)


def test_first_fit_decreasing():
    lengths = np.array([5, 9, 2, 9, 3, 30])
    order = sorted(range(6), key=lambda i: (-lengths[i], i))
    bins = first_fit_decreasing(lengths, order, 12)
    assert sorted(i for b in bins for i in b) == list(range(6))
    assert bins[0] == [5]  # longer than max_tokens: alone
    assert all(sum(lengths[i] for i in b) <= 12 for b in bins[1:])
    assert len(bins) == 4


def test_bucketed_limits_padding_and_rows():
    lengths = np.array([300] + [20] * 10)
    batches = plan_batches(lengths, "bucketed", 10_000)
    assert [0] in batches  # the long example is not padded together with the short ones
    by_rows = plan_batches([5, 9, 2, 9, 3], "bucketed", None, max_rows=2, max_padding=None)
    assert by_rows == [[1, 3], [0, 4], [2]]
    unsorted = plan_batches([5, 9, 2], "bucketed", None, max_rows=2, max_padding=None, sort=False)
    assert unsorted == [[0, 1], [2]]


def test_collate_packed_and_padded_gather_the_same_targets():
    ex = TokenizedExamples.from_ids([[5, 6, 7], [8, 9], [1, 2, 3, 4]])
    packed = collate(ex, [2, 0, 1], "packed")
    padded = collate(ex, [2, 0, 1], "bucketed", pad_token_id=0)
    assert packed.attention_mask is None and packed.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2, 0, 1]]
    assert packed.packed and not padded.packed
    assert padded.input_ids.shape == (3, 4) and padded.attention_mask.sum().item() == 9
    assert packed.labels.tolist() == padded.labels.tolist() == [2, 3, 4, 6, 7, 9]
    assert packed.segments.tolist() == padded.segments.tolist() == [0, 0, 0, 1, 1, 2]  # index into batch.rows
    assert packed.rows == [2, 0, 1]
    flat_packed = packed.input_ids.reshape(-1)[packed.gather_index + 1]
    flat_padded = padded.input_ids.reshape(-1)[padded.gather_index + 1]
    assert flat_packed.tolist() == flat_padded.tolist() == packed.labels.tolist()
    assert packed.padded_tokens == 9 and padded.padded_tokens == 12
    dense = padded.dense_labels()
    assert dense.shape == (3, 4) and dense[0].tolist() == [2, 3, 4, -100] and dense[2].tolist() == [9, -100, -100, -100]


def test_collate_masks():
    ex = TokenizedExamples.from_ids([[5, 6, 7], [8, 9, 1]])
    assert collate(ex, [0, 1], "bucketed").attention_mask is None  # no padding: SDPA's causal fast path
    assert collate(ex, [0, 1], "padded", always_mask=True).attention_mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert set(collate(ex, [0], "single").model_inputs()) == {"input_ids", "position_ids", "use_cache"}
