"""Fused "linear + cross-entropy per token" forward: per-token NLL without materialising the ``[T, V]`` logits.

For hidden states ``h`` (``[T, H]``), an lm-head weight ``W`` (``[V, H]``) and next-token labels ``y`` (``[T]``)::

    z_t      = h_t W^T                                   (never stored: computed block by block of the vocabulary)
    lse_t    = log sum_v exp(z_tv)                       (online log-sum-exp, fp32 running max m_t and sum s_t:
                                                          m' = max(m, max_v z_tv);  s' = s e^(m - m') + sum_v e^(z_tv - m'))
    nll_t    = lse_t - z_{t, y_t}                        (0 where y_t == ignore_index)

Each program owns ``BLOCK_T`` tokens and sweeps the vocabulary in ``BLOCK_V`` columns; each logit tile is a
``BLOCK_T x BLOCK_V`` fp32 accumulator filled by ``tl.dot`` over ``BLOCK_H`` slices of the hidden size, so memory is
``O(T)`` instead of ``O(T V)``. Inputs may be fp32, fp16 or bf16; products accumulate in fp32.

Sources: online softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"); the fused linear +
cross-entropy idea of Liger-Kernel (``ops/fused_linear_cross_entropy.py``) and Cut Cross-Entropy (Wijmans et al. 2024,
"Cut Your Losses in Large-Vocabulary Language Models"), which computes the log-sum-exp blockwise without logits.
Structure (kernel -> launcher -> ``torch.library.custom_op`` + ``register_fake``) follows Liger and the HF ``kernels``
Triton examples.

Example (needs a CUDA GPU, or ``TRITON_INTERPRET=1`` set before triton is imported to run on CPU)::

    >>> import torch
    >>> h, w = torch.randn(7, 16), torch.randn(50, 16)
    >>> y = torch.tensor([1, 4, -100, 0, 49, 3, 2])
    >>> nll = fused_linear_cross_entropy_nll(h, w, y)          # doctest: +SKIP
    >>> ref = torch.nn.functional.cross_entropy(h @ w.T, y, reduction="none")
    >>> torch.allclose(nll, ref, atol=1e-4)                      # doctest: +SKIP
    True
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from ._ops import add_op_namespace_prefix, ops

OP_NAME = "fused_linear_ce_nll"
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _fused_linear_ce_nll_kernel(
    h_ptr,
    w_ptr,
    labels_ptr,
    out_ptr,
    T,
    H,
    V,
    stride_ht,
    stride_hh,
    stride_wv,
    stride_wh,
    ignore_index,
    BLOCK_T: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_H: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST_TILES: tl.constexpr,
):
    pid = tl.program_id(0)
    offs_t = pid * BLOCK_T + tl.arange(0, BLOCK_T)
    mask_t = offs_t < T
    labels = tl.load(labels_ptr + offs_t, mask=mask_t, other=ignore_index)
    run_max = tl.full((BLOCK_T,), float("-inf"), tl.float32)
    run_sum = tl.zeros((BLOCK_T,), tl.float32)
    target = tl.zeros((BLOCK_T,), tl.float32)
    offs_h0 = tl.arange(0, BLOCK_H)
    for v0 in range(0, V, BLOCK_V):
        offs_v = v0 + tl.arange(0, BLOCK_V)
        mask_v = offs_v < V
        logits = tl.zeros((BLOCK_T, BLOCK_V), tl.float32)
        for h0 in range(0, H, BLOCK_H):
            offs_h = h0 + offs_h0
            mask_h = offs_h < H
            h_tile = tl.load(
                h_ptr + offs_t[:, None] * stride_ht + offs_h[None, :] * stride_hh,
                mask=mask_t[:, None] & mask_h[None, :],
                other=0.0,
            )
            w_tile = tl.load(
                w_ptr + offs_v[:, None] * stride_wv + offs_h[None, :] * stride_wh,
                mask=mask_v[:, None] & mask_h[None, :],
                other=0.0,
            )
            if UPCAST_TILES:  # same products (bf16 x bf16 is exact in fp32); the interpreter mis-handles bf16 tl.dot
                h_tile = h_tile.to(tl.float32)
                w_tile = w_tile.to(tl.float32)
            logits = tl.dot(h_tile, tl.trans(w_tile), logits, input_precision=INPUT_PRECISION)
        logits = tl.where(mask_v[None, :], logits, float("-inf"))
        new_max = tl.maximum(run_max, tl.max(logits, 1))
        run_sum = run_sum * tl.exp(run_max - new_max) + tl.sum(tl.exp(logits - new_max[:, None]), 1)
        run_max = new_max
        hit = offs_v[None, :] == labels[:, None]
        target += tl.sum(tl.where(hit, logits, 0.0), 1)
    nll = run_max + tl.log(run_sum) - target
    nll = tl.where(labels == ignore_index, 0.0, nll)
    tl.store(out_ptr + offs_t, nll, mask=mask_t)


def default_block_sizes(hidden: torch.Tensor) -> tuple[int, int, int]:
    """``(BLOCK_T, BLOCK_V, BLOCK_H)``: small tiles in the CPU interpreter, larger ones on a GPU."""
    if hidden.device.type == "cpu":
        return 16, 32, 16
    return 64, 128, 64


def launch_fused_linear_ce_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    out: torch.Tensor,
    ignore_index: int,
    block_t: int,
    block_v: int,
    block_h: int,
) -> None:
    """Launch the kernel on already-validated tensors (``out`` is a contiguous fp32 ``[T]``)."""
    n_tokens, hidden_size = hidden.shape
    vocab = weight.shape[0]
    interpret = os.environ.get("TRITON_INTERPRET", "0") == "1"
    precision = "ieee" if hidden.dtype == torch.float32 or interpret else "tf32"
    grid = (triton.cdiv(n_tokens, block_t),)
    _fused_linear_ce_nll_kernel[grid](
        hidden, weight, labels, out,
        n_tokens, hidden_size, vocab,
        hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
        ignore_index,
        BLOCK_T=block_t, BLOCK_V=block_v, BLOCK_H=block_h, INPUT_PRECISION=precision,
        UPCAST_TILES=interpret,
    )


def _define_op():
    if hasattr(ops, OP_NAME):  # already registered by another load of this package
        return getattr(ops, OP_NAME)

    @torch.library.custom_op(add_op_namespace_prefix(OP_NAME), mutates_args=())
    def _op(
        hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
        ignore_index: int, block_t: int, block_v: int, block_h: int,
    ) -> torch.Tensor:
        out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        if hidden.shape[0] > 0:
            launch_fused_linear_ce_nll(hidden, weight, labels, out, ignore_index, block_t, block_v, block_h)
        return out

    @_op.register_fake
    def _(hidden, weight, labels, ignore_index, block_t, block_v, block_h):
        return hidden.new_empty(hidden.shape[0], dtype=torch.float32)

    return _op


fused_linear_ce_nll_op = _define_op()


def fused_linear_cross_entropy_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = -100,
    *,
    block_sizes: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    """Per-token NLL ``[T]`` (fp32) of ``labels`` under ``softmax(hidden @ weight.T)``; 0 at ``ignore_index``.

    Args:
        hidden: ``[T, H]`` final hidden states (fp32 / fp16 / bf16).
        weight: ``[V, H]`` lm-head weight, same dtype and device as ``hidden``.
        labels: ``[T]`` integer next-token ids in ``[0, V)`` or ``ignore_index``.
        ignore_index: label value that yields NLL 0.
        block_sizes: ``(BLOCK_T, BLOCK_V, BLOCK_H)``, powers of two >= 16; default by device.
    """
    if hidden.ndim != 2 or weight.ndim != 2 or labels.ndim != 1:
        raise ValueError(f"hidden must be [T, H], weight [V, H] and labels [T]; got {tuple(hidden.shape)}, "
                         f"{tuple(weight.shape)}, {tuple(labels.shape)}.")
    if hidden.shape[1] != weight.shape[1] or hidden.shape[0] != labels.shape[0]:
        raise ValueError(f"shape mismatch: hidden {tuple(hidden.shape)}, weight {tuple(weight.shape)}, "
                         f"labels {tuple(labels.shape)} (need hidden [T, H], weight [V, H], labels [T]).")
    if hidden.dtype not in SUPPORTED_DTYPES or weight.dtype != hidden.dtype:
        raise TypeError(f"hidden and weight must share one dtype of {SUPPORTED_DTYPES}; got {hidden.dtype} and "
                        f"{weight.dtype}. Cast them, e.g. weight.to(hidden.dtype).")
    if hidden.device != weight.device or hidden.device != labels.device:
        raise ValueError("hidden, weight and labels must be on one device.")
    if hidden.device.type == "cpu" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        raise RuntimeError("The Triton kernel runs on CPU tensors only in the interpreter: set TRITON_INTERPRET=1 "
                           "before importing triton, or use the torch reference (chunked log-sum-exp).")
    labels = labels.to(torch.int64).contiguous()
    valid = labels != ignore_index
    if valid.any() and bool(((labels < 0) | (labels >= weight.shape[0]))[valid].any()):
        raise ValueError(f"labels must lie in [0, {weight.shape[0]}) or equal ignore_index={ignore_index}.")
    bt, bv, bh = block_sizes or default_block_sizes(hidden)
    for name, b in (("BLOCK_T", bt), ("BLOCK_V", bv), ("BLOCK_H", bh)):
        if b < 16 or b & (b - 1):
            raise ValueError(f"block_sizes: {name}={b} must be a power of two >= 16 (tl.dot tiles).")
    return fused_linear_ce_nll_op(hidden.contiguous(), weight.contiguous(), labels, int(ignore_index), bt, bv, bh)
