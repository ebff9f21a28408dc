import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.encoded import (  # noqa: E402
    IGNORE_INDEX,
    EncodedExample,
    collate,
    collate_packed,
    length_batches,
    pack_batches,
)


def test_encoded_example_checks_lengths_and_counts_loss_tokens():
    assert EncodedExample([1, 2, 3, 4], [IGNORE_INDEX, IGNORE_INDEX, 3, 4]).n_loss_tokens == 2
    with pytest.raises(ValueError, match="differ in length"):
        EncodedExample([1, 2], [1])


def test_collate_right_pads():
    batch = collate([EncodedExample([1, 2, 3], [-100, 2, 3]), EncodedExample([4], [-100])], pad_token_id=9)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [-100, -100, -100]]


def test_collate_packed_restarts_positions_and_masks_each_first_label():
    batch = collate_packed([EncodedExample([1, 2, 3], [1, 2, 3]), EncodedExample([4, 5], [4, 5])])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["segments"].tolist() == [[0, 0, 0, 1, 1]]
    assert batch["labels"].tolist() == [[-100, 2, 3, -100, 5]]  # no example predicts its neighbour's first token
    assert batch["n_examples"] == 2


def test_pack_batches():
    lengths = [5, 9, 2, 9, 3, 30]
    bins = pack_batches(lengths, max_tokens=12)
    assert sorted(i for b in bins for i in b) == list(range(6))
    assert bins[0] == [5]  # longer than max_tokens: alone
    assert all(sum(lengths[i] for i in b) <= 12 for b in bins[1:])
    assert len(bins) == 4
    with pytest.raises(ValueError, match="max_tokens"):
        pack_batches(lengths, max_tokens=0)


def test_length_batches():
    batches = length_batches([5, 9, 2, 9, 3], batch_size=2, max_tokens=18)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert all(len(b) <= 2 for b in batches)
    assert batches[0] == [1, 3]
    with pytest.raises(ValueError, match="batch_size"):
        length_batches([1], batch_size=0)
