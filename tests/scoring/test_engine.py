"""Scores of the engine equal a straightforward reference: HF forward, full fp32 logits, one example at a time."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.encoding import TokenizedExamples, encode  # noqa: E402
from hf_select.scoring.engine import NLLConfig, score_nll  # noqa: E402


def reference_mean_nll(model, ids_list):
    out = []
    with torch.no_grad():
        for ids in ids_list:
            if len(ids) < 2:
                out.append(np.nan)
                continue
            t = torch.tensor([list(ids)])
            out.append(model(t, labels=t).loss.item())
    return np.array(out)


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, 128, size=int(n)).tolist() for n in rng.integers(1, 70, size=23)]
    return ids, TokenizedExamples.from_ids(ids)


@pytest.mark.parametrize("mode", ["single", "bucketed", "packed"])
def test_modes_equal_reference_fp32(tiny_model, examples, mode):
    ids, ex = examples
    res = score_nll(tiny_model, ex, NLLConfig(dtype="float32", batching=mode, max_tokens_per_batch=150,
                                              lm_head_chunk=13, show_progress=False))
    ref = reference_mean_nll(tiny_model, ids)
    np.testing.assert_array_equal(np.isnan(res.mean_nll), np.isnan(ref))
    np.testing.assert_allclose(res.mean_nll, ref, atol=1e-4, rtol=0, equal_nan=True)
    assert res.forward_tokens == sum(len(x) for x in ids if len(x) >= 2)
    if mode == "packed":
        assert res.padded_tokens == res.forward_tokens


def test_full_backend_and_bf16(tiny_model, examples):
    ids, ex = examples
    ref = reference_mean_nll(tiny_model, ids)
    full = score_nll(tiny_model, ex, NLLConfig(dtype="float32", nll_backend="full", show_progress=False))
    np.testing.assert_allclose(full.mean_nll, ref, atol=1e-4, equal_nan=True)
    bf16 = score_nll(tiny_model, ex, NLLConfig(dtype="bfloat16", batching="packed", show_progress=False))
    np.testing.assert_allclose(bf16.mean_nll, ref, atol=2e-2, equal_nan=True)
    assert next(tiny_model.parameters()).dtype == torch.float32  # autocast, the model is not cast


def test_rows_subset_and_progress(tiny_model, examples):
    _, ex = examples
    res = score_nll(tiny_model, ex, NLLConfig(dtype="float32", show_progress=True), rows=[3, 4])
    assert set(np.flatnonzero(res.num_targets)) <= {3, 4}


def test_completion_only_equals_masked_reference(tiny_model, byte_tokenizer):
    pairs = [("Question: what?\n", "Answer: that."), ("P", "long completion text here")]
    ex = encode(pairs, byte_tokenizer, completion_only=True)
    res = score_nll(tiny_model, ex, NLLConfig(dtype="float32", batching="packed", show_progress=False))
    ref = []
    with torch.no_grad():
        for p, c in pairs:
            ids = torch.tensor([byte_tokenizer(p + c)["input_ids"]])
            labels = ids.clone()
            labels[0, :len(byte_tokenizer(p)["input_ids"])] = -100
            ref.append(tiny_model(ids, labels=labels).loss.item())
    np.testing.assert_allclose(res.mean_nll, ref, atol=1e-4)


def test_bad_budget(tiny_model, examples):
    with pytest.raises(ValueError, match="max_tokens_per_batch"):
        score_nll(tiny_model, examples[1], NLLConfig(max_tokens_per_batch=0))
