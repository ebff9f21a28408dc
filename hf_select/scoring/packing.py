"""Where packed rows are exact: an allow-list of verified architectures, and a self-check for the others.

A packed row puts several examples back to back with ``position_ids`` restarting at 0 and no attention mask;
transformers then builds a block-diagonal causal mask from the position ids. That is exact only for architectures
whose mask and positions both follow ``position_ids`` (measured: Llama, Qwen2, GPT-2, GPT-NeoX, Phi, Falcon agree
with one-at-a-time scoring to ~1e-7). OPT (positions from the attention mask) is off by up to 0.06 nats and Bloom
(ALiBi) by up to 3e-3, so packing them would silently change scores.

:func:`packing_check` returns ``(exact, reason)``: architectures in :data:`PACKING_EXACT` (each verified by
``tests/scoring/test_packing.py``) pack; any other one packs only when a one-batch self-check (two short random
examples, packed vs one at a time, float32 weights) agrees to :data:`SELF_CHECK_TOLERANCE`. Everything else falls
back to padded batches; the caller logs the reason and records it in the cost record.

Example:
    >>> from hf_select.scoring.packing import packing_check
    >>> from hf_select.testing import tiny_causal_lm
    >>> packing_check(tiny_causal_lm("llama"))[0], packing_check(tiny_causal_lm("opt"))[0]
    (True, False)
"""

from __future__ import annotations

import weakref
from typing import Any

# model_type values whose packed rows equal one-at-a-time scoring (tests/scoring/test_packing.py checks each).
PACKING_EXACT = frozenset({"llama", "qwen2", "gpt2", "gpt_neox", "phi", "falcon"})
# Relative error of the last hidden states, packed vs single, accepted by the self-check (float32 noise is ~1e-7).
SELF_CHECK_TOLERANCE = 1e-4
SELF_CHECK_LENGTHS = (5, 7)
_CHECKED: weakref.WeakKeyDictionary[Any, tuple[bool, str]] = weakref.WeakKeyDictionary()


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def packing_check(model: Any) -> tuple[bool, str]:
    """``(exact, reason)``: whether packed rows give this model's exact per-example results."""
    base = _base(model)
    model_type = getattr(getattr(base, "config", None), "model_type", None)
    if model_type in PACKING_EXACT:
        return True, f"{model_type}: packing verified exact for this architecture"
    try:
        cached = _CHECKED.get(base)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None:
        return cached
    result = _self_check(base, model_type)
    try:
        _CHECKED[base] = result
    except TypeError:
        pass
    return result


def _self_check(model: Any, model_type: str | None) -> tuple[bool, str]:
    import torch

    params = list(model.parameters())
    if not params or params[0].dtype != torch.float32:
        return False, (f"{model_type}: packing not verified for this architecture and the self-check needs float32 "
                       "weights; padded batches")
    from .batching import collate
    from .encoding import TokenizedExamples

    vocab = int(model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(0)
    ids = [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in SELF_CHECK_LENGTHS]
    examples = TokenizedExamples.from_ids(ids)
    device = params[0].device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            decoder = model.get_decoder()
            packed = decoder(**collate(examples, [0, 1], "packed").to(device).model_inputs()).last_hidden_state[0]
            single = torch.cat([decoder(**collate(examples, [i], "single").to(device).model_inputs())
                                .last_hidden_state[0] for i in (0, 1)])
    except Exception as err:  # noqa: BLE001 - an architecture that cannot take position_ids: not packable
        return False, f"{model_type}: packed forward failed ({type(err).__name__}); padded batches"
    finally:
        model.train(was_training)
    error = float((packed - single).norm() / single.norm().clamp(min=1e-12))
    if error <= SELF_CHECK_TOLERANCE:
        return True, f"{model_type}: packing self-check passed (relative error {error:.1e})"
    return False, (f"{model_type}: packed rows leak across examples (self-check relative error {error:.1e}); "
                   "padded batches")
