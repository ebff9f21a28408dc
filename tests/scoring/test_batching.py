import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.batching import TokenizedExamples, collate, plan_batches, tokenize_examples  # noqa: E402


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


def test_bucketed_limits_padding():
    lengths = np.array([300] + [20] * 10)
    batches = plan_batches(lengths, "bucketed", 10_000)
    assert [0] in batches  # the long example is not padded together with the short ones


def test_collate_packed_and_padded_gather_the_same_targets():
    ex = TokenizedExamples.from_ids([[5, 6, 7], [8, 9], [1, 2, 3, 4]])
    packed = collate(ex, [2, 0, 1], "packed")
    padded = collate(ex, [2, 0, 1], "bucketed", pad_token_id=0)
    assert packed.attention_mask is None and packed.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2, 0, 1]]
    assert padded.input_ids.shape == (3, 4) and padded.attention_mask.sum().item() == 9
    assert packed.labels.tolist() == padded.labels.tolist() == [2, 3, 4, 6, 7, 9]
    assert packed.segments.tolist() == padded.segments.tolist() == [2, 2, 2, 0, 0, 1]
    flat_packed = packed.input_ids.reshape(-1)[packed.gather_index + 1]
    flat_padded = padded.input_ids.reshape(-1)[padded.gather_index + 1]
    assert flat_packed.tolist() == flat_padded.tolist() == packed.labels.tolist()
    assert packed.padded_tokens == 9 and padded.padded_tokens == 12


def test_truncation_is_counted(byte_tokenizer):
    ex = tokenize_examples(["abcdefghij", "abc", ""], byte_tokenizer, max_length=4)
    assert ex.num_truncated == 1 and ex.truncated_rows == [0]
    assert ex.original_lengths.tolist() == [10, 3, 0]
    assert ex.lengths.tolist() == [4, 3, 0]
    assert ex.num_targets.tolist() == [3, 2, 0]  # an empty string has nothing to score
    with pytest.raises(ValueError, match="max_length"):
        tokenize_examples(["a"], byte_tokenizer, max_length=0)


def test_completion_only_mask(byte_tokenizer):
    ex = tokenize_examples([("Q: hi\n", "A: yo"), ("", "plain")], byte_tokenizer, completion_only=True)
    mask = ex.target_mask[0]
    assert mask.tolist() == [False] * 6 + [True] * 5
    assert ex.num_targets.tolist() == [5, 4]  # plain text: every token after the first
    full = tokenize_examples([("Q: hi\n", "A: yo")], byte_tokenizer)
    assert full.num_targets.tolist() == [10]


def test_completion_only_slow_tokenizer_fallback():
    class Slow:
        is_fast = False

        def __call__(self, texts, add_special_tokens=True, **kw):
            texts = [texts] if isinstance(texts, str) else texts
            return {"input_ids": [[1] + [ord(c) for c in t] for t in texts]}

    ex = tokenize_examples([("ab", "cd")], Slow(), completion_only=True)
    assert ex.target_mask[0].tolist() == [False, False, False, True, True]


def test_bad_items(byte_tokenizer):
    with pytest.raises(TypeError, match="Example 1"):
        tokenize_examples(["ok", 3], byte_tokenizer)
