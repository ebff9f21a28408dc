import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.nll import (  # noqa: E402
    chunked_token_nll,
    reference_token_nll,
    segment_mean,
    segment_sums,
    token_nll,
)


@pytest.mark.parametrize("tokens,hidden,vocab,chunk", [(1, 8, 5, 1), (7, 16, 50, 3), (33, 24, 129, 8),
                                                       (40, 12, 97, None), (5, 8, 31, 100)])
def test_chunked_equals_reference_fp32(tokens, hidden, vocab, chunk):
    g = torch.Generator().manual_seed(tokens)
    h, w = torch.randn(tokens, hidden, generator=g), torch.randn(vocab, hidden, generator=g)
    y = torch.randint(0, vocab, (tokens,), generator=g)
    y[::4] = -100
    got = chunked_token_nll(h, w, y, chunk)
    ref = reference_token_nll(h, w, y)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    assert (got[::4] == 0).all()


def test_bf16_inputs_fp32_accumulation():
    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(64, 32, generator=g), torch.randn(300, 32, generator=g) * 0.2
    y = torch.randint(0, 300, (64,), generator=g)
    got = chunked_token_nll(h.bfloat16(), w.bfloat16(), y, 16)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, reference_token_nll(h, w, y), atol=0.05, rtol=0.02)


def test_batched_shape_and_bias():
    g = torch.Generator().manual_seed(1)
    h, w, b = torch.randn(2, 5, 8, generator=g), torch.randn(11, 8, generator=g), torch.randn(11, generator=g)
    y = torch.randint(0, 11, (2, 5), generator=g)
    got = chunked_token_nll(h, w, y, 3, bias=b)
    assert got.shape == (2, 5)
    torch.testing.assert_close(got, reference_token_nll(h, w, y, bias=b), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(token_nll(h, w, y, backend="full", bias=b), got, atol=1e-5, rtol=1e-5)


def test_bad_shapes_and_backend():
    h, w = torch.randn(4, 8), torch.randn(10, 8)
    with pytest.raises(ValueError, match="labels"):
        chunked_token_nll(h, w, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="weight"):
        chunked_token_nll(h, torch.randn(10, 7), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_token_nll(h, w, torch.zeros(4, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="backend"):
        token_nll(h, w, torch.zeros(4, dtype=torch.long), backend="magic")


def test_segment_reductions():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    seg = torch.tensor([2, 0, 2, -1, 0])
    sums, counts = segment_sums(values, seg, 4)
    assert sums.tolist() == [7.0, 0.0, 4.0, 0.0] and counts.tolist() == [2, 0, 2, 0]
    mean = segment_mean(values, seg, 4)
    assert mean[0].item() == 3.5 and torch.isnan(mean[1]) and mean[2].item() == 2.0
