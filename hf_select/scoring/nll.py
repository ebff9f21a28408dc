"""Per-token negative log-likelihood without full-vocabulary fp32 logits, and per-example reductions.

For hidden states ``h`` (``[..., H]``), an LM-head weight ``W`` (``[V, H]``, optional bias ``b``) and next-token labels
``y`` (already shifted; ``ignore_index`` marks positions to skip)::

    nll_t = logsumexp_v(h_t W_v + b_v) - (h_t W_{y_t} + b_{y_t})          (0 where y_t == ignore_index)

:func:`chunked_token_nll` evaluates this ``chunk_size`` tokens at a time: one ``[chunk, V]`` logit tile (in the dtype of
the inputs, so bf16 under autocast) is upcast to fp32 for the log-sum-exp and the target gather, then dropped; memory is
``O(chunk x V)`` instead of ``O(tokens x V)`` in fp32. The CUDA path uses the Triton kernel of
:mod:`hf_select.scoring.triton_nll` (same signature, never stores a tile). :func:`segment_sums` reduces per-token values
to per-example sums and counts with segment ids (``index_add``), so packed rows need no padding.

:func:`logits_nll` is the one cross-entropy call (fp32, ``reduction="none"``, ignored positions give 0); every other
function here reaches it. :func:`forward_token_nll` runs a model on a :class:`~hf_select.scoring.batching.Batch` and
returns the NLL of its scored positions: the engine, the LoRA fine-tune and the LESS gradient features all use it.

Example:
    >>> import torch
    >>> from hf_select.scoring.nll import chunked_token_nll, reference_token_nll, segment_mean
    >>> g = torch.Generator().manual_seed(0)
    >>> h, w = torch.randn(7, 16, generator=g), torch.randn(50, 16, generator=g)
    >>> y = torch.tensor([1, 4, -100, 0, 49, 3, 2])
    >>> torch.allclose(chunked_token_nll(h, w, y, chunk_size=3), reference_token_nll(h, w, y), atol=1e-5)
    True
    >>> segment_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 2]), 3).tolist()[0]
    2.0
"""

from __future__ import annotations

from typing import Any

DEFAULT_CHUNK_SIZE = 256
IGNORE_INDEX = -100


def _check(hidden: Any, weight: Any, labels: Any, bias: Any) -> None:
    if hidden.shape[:-1] != labels.shape:
        raise ValueError(f"hidden {tuple(hidden.shape)} and labels {tuple(labels.shape)} disagree: hidden must be "
                         "[..., H] with labels [...].")
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[-1]:
        raise ValueError(f"weight must be [V, H] with H={hidden.shape[-1]}, got {tuple(weight.shape)}.")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must be [V]={weight.shape[0]}, got {tuple(bias.shape)}.")


def chunked_token_nll(hidden: Any, weight: Any, labels: Any, chunk_size: int | None = DEFAULT_CHUNK_SIZE, *,
                      ignore_index: int = IGNORE_INDEX, bias: Any = None) -> Any:
    """Per-token NLL (fp32, shape of ``labels``) computed ``chunk_size`` tokens at a time.

    The matmul runs in ``hidden``'s dtype (``weight`` is cast to it when they differ: pass bf16 hidden states for
    the bf16 fast path); log-sum-exp and target logits are taken in fp32. ``chunk_size=None`` means one chunk.
    """
    import torch

    _check(hidden, weight, labels, bias)
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive or None, got {chunk_size}.")
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    flat_y = labels.reshape(-1)
    w = weight if weight.dtype == flat_h.dtype else weight.to(flat_h.dtype)
    b = None if bias is None else bias.to(flat_h.dtype)
    out = torch.zeros(flat_y.shape[0], dtype=torch.float32, device=flat_h.device)
    step = flat_y.shape[0] if chunk_size is None else chunk_size
    for start in range(0, flat_y.shape[0], max(step, 1)):
        y = flat_y[start:start + step]
        logits = flat_h[start:start + step] @ w.T
        if b is not None:
            logits = logits + b
        out[start:start + step] = logits_nll(logits, y, ignore_index=ignore_index)
    return out.reshape(labels.shape)


def logits_nll(logits: Any, labels: Any, *, ignore_index: int = IGNORE_INDEX) -> Any:
    """Per-position NLL (fp32) of ``labels`` (``[...]``) under ``logits`` (``[..., V]``); ignored positions give 0.

    cross_entropy's fused fp32 log-softmax is ~1.5x faster on CPU than logsumexp + gather.
    """
    import torch

    flat = logits.reshape(-1, logits.shape[-1]).float()
    nll = torch.nn.functional.cross_entropy(flat, labels.reshape(-1), ignore_index=ignore_index, reduction="none")
    return nll.reshape(labels.shape)


def reference_token_nll(hidden: Any, weight: Any, labels: Any, *, ignore_index: int = IGNORE_INDEX,
                        bias: Any = None) -> Any:
    """Plain reference: full fp32 logits and ``cross_entropy(reduction="none")`` (tests and benchmarks only)."""

    _check(hidden, weight, labels, bias)
    logits = hidden.float() @ weight.float().T
    if bias is not None:
        logits = logits + bias.float()
    return logits_nll(logits, labels, ignore_index=ignore_index)


def segment_sums(values: Any, segment_ids: Any, num_segments: int, *, weights: Any = None) -> tuple[Any, Any]:
    """``(sums, counts)`` over segments: ``sums[s] = sum(values[segment_ids == s])`` in float64.

    ``weights`` (0/1 or bool, same shape as ``values``) excludes positions; negative segment ids are skipped.
    """
    import torch

    if values.shape != segment_ids.shape:
        raise ValueError(f"values {tuple(values.shape)} and segment_ids {tuple(segment_ids.shape)} must match.")
    v = values.reshape(-1).double()
    s = segment_ids.reshape(-1).long()
    keep = s >= 0
    if weights is not None:
        keep = keep & weights.reshape(-1).bool()
    sums = torch.zeros(num_segments, dtype=torch.float64, device=v.device)
    counts = torch.zeros(num_segments, dtype=torch.int64, device=v.device)
    sums.index_add_(0, s[keep], v[keep])
    counts.index_add_(0, s[keep], torch.ones_like(s[keep]))
    return sums, counts


def segment_mean(values: Any, segment_ids: Any, num_segments: int) -> Any:
    """Per-segment mean (float64); segments without any position get NaN."""
    import torch

    sums, counts = segment_sums(values, segment_ids, num_segments)
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.full_like(sums, float("nan")))


def token_nll(hidden: Any, weight: Any, labels: Any, *, backend: str = "torch",
              chunk_size: int | None = DEFAULT_CHUNK_SIZE, ignore_index: int = IGNORE_INDEX, bias: Any = None) -> Any:
    """Per-token NLL with the chosen backend: ``"torch"`` (chunked), ``"triton"`` (fused kernel) or ``"full"``."""
    if backend == "torch":
        return chunked_token_nll(hidden, weight, labels, chunk_size, ignore_index=ignore_index, bias=bias)
    if backend == "full":
        return reference_token_nll(hidden, weight, labels, ignore_index=ignore_index, bias=bias)
    if backend == "triton":
        if bias is not None:
            raise ValueError("The Triton NLL kernel has no LM-head bias; use nll_backend='torch' for this model.")
        from .triton_nll import triton_token_nll

        return triton_token_nll(hidden, weight, labels, chunk_size, ignore_index=ignore_index)
    raise ValueError(f"nll backend {backend!r} is not known; use 'torch', 'triton' or 'full'.")


def _unwrap(model: Any) -> Any:
    """The transformers model inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def forward_token_nll(model: Any, batch: Any, *, backend: str = "torch", chunk_size: int | None = DEFAULT_CHUNK_SIZE,
                      head_weight: Any = None, decoder: Any = None, nll_fn: Any = None) -> Any:
    """NLL (fp32, ``[P]``) of the scored positions of ``batch`` under ``model``, differentiable.

    ``"torch"`` / ``"triton"`` run the decoder only and apply the LM head to the scored positions (chunked / fused);
    ``"full"`` uses the model's own logits (for heads that scale or cap logits). ``head_weight`` overrides the LM-head
    weight (e.g. a copy in the compute dtype). A head that is not a plain ``nn.Linear`` (e.g. a LoRA-wrapped one) is
    called as a module. ``decoder`` / ``nll_fn`` replace the model's decoder and :func:`token_nll` (same signatures;
    the compiled CPU path of :mod:`hf_select.scoring.compiled`).
    """
    import torch

    base = _unwrap(model)
    kwargs = batch.model_inputs()
    if backend == "full":
        logits = model(**kwargs).logits
        return logits_nll(logits.reshape(-1, logits.shape[-1]).index_select(0, batch.gather_index), batch.labels)
    hidden = (decoder or base.get_decoder())(**kwargs).last_hidden_state
    picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.gather_index)
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear:
        return logits_nll(head(picked), batch.labels)
    weight = head.weight if head_weight is None else head_weight
    return (nll_fn or token_nll)(picked, weight, batch.labels, backend=backend, chunk_size=chunk_size, bias=head.bias)
