"""Per-example gradient features, batched: exact per-example LoRA gradients in one backward pass per batch.

For a linear layer ``y = x W^T`` used once per example, the gradient of example ``i``'s loss is
``G_i = sum_t g_{i,t}^T x_{i,t}`` (``g``: gradient of the loss w.r.t. the layer output). A forward hook keeps ``x`` and a
tensor hook on ``y`` receives ``g`` during the backward of ``sum_i loss_i`` (examples never interact: causal attention
with a padding mask), so ``G_i`` for the whole batch is one ``einsum`` per layer (the per-layer trick of Goodfellow
2015 / Opacus, used by LoGra, Choe et al. 2024). Each layer's ``[B, *W.shape]`` block is optionally
Adam-preconditioned and projected *inside the hook*, so the full per-example gradient vector never exists: memory is
``B x (largest layer)`` plus ``B x k``. Examples are packed back to back into rows (``position_ids`` restarting per
example, block-diagonal causal mask, no padding) where packing is exact for the architecture
(:func:`hf_select.scoring.packing.packing_check`; otherwise, and with ``batching="padded"``, length-bucketed padded
rows), and the LM head runs only at positions with a label (:func:`hf_select.scoring.nll.forward_token_nll`, the NLL
of the scoring engine). ``method="vmap"`` computes the same thing with ``torch.func`` (``functional_call`` +
``vmap(grad)``), for any trainable parameter, and ``method="loop"`` is the batch-size-1 reference. Examples without a
scored token get a zero feature row.

Adam preconditioning (LESS, Xia et al. 2024, eq. 2): with a checkpoint's first/second moments ``m, v``,
``m' = b1 m + (1 - b1) g``, ``v' = b2 v + (1 - b2) g^2``, feature ``= m' / sqrt(v' + eps)``.

Example:
    >>> from hf_select.scoring.encoding import TokenizedExamples
    >>> from hf_select.scoring.gradients import gradient_features, trainable_parameters
    >>> from hf_select.scoring.projection import ProjectionConfig, RandomProjector
    >>> from hf_select.testing import tiny_llama
    >>> model = tiny_llama(vocab_size=64)
    >>> for n, p in model.named_parameters(): _ = p.requires_grad_("q_proj" in n)
    >>> params = trainable_parameters(model)
    >>> proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=32))
    >>> ex = TokenizedExamples.from_ids([[1, 5, 9, 3], [1, 7, 2]])
    >>> gradient_features(model, ex, proj, batch_size=2).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batching import Batch, collate, plan_batches
from .encoding import TokenizedExamples
from .nll import forward_token_nll, logits_nll
from .packing import packing_check

METHODS = ("hooks", "vmap", "loop")
logger = logging.getLogger(__name__)


@dataclass
class AdamState:
    """Adam moments of the trainable parameters at one checkpoint (same order as :func:`trainable_parameters`)."""

    exp_avg: list[Any]
    exp_avg_sq: list[Any]
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def precondition(self, index: int, grads: Any) -> Any:
        """``m' / sqrt(v' + eps)`` for per-example gradients ``grads`` (``[B, *shape]``) of parameter ``index``."""
        m = self.exp_avg[index].to(grads.device, grads.dtype)
        v = self.exp_avg_sq[index].to(grads.device, grads.dtype)
        m_new = self.beta1 * m + (1 - self.beta1) * grads
        v_new = self.beta2 * v + (1 - self.beta2) * grads.square()
        return m_new / (v_new + self.eps).sqrt()


def trainable_parameters(model: Any) -> list[tuple[str, Any]]:
    """``(name, parameter)`` of every parameter with ``requires_grad``, sorted by name (the feature layout)."""
    params = sorted((n, p) for n, p in model.named_parameters() if p.requires_grad)
    if not params:
        raise ValueError("The model has no trainable parameters: add LoRA adapters (peft) or set requires_grad on the "
                         "parameters whose gradients should be the features.")
    return params


def per_example_losses(model: Any, batch: Batch) -> Any:
    """Mean next-token NLL of each example of ``batch`` (``[len(batch.rows)]``), differentiable: the engine's
    :func:`~hf_select.scoring.nll.forward_token_nll` reduced per example."""
    import torch

    nll = forward_token_nll(model, batch, chunk_size=None)
    n = len(batch.rows)
    sums = torch.zeros(n, dtype=nll.dtype, device=nll.device).index_add(0, batch.segments, nll)
    counts = torch.zeros(n, dtype=nll.dtype, device=nll.device).index_add(0, batch.segments, torch.ones_like(nll))
    return sums / counts.clamp(min=1)


def _dense_example_loss(model: Any, input_ids: Any, labels: Any) -> Any:
    """Mean NLL of one right-padded example from logits at every position, without an attention mask: no
    data-dependent shapes, as ``torch.func.vmap`` needs (exact: real tokens never attend to the later padding under
    the causal mask, and padding positions carry no label)."""
    logits = model(input_ids=input_ids, use_cache=False).logits
    nll = logits_nll(logits, labels)
    return nll.sum() / (labels != -100).sum().clamp(min=1)


class _LinearGradHooks:
    """Forward/tensor hooks turning one backward into per-example gradients of trainable ``nn.Linear`` weights."""

    def __init__(self, model: Any, params: list[tuple[str, Any]], sink: Callable[[int, Any], None],
                 layout: Any = None) -> None:
        import torch

        self.layout = layout
        owner = {id(p): i for i, (_, p) in enumerate(params)}
        self.handles = []
        covered = set()
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if isinstance(module, torch.nn.Linear) and weight is not None and id(weight) in owner:
                if module.bias is not None and module.bias.requires_grad:
                    raise ValueError("method='hooks' supports bias-free trainable Linear layers (LoRA); "
                                     "use method='vmap' for trainable biases.")
                index = owner[id(weight)]
                covered.add(index)
                self.handles.append(module.register_forward_hook(self._forward_hook(index, sink, layout)))
        missing = [params[i][0] for i in range(len(params)) if i not in covered]
        if missing:
            raise ValueError(f"method='hooks' handles trainable nn.Linear weights only; these are not: {missing[:5]}. "
                             "Use method='vmap'.")

    @staticmethod
    def _forward_hook(index: int, sink: Callable[[int, Any], None], layout: Any):
        import torch

        def hook(module, inputs, output):
            x = inputs[0].detach()

            def on_grad(g):
                gg, xx = g.float(), x.float()
                if layout is not None:  # packed row -> [examples, longest, features], zero-padded
                    gg, xx = _unpack(gg, layout), _unpack(xx, layout)
                sink(index, torch.einsum("bto,bti->boi", gg, xx))

            output.register_hook(on_grad)

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _packed_layout(batch: Batch) -> Any:
    """(example of each position, its position, examples, longest) of a packed row."""
    pos = batch.position_ids.reshape(-1)
    seg = (pos == 0).long().cumsum(0) - 1
    return seg, pos, len(batch.rows), int(pos.max()) + 1


def _unpack(t: Any, layout: Any) -> Any:
    seg, pos, n, longest = layout
    flat = t.reshape(-1, t.shape[-1])
    out = flat.new_zeros(n, longest, t.shape[-1])
    out[seg, pos] = flat
    return out


def _grads_hooks(model, batch, params, sink, examples) -> None:
    layout = _packed_layout(batch) if batch.packed else None
    hooks = _LinearGradHooks(model, params, sink, layout)
    try:
        per_example_losses(model, batch).sum().backward()
    finally:
        hooks.remove()
    for _, p in params:
        p.grad = None


def _grads_vmap(model, batch, params, sink, examples) -> None:
    import torch
    from torch.func import functional_call, grad, vmap

    class _Loss(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, labels):
            return _dense_example_loss(self.inner, ids, labels)

    wrapper = _Loss(model)
    names = [f"inner.{n}" for n, _ in params]

    def loss_one(values, ids, labels):
        return functional_call(wrapper, dict(zip(names, values)), (ids[None], labels[None]), strict=False)

    values = tuple(p.detach() for _, p in params)
    grads = vmap(grad(loss_one), in_dims=(None, 0, 0), randomness="same")(values, batch.input_ids,
                                                                         batch.dense_labels())
    with torch.no_grad():
        for i, g in enumerate(grads):
            sink(i, g.float())


def _grads_loop(model, batch, params, sink, examples) -> None:
    import torch

    collected: list[list[Any]] = [[] for _ in params]
    device = batch.input_ids.device
    for row in batch.rows:
        one = collate(examples, [row], "single").to(device)
        grads = torch.autograd.grad(per_example_losses(model, one).sum(), [p for _, p in params], allow_unused=True)
        for j, (g, (_, p)) in enumerate(zip(grads, params)):
            collected[j].append(torch.zeros_like(p) if g is None else g.detach())
    for j, gs in enumerate(collected):
        sink(j, torch.stack(gs).float())


_METHODS = {"hooks": _grads_hooks, "vmap": _grads_vmap, "loop": _grads_loop}


def gradient_features(
    model: Any,
    examples: TokenizedExamples,
    projector: Any = None,
    *,
    adam_state: AdamState | None = None,
    batch_size: int = 16,
    max_tokens: int | None = 512,
    method: str = "hooks",
    batching: str = "auto",
    pad_token_id: int = 0,
    autocast_dtype: Any = None,
    progress: Callable[[int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> Any:
    """Projected per-example gradient features ``[N, k]`` (fp32, in the order of ``examples``; not normalised).

    Args:
        model: a causal LM whose trainable parameters (e.g. LoRA) define the gradient.
        examples: encoded examples (:func:`hf_select.scoring.encoding.encode`); the loss of an example is the mean
            NLL of its scored tokens.
        projector: a :class:`~hf_select.scoring.projection.RandomProjector` over :func:`trainable_parameters`
            segments; ``None`` returns the exact unprojected gradients ``[N, D]``.
        adam_state: when given, features are Adam-preconditioned (LESS) instead of plain gradients.
        batch_size / max_tokens: examples (padded batching) and tokens per backward pass.
        method: ``"hooks"`` (default), ``"vmap"`` (torch.func) or ``"loop"`` (batch size 1).
        batching: ``"packed"`` (examples back to back in one row of at most ``max_tokens`` tokens, zero padding;
            only where :func:`~hf_select.scoring.packing.packing_check` says packing is exact, else padded with a
            logged reason), ``"padded"`` (length-bucketed, right-padded rows of ``batch_size``) or ``"auto"`` (the
            measured default of the device, :func:`~hf_select.scoring.dispatch.gradient_batching`); vmap and loop
            always use padded rows.
        autocast_dtype: e.g. ``torch.bfloat16`` to run forward/backward under autocast.
        progress: called with the number of examples done after each batch.
        timings: when given, ``timings["projection"]`` accumulates the seconds spent projecting.
    """
    import time

    import torch

    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; use one of {METHODS}.")
    from .dispatch import gradient_batching

    batching = gradient_batching(batching, next(model.parameters()).device)
    packed = batching == "packed" and method == "hooks"
    if packed and not max_tokens:
        raise ValueError("batching='packed' needs max_tokens (tokens per packed row).")
    if not len(examples):
        raise ValueError("examples is empty: nothing to compute gradients for.")
    if packed:
        packed, why = packing_check(model)
        if not packed:
            logger.warning("hf_select: gradient features use padded rows: %s.", why)
    params = trainable_parameters(model)
    sizes = [p.numel() for _, p in params]
    if projector is not None and list(projector.segment_sizes) != sizes:
        raise ValueError("projector segments do not match the model's trainable parameters; build it with "
                         "RandomProjector([p.numel() for _, p in trainable_parameters(model)], ...).")
    device = next(p for _, p in params).device
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    width = projector.out_dim if projector is not None else offsets[-1]
    result = torch.zeros(len(examples), width, dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        rows = np.flatnonzero(examples.num_targets > 0).tolist()
        done = len(examples) - len(rows)  # examples without a scored token: zero rows, nothing to compute
        plan = plan_batches(examples.lengths, "packed" if packed else "bucketed", max_tokens, rows=rows,
                            max_rows=None if packed else batch_size, max_padding=None)
        for idx in plan:
            batch = collate(examples, idx, "packed" if packed else "padded", pad_token_id=pad_token_id).to(device)
            out = torch.zeros(len(idx), width, dtype=torch.float32, device=device)

            def sink(index: int, grads: Any) -> None:
                with torch.no_grad():
                    if adam_state is not None:
                        grads = adam_state.precondition(index, grads)
                    flat = grads.reshape(grads.shape[0], -1)
                    if projector is None:
                        out[:, offsets[index]:offsets[index + 1]] = flat
                    else:
                        start = time.perf_counter()
                        projector.project_segment(index, flat, out)
                        if timings is not None:
                            timings["projection"] = timings.get("projection", 0.0) + time.perf_counter() - start

            ctx = (torch.autocast(device_type=device.type, dtype=autocast_dtype) if autocast_dtype is not None
                   else torch.autocast(device_type=device.type, enabled=False))
            with ctx:
                _METHODS[method](model, batch, params, sink, examples)
            result[torch.tensor(idx)] = out.cpu()
            done += len(idx)
            if progress is not None:
                progress(done)
    finally:
        model.train(was_training)
    return result


def normalize_rows(features: Any, eps: float = 1e-12) -> Any:
    """L2-normalised rows (a zero row, e.g. an example without loss tokens, stays zero)."""
    norms = features.norm(dim=1, keepdim=True)
    return features / norms.clamp(min=eps)
