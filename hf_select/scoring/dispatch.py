"""Choosing how to run a scoring forward pass on the current device: attention kernel, batching mode, NLL backend.

Defaults (each overridable through :class:`~hf_select.scoring.engine.NLLConfig`):

- attention: ``flash_attention_2`` on CUDA with ``flash-attn`` installed (varlen kernel over packed rows via the
  position ids), else ``sdpa`` (``eager`` for architectures without SDPA support, e.g. Bloom).
- batching: ``packed`` with flash-attention 2 (zero padding, no quadratic mask); otherwise the measured winner per
  device in :data:`DEFAULT_BATCHING`. On this project's reference CPU (2 cores, SmolLM2-135M, bf16,
  ``examples/benchmarks/bench_perplexity.py --compare-packed``) ``bucketed`` beat ``packed`` (e.g. 420 vs 248
  tokens/s on 16 pool examples, 1 thread, 8192-token budget): SDPA on CPU turns packed rows into a dense ``[T, T]``
  block-diagonal mask and does the full quadratic attention work, while sorted buckets pad only a few tokens. With
  SDPA on CUDA the same holds (a mask disables the flash kernel). Packing is used only where it is exact
  (:func:`hf_select.scoring.packing.packing_check`); otherwise the plan falls back to ``bucketed`` with a logged
  reason, even when ``packed`` was asked for.
- NLL: the fused Triton kernel on CUDA when Triton is installed and the kernel package loads
  (:func:`hf_select.scoring.triton_nll.kernel_status`; else the torch path with a logged reason); the chunked torch
  reference elsewhere; ``full`` (the model's own logits) for models whose LM head is not a plain linear layer (logit
  soft-capping or scaling).

Example:
    >>> from hf_select.scoring.dispatch import choose_plan
    >>> from hf_select.testing import tiny_causal_lm, tiny_llama
    >>> plan = choose_plan(tiny_llama(vocab_size=64), device="cpu")
    >>> plan.attn_implementation, plan.batching, plan.nll_backend
    ('sdpa', 'bucketed', 'torch')
    >>> choose_plan(tiny_causal_lm("opt"), device="cpu", batching="packed").batching   # OPT leaks when packed
    'bucketed'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..import_utils import is_flash_attn_available, is_triton_available
from .loading import resolve_device
from .packing import packing_check

logger = logging.getLogger(__name__)

# Measured default batching mode per device type when attention is not flash-attention 2 (see module docstring).
DEFAULT_BATCHING: dict[str, str] = {"cpu": "bucketed", "cuda": "bucketed"}
# Measured default batching of gradient features (LESS) per device, for ``batching="auto"`` of
# :func:`~hf_select.scoring.gradients.gradient_features`: examples/benchmarks/bench_less.py times both on CPU.
DEFAULT_GRADIENT_BATCHING: dict[str, str] = {"cpu": "padded", "cuda": "packed"}
GRADIENT_BATCHING_MODES = ("auto", "packed", "padded")
ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flash_attention_2")
NLL_BACKENDS = ("auto", "torch", "triton", "full")
BATCHING_MODES = ("auto", "bucketed", "packed", "single")
# Config attributes that make the LM head more than ``hidden @ W.T (+ b)``: such models are scored with "full".
_NON_PLAIN_HEAD_ATTRS = ("final_logit_softcapping", "logit_scale", "output_multiplier_scale", "logits_scaling")


@dataclass
class ExecutionPlan:
    """What :func:`choose_plan` decided, and why (the reasons go into the cost record)."""

    device: Any
    attn_implementation: str
    batching: str
    nll_backend: str
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"device": str(self.device), "attn_implementation": self.attn_implementation,
                "batching": self.batching, "nll_backend": self.nll_backend, "reasons": dict(self.reasons)}


def gradient_batching(batching: str, device: Any) -> str:
    """``"packed"`` or ``"padded"``: ``batching`` itself, or for ``"auto"`` the measured default of ``device``."""
    if batching not in GRADIENT_BATCHING_MODES:
        raise ValueError(f"batching={batching!r} is not known; use one of {GRADIENT_BATCHING_MODES}.")
    if batching != "auto":
        return batching
    return DEFAULT_GRADIENT_BATCHING.get(resolve_device(device).type, "padded")


def has_plain_lm_head(model: Any) -> bool:
    """Whether logits are exactly ``hidden @ lm_head.weight.T (+ bias)`` (so the chunked / fused NLL applies)."""
    config = getattr(model, "config", None)
    for attr in _NON_PLAIN_HEAD_ATTRS:
        value = getattr(config, attr, None)
        if value not in (None, 1, 1.0, 0, 0.0):
            return False
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return head is not None and hasattr(head, "weight") and hasattr(model, "get_decoder")


def choose_plan(model: Any, *, device: Any = None, attn_implementation: str = "auto", batching: str = "auto",
                nll_backend: str = "auto") -> ExecutionPlan:
    """Pick attention kernel, batching mode and NLL backend for ``model`` on ``device`` (``"auto"`` = default)."""
    for name, value, allowed in (("attn_implementation", attn_implementation, ATTN_IMPLEMENTATIONS),
                                 ("batching", batching, BATCHING_MODES), ("nll_backend", nll_backend, NLL_BACKENDS)):
        if value not in allowed:
            raise ValueError(f"{name}={value!r} is not known; use one of {allowed}.")
    dev = resolve_device(device)
    reasons: dict[str, str] = {}
    if attn_implementation == "auto":
        if dev.type == "cuda" and is_flash_attn_available():
            attn, reasons["attn"] = "flash_attention_2", "CUDA with flash-attn installed"
        elif getattr(model, "_supports_sdpa", True):
            attn, reasons["attn"] = "sdpa", "default (no CUDA flash-attn)"
        else:
            attn, reasons["attn"] = "eager", "the architecture has no SDPA attention"
    else:
        attn, reasons["attn"] = attn_implementation, "set by the user"
        if attn == "flash_attention_2" and not is_flash_attn_available():
            raise ValueError("attn_implementation='flash_attention_2' needs flash-attn and a CUDA GPU; install it "
                             "with pip install \"hf-select[flash]\" or use 'sdpa'.")
    if batching == "auto":
        if attn == "flash_attention_2":
            mode, reasons["batching"] = "packed", "flash-attention 2 varlen: packed rows have no padding and no mask"
        else:
            mode = DEFAULT_BATCHING.get(dev.type, "bucketed")
            reasons["batching"] = f"measured default for {dev.type}"
    else:
        mode, reasons["batching"] = batching, "set by the user"
    if mode == "packed":
        exact, why = packing_check(model)
        if not exact:
            logger.warning("hf_select: not packing examples: %s.", why)
            mode = "bucketed"
        reasons["packing"] = why
    plain = has_plain_lm_head(model)
    if nll_backend == "auto":
        if not plain:
            backend, reasons["nll"] = "full", "LM head is not a plain linear layer"
        elif dev.type == "cuda" and is_triton_available() and _lm_head_bias(model) is None:
            from .triton_nll import kernel_status

            loaded, why = kernel_status(str(dev))
            if loaded:
                backend, reasons["nll"] = "triton", "CUDA with Triton: fused linear + cross-entropy kernel"
            else:
                logger.warning("hf_select: the Triton NLL kernel is not used: %s.", why)
                backend, reasons["nll"] = "torch", f"chunked torch LM head (Triton kernel unavailable: {why})"
        else:
            backend, reasons["nll"] = "torch", "chunked torch LM head"
    else:
        backend, reasons["nll"] = nll_backend, "set by the user"
        if backend in ("torch", "triton") and not plain:
            raise ValueError(f"nll_backend={backend!r} needs a plain linear LM head; this model scales or caps its "
                             "logits: use nll_backend='full' or 'auto'.")
    return ExecutionPlan(dev, attn, mode, backend, reasons)


def _lm_head_bias(model: Any) -> Any:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return getattr(head, "bias", None)


def apply_attn_implementation(model: Any, attn_implementation: str) -> None:
    """Switch ``model`` to ``attn_implementation`` when it uses another one."""
    current = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if current != attn_implementation and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(attn_implementation)
