"""Selection-aware trainers: ``SelectiveSFTTrainer``, ``SelectionMixin`` for any ``transformers.Trainer``, a registry,
and the FLOP-budget / re-selection callbacks.

Importing this package loads transformers and TRL (it is imported lazily from ``hf_select``).
"""

from .callbacks import FlopBudgetCallback, ReselectionCallback, SelectionSampler, batch_lengths
from .mixin import SelectionMixin
from .reporting import CostSummary
from .sft import SelectiveSFTTrainer, SelectiveTrainer, get_trainer, list_trainers, make_selective, register_trainer

__all__ = [
    "CostSummary",
    "FlopBudgetCallback",
    "ReselectionCallback",
    "SelectionMixin",
    "SelectionSampler",
    "SelectiveSFTTrainer",
    "SelectiveTrainer",
    "batch_lengths",
    "get_trainer",
    "list_trainers",
    "make_selective",
    "register_trainer",
]
