"""The training-FLOP convention: ONE setting, used by every place that prices a forward+backward pass.

Two values, one name (``train_convention``) in Python, on the command line (``--train-convention``), in the Space, in
JSON records and on the cards:

- ``"full"`` (the default; the paper's convention, which Yin & Rush also use for their LoRA runs): a training token
  costs ``6N`` FLOPs (forward ``2N`` + backward ``4N``), whatever part of the weights is trained.
- ``"lora"``: LoRA on a frozen base: ``4N + 6L`` per token (forward ``2N``, the backward's activation gradients
  ``2N``; a frozen weight needs no weight gradient, so the other ``2N`` of the ``6N`` is not spent; the ``L`` adapter
  parameters cost ``6L``). It needs ``L`` (``lora_params``).

This is orthogonal to the *counting* convention of :mod:`hf_select.cost.flops` (``"6N"``: the total parameter count;
``"detailed"``: matmul parameters plus the attention term), which says what ``N`` is. Forward-only passes (perplexity
scoring, embeddings) cost ``2N`` per token under both training conventions.

The planner, ``hf-select plan``, the Space, budgeted selection, the trainer's FLOP tally, the cards and the sweep all
price training with :func:`hf_select.cost.flops.training_flops` and print :func:`describe_train_convention`.

Example:
    >>> from hf_select.cost.convention import describe_train_convention
    >>> describe_train_convention("lora")
    'lora (4N + 6L FLOPs per training token: frozen base, L LoRA parameters)'
"""

from __future__ import annotations

from typing import Any

TRAIN_CONVENTIONS = ("full", "lora")
DEFAULT_TRAIN_CONVENTION = "full"
_DESCRIPTIONS = {
    "full": "full (6N FLOPs per training token, the paper's convention, also for LoRA runs)",
    "lora": "lora (4N + 6L FLOPs per training token: frozen base, L LoRA parameters)",
}


def check_train_convention(value: Any, argument: str = "train_convention") -> str:
    """``value`` if it is a known training-FLOP convention, else a ``ValueError`` naming ``argument`` and the choices."""
    if value not in TRAIN_CONVENTIONS:
        raise ValueError(f"{argument}={value!r} is not a training-FLOP convention; use 'full' (6N per token, the "
                         "paper's) or 'lora' (4N + 6L per token, frozen base).")
    return str(value)


def describe_train_convention(value: str) -> str:
    """One line naming the convention and its per-token cost (what every output prints)."""
    return _DESCRIPTIONS[check_train_convention(value)]
