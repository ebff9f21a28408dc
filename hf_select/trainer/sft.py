"""``SelectiveSFTTrainer`` (TRL's ``SFTTrainer`` + :class:`SelectionMixin`) and the selective-trainer registry.

Example:
    >>> from hf_select.trainer import get_trainer, list_trainers
    >>> get_trainer("sft").__name__, "trainer" in list_trainers()
    ('SelectiveSFTTrainer', True)

Usage (see ``examples/select_then_sft.py``)::

    trainer = SelectiveSFTTrainer(model=model, args=SFTConfig(...), train_dataset=pool, processing_class=tok,
                                  selector="bm25", selection=SelectionConfig(target=target, fraction=0.1))
    trainer.train()
    trainer.selection.indices       # rows trained on
"""

from __future__ import annotations

import importlib
from typing import Any

from ..import_utils import require

require("trl", "SelectiveSFTTrainer")

from transformers import Trainer  # noqa: E402
from trl import SFTTrainer  # noqa: E402

from .mixin import SelectionMixin  # noqa: E402


class SelectiveSFTTrainer(SelectionMixin, SFTTrainer):
    """``trl.SFTTrainer`` that selects its training rows first (identical to ``SFTTrainer`` without ``selector``).

    Args (beyond ``SFTTrainer``'s): ``selector``, ``selection`` (:class:`~hf_select.config.SelectionConfig`),
    ``flops_convention``, ``selection_repo``; see :class:`~hf_select.trainer.mixin.SelectionMixin`.
    """


class SelectiveTrainer(SelectionMixin, Trainer):
    """Plain ``transformers.Trainer`` with selection (pre-tokenized datasets; see :class:`SelectionMixin`)."""


# name -> class, or "module:attribute" imported on first use (TRL trainers other than SFT load lazily).
_TRAINERS: dict[str, Any] = {"sft": SelectiveSFTTrainer, "trainer": SelectiveTrainer}


def register_trainer(name: str, trainer_cls: Any = None):
    """Register a selective trainer class under ``name`` (usable as a decorator).

    A class that does not yet include :class:`SelectionMixin` gets it: ``register_trainer("dpo", trl.DPOTrainer)``
    registers ``SelectiveDPOTrainer(SelectionMixin, DPOTrainer)``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("register_trainer(name): name must be a non-empty string.")

    def wrap(cls: Any) -> Any:
        made = make_selective(cls)
        _TRAINERS[name] = made
        return made

    return wrap if trainer_cls is None else wrap(trainer_cls)


def make_selective(trainer_cls: type) -> type:
    """``trainer_cls`` with :class:`SelectionMixin` first in its bases (returned as is when it already has it)."""
    if not (isinstance(trainer_cls, type) and issubclass(trainer_cls, Trainer)):
        raise TypeError(f"Expected a transformers.Trainer subclass, got {trainer_cls!r}.")
    if issubclass(trainer_cls, SelectionMixin):
        return trainer_cls
    return type(f"Selective{trainer_cls.__name__}", (SelectionMixin, trainer_cls),
                {"__module__": __name__, "__doc__": f"{trainer_cls.__name__} with hf_select selection."})


def get_trainer(name: str) -> type:
    """The selective trainer class registered under ``name`` (``"sft"``, ``"trainer"``, ...)."""
    if name not in _TRAINERS:
        raise ValueError(f"Unknown trainer {name!r}; registered: {list_trainers()}. Add one with "
                         "hf_select.trainer.register_trainer(name, TrainerClass).")
    entry = _TRAINERS[name]
    if isinstance(entry, str):
        module, attr = entry.split(":")
        entry = make_selective(getattr(importlib.import_module(module), attr))
        _TRAINERS[name] = entry
    return entry


def list_trainers() -> list[str]:
    return sorted(_TRAINERS)
