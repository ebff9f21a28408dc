"""Per-example gradient features, batched: exact per-example LoRA gradients in one backward pass per batch.

For a linear layer ``y = x W^T`` used once per example, the gradient of example ``i``'s loss is
``G_i = sum_t g_{i,t}^T x_{i,t}`` (``g``: gradient of the loss w.r.t. the layer output). A forward hook keeps ``x`` and a
tensor hook on ``y`` receives ``g`` during the backward of ``sum_i loss_i`` (examples never interact: causal attention
with a padding mask), so ``G_i`` for the whole batch is one ``einsum`` per layer (the per-layer trick of Goodfellow
2015 / Opacus, used by LoGra, Choe et al. 2024). Each layer's ``[B, *W.shape]`` block is optionally
Adam-preconditioned and projected *inside the hook*, so the full per-example gradient vector never exists: memory is
``B x (largest layer)`` plus ``B x k``. Examples are packed back to back into rows (``position_ids`` restarting per
example, block-diagonal causal mask, no padding; ``batching="padded"`` gives length-bucketed padded rows instead) and
the LM head runs only at positions with a label. ``method="vmap"`` computes the same thing with ``torch.func``
(``functional_call`` + ``vmap(grad)``), for any trainable parameter, and ``method="loop"`` is the batch-size-1 reference.

Adam preconditioning (LESS, Xia et al. 2024, eq. 2): with a checkpoint's first/second moments ``m, v``,
``m' = b1 m + (1 - b1) g``, ``v' = b2 v + (1 - b2) g^2``, feature ``= m' / sqrt(v' + eps)``.

Example:
    >>> import torch
    >>> from hf_select.scoring.encoded import EncodedExample
    >>> from hf_select.scoring.gradients import gradient_features, trainable_parameters
    >>> from hf_select.scoring.models import tiny_llama
    >>> from hf_select.scoring.projection import ProjectionConfig, RandomProjector
    >>> model = tiny_llama(vocab_size=64)
    >>> for n, p in model.named_parameters(): _ = p.requires_grad_("q_proj" in n)
    >>> params = trainable_parameters(model)
    >>> proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=32))
    >>> ex = [EncodedExample([1, 5, 9, 3], [-100, 5, 9, 3]), EncodedExample([1, 7, 2], [-100, 7, 2])]
    >>> gradient_features(model, ex, proj, batch_size=2).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .encoded import (
    IGNORE_INDEX,
    EncodedExample,
    collate,
    collate_packed,
    length_batches,
    pack_batches,
)

METHODS = ("hooks", "vmap", "loop")


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


def per_example_losses(model: Any, batch: dict[str, Any], *, dense: bool = False) -> Any:
    """Mean next-token NLL of each example (``[B]``), computing logits only at positions with a label
    (``dense=True``: at every position, without data-dependent shapes or masks, as ``torch.func.vmap`` needs; exact
    for right-padded rows, whose real tokens never attend to the later padding under the causal mask)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    packed = "segments" in batch
    mask = None if dense or packed else batch["attention_mask"]
    hidden = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=mask,
                                position_ids=batch.get("position_ids"), use_cache=False).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    if packed:
        example = batch["segments"][:, 1:][keep]
        nll = torch.nn.functional.cross_entropy(base.get_output_embeddings()(hidden[:, :-1][keep]).float(),
                                                labels[keep], reduction="none")
        n = batch["n_examples"]
        sums = torch.zeros(n, dtype=nll.dtype, device=nll.device).index_add(0, example, nll)
        counts = torch.zeros(n, dtype=nll.dtype, device=nll.device).index_add(0, example, torch.ones_like(nll))
        return sums / counts.clamp(min=1)
    if dense:
        logits = base.get_output_embeddings()(hidden[:, :-1]).float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none",
                                                ignore_index=IGNORE_INDEX)
        return nll.sum(1) / keep.sum(1).clamp(min=1)
    rows = keep.nonzero(as_tuple=True)[0]
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    nll = torch.nn.functional.cross_entropy(logits.float(), labels[keep], reduction="none")
    counts = keep.sum(1)
    sums = torch.zeros(labels.shape[0], dtype=nll.dtype, device=nll.device).index_add(0, rows, nll)
    return sums / counts.clamp(min=1)


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


def _packed_layout(batch: dict[str, Any]) -> Any:
    seg = batch["segments"].reshape(-1)
    pos = batch["position_ids"].reshape(-1)
    return (seg, pos, batch["n_examples"], int(pos.max()) + 1) if seg.numel() else None


def _unpack(t: Any, layout: Any) -> Any:
    seg, pos, n, longest = layout
    flat = t.reshape(-1, t.shape[-1])
    out = flat.new_zeros(n, longest, t.shape[-1])
    out[seg, pos] = flat
    return out


def _grads_hooks(model, batch, params, sink) -> None:
    layout = _packed_layout(batch) if "segments" in batch else None
    hooks = _LinearGradHooks(model, params, sink, layout)
    try:
        per_example_losses(model, batch).sum().backward()
    finally:
        hooks.remove()
    for _, p in params:
        p.grad = None


def _grads_vmap(model, batch, params, sink) -> None:
    import torch
    from torch.func import functional_call, grad, vmap

    class _Loss(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, one):
            return per_example_losses(self.inner, one, dense=True)[0]

    wrapper = _Loss(model)
    names = [f"inner.{n}" for n, _ in params]

    def loss_one(values, ids, mask, labels):
        one = {"input_ids": ids[None], "attention_mask": mask[None], "labels": labels[None]}
        return functional_call(wrapper, dict(zip(names, values)), (one,), strict=False)

    values = tuple(p.detach() for _, p in params)
    grads = vmap(grad(loss_one), in_dims=(None, 0, 0, 0), randomness="same")(
        values, batch["input_ids"], batch["attention_mask"], batch["labels"])
    with torch.no_grad():
        for i, g in enumerate(grads):
            sink(i, g.float())


def _grads_loop(model, batch, params, sink) -> None:
    import torch

    n = batch["input_ids"].shape[0]
    collected: list[list[Any]] = [[] for _ in params]
    for i in range(n):
        length = int(batch["attention_mask"][i].sum())
        one = {k: v[i:i + 1, :length] for k, v in batch.items()}
        grads = torch.autograd.grad(per_example_losses(model, one).sum(), [p for _, p in params], allow_unused=True)
        for j, (g, (_, p)) in enumerate(zip(grads, params)):
            collected[j].append(torch.zeros_like(p) if g is None else g.detach())
    for j, gs in enumerate(collected):
        sink(j, torch.stack(gs).float())


_METHODS = {"hooks": _grads_hooks, "vmap": _grads_vmap, "loop": _grads_loop}


def gradient_features(
    model: Any,
    examples: Sequence[EncodedExample],
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
        examples: token ids + labels per example; the loss of an example is its mean label-token NLL.
        projector: a :class:`~hf_select.scoring.projection.RandomProjector` over :func:`trainable_parameters`
            segments; ``None`` returns the exact unprojected gradients ``[N, D]``.
        adam_state: when given, features are Adam-preconditioned (LESS) instead of plain gradients.
        batch_size / max_tokens: examples (padded batching) and tokens per backward pass.
        method: ``"hooks"`` (default), ``"vmap"`` (torch.func) or ``"loop"`` (batch size 1).
        batching: ``"packed"`` (examples back to back in one row of at most ``max_tokens`` tokens, zero padding),
            ``"padded"`` (length-bucketed, right-padded rows of ``batch_size``) or ``"auto"`` (the measured default
            of the device, :func:`~hf_select.scoring.dispatch.gradient_batching`); vmap and loop always use padded
            rows.
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
    if not examples:
        raise ValueError("examples is empty: nothing to compute gradients for.")
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
    done = 0
    try:
        lengths = [len(e.input_ids) for e in examples]
        plan = pack_batches(lengths, max_tokens) if packed else length_batches(lengths, batch_size, max_tokens)
        for idx in plan:
            chosen = [examples[i] for i in idx]
            batch = collate_packed(chosen, device) if packed else collate(chosen, pad_token_id, device)
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
                _METHODS[method](model, batch, params, sink)
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
