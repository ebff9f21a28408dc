"""Fused linear + cross-entropy kernel (Triton interpreter on CPU) == plain torch reference, over odd shapes and dtypes."""

import os
import subprocess
import sys
import textwrap

import pytest

from hf_select.import_utils import is_triton_interpret
from hf_select.testing import require_triton

torch = pytest.importorskip("torch")
pytestmark = require_triton

TOLERANCES = {torch.float32: 1e-4, torch.bfloat16: 2e-3, torch.float16: 2e-3}


def _reference(hidden, weight, labels):
    logits = hidden.float() @ weight.float().T
    return torch.nn.functional.cross_entropy(logits, labels, reduction="none", ignore_index=-100)


@pytest.fixture(scope="module")
def kernel_module():
    from hf_select.scoring.triton_nll import load_kernels

    module = load_kernels()
    if not is_triton_interpret() or "Interpreted" not in type(module.fused_linear_ce._fused_linear_ce_nll_kernel).__name__:
        pytest.skip("triton kernels were loaded before TRITON_INTERPRET=1 was set (covered by the subprocess test)")
    return module


def _inputs(n_tokens, hidden_size, vocab, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n_tokens, hidden_size, generator=g).to(dtype)
    weight = (torch.randn(vocab, hidden_size, generator=g) * 0.5).to(dtype)
    labels = torch.randint(0, vocab, (n_tokens,), generator=g)
    labels[::3] = -100  # some ignored positions
    return hidden, weight, labels


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n_tokens,hidden_size,vocab", [(1, 16, 50), (7, 24, 130), (33, 16, 130), (7, 24, 50)])
def test_kernel_matches_torch_reference(kernel_module, n_tokens, hidden_size, vocab, dtype):
    hidden, weight, labels = _inputs(n_tokens, hidden_size, vocab, dtype)
    got = kernel_module.fused_linear_cross_entropy_nll(hidden, weight, labels)
    want = _reference(hidden, weight, labels)
    assert got.dtype == torch.float32 and got.shape == (n_tokens,)
    assert torch.allclose(got, want, atol=TOLERANCES[dtype], rtol=TOLERANCES[dtype]), (got - want).abs().max()
    assert (got[labels == -100] == 0).all()
    assert (got[labels != -100] > 0).all()


def test_large_logits_are_stable(kernel_module):
    hidden, weight, labels = _inputs(7, 16, 130, torch.float32, seed=1)
    hidden = hidden * 40.0  # logits in the hundreds: a naive exp would overflow
    got = kernel_module.fused_linear_cross_entropy_nll(hidden, weight, labels)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, _reference(hidden, weight, labels), rtol=1e-4, atol=1e-3)


def test_non_contiguous_and_leading_dims(kernel_module):
    from hf_select.scoring.triton_nll import triton_token_nll

    hidden, weight, labels = _inputs(12, 24, 50, torch.float32, seed=2)
    batched = hidden.reshape(3, 4, 24)
    got = triton_token_nll(batched, weight, labels.reshape(3, 4))
    assert got.shape == (3, 4)
    assert torch.allclose(got.reshape(-1), _reference(hidden, weight, labels), atol=1e-4)
    strided = torch.randn(24, 7).T  # [7, 24] non-contiguous
    lab = torch.arange(7)
    assert torch.allclose(kernel_module.fused_linear_cross_entropy_nll(strided, weight, lab),
                          _reference(strided, weight, lab), atol=1e-4)


def test_fake_tensor_shape(kernel_module):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        out = kernel_module.fused_linear_ce_nll_op(torch.empty(5, 16), torch.empty(50, 16),
                                                   torch.zeros(5, dtype=torch.long), -100, 16, 32, 16)
    assert out.shape == (5,) and out.dtype == torch.float32


def test_bad_inputs(kernel_module):
    f = kernel_module.fused_linear_cross_entropy_nll
    with pytest.raises(ValueError, match="shape mismatch"):
        f(torch.randn(3, 16), torch.randn(50, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype"):
        f(torch.randn(3, 16), torch.randn(50, 16, dtype=torch.bfloat16), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie"):
        f(torch.randn(3, 16), torch.randn(50, 16), torch.tensor([0, 50, 1]))
    with pytest.raises(ValueError, match="power of two"):
        f(torch.randn(3, 16), torch.randn(50, 16), torch.zeros(3, dtype=torch.long), block_sizes=(8, 32, 16))


def test_fresh_process_loads_through_kernels_library(tmp_path):
    """A new interpreter (TRITON_INTERPRET set first) loads the package with both loaders and matches torch."""
    script = textwrap.dedent(
        """
        import os
        os.environ["TRITON_INTERPRET"] = "1"
        import torch
        from hf_select.scoring.triton_nll import load_kernels
        g = torch.Generator().manual_seed(0)
        h, w = torch.randn(9, 24, generator=g), torch.randn(70, 24, generator=g)
        y = torch.randint(0, 70, (9,), generator=g); y[4] = -100
        ref = torch.nn.functional.cross_entropy(h @ w.T, y, reduction="none")
        for lib in (True, False):
            got = load_kernels(use_kernels_library=lib).fused_linear_cross_entropy_nll(h, w, y)
            print(lib, float((got - ref).abs().max()))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["True", "False"]
    assert all(float(line.split()[1]) < 1e-4 for line in lines)
