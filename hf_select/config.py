"""``SelectionConfig``: everything that decides a selection, as one dataclass (HfArgumentParser-ready).

Example:
    >>> from hf_select import SelectionConfig
    >>> cfg = SelectionConfig(selector="bm25", fraction=0.1)
    >>> cfg.size_spec()
    ('fraction', 0.1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .strategies import STRATEGIES, describe_strategies

ORDERINGS = ("shuffle", "score")


@dataclass
class SelectionConfig:
    """How to select a subset of a pool: the selector, how many rows, how scores become a selection.

    Exactly one of ``k``, ``fraction`` and ``budget_flops`` sets the size (``strategy="threshold"`` may set none).
    """

    selector: str = field(default="bm25", metadata={"help": "Registered selector name (see hf_select.list_selectors())."})
    selector_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Options of the selector's config, e.g. {'aggregate': 'max'}."}
    )
    target: Any = field(
        default=None,
        metadata={"help": "Target examples: a datasets.Dataset, a list of rows or texts, or a path to a "
                          "jsonl/json/parquet/csv file."},
    )
    k: int | None = field(default=None, metadata={"help": "Number of rows to keep."})
    fraction: float | None = field(default=None, metadata={"help": "Fraction of the pool to keep, in (0, 1]."})
    budget_flops: float | None = field(
        default=None, metadata={"help": "Total FLOP budget (selection + training); needs train_model."}
    )
    strategy: str = field(default="top", metadata={
        "help": f"How scores become a selection (higher score = preferred) -- {describe_strategies()}."})
    strategy_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Strategy options, e.g. {'low': 0.33, 'high': 0.66} for 'band'."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the selector and of randomised strategies."})
    train_model: Any = field(
        default=None,
        metadata={"help": "Model to be trained, for budgeted selection: a parameter count, a transformers config, "
                          "or a local path holding config.json."},
    )
    train_epochs: float = field(default=1.0, metadata={"help": "Epochs of training the budget must pay for."})
    train_lora_params: int | None = field(
        default=None,
        metadata={"help": "Trainable LoRA parameters when the budgeted training is LoRA on a frozen base (priced "
                          "4N + 6 * lora_params FLOPs per token instead of 6N). SelectiveSFTTrainer fills it in from "
                          "its peft_config."},
    )
    filters: list[Any] = field(
        default_factory=list, metadata={"help": "hf_select.filters Filter objects applied before scoring."}
    )
    columns: dict[str, str] | None = field(
        default=None, metadata={"help": "Rename pool columns to TRL names before reading them, e.g. "
                                        "{'question': 'prompt', 'answer': 'completion'}."})
    target_columns: dict[str, str] | None = field(
        default=None, metadata={"help": "The same for the target examples."})
    refresh: str | int | None = field(
        default=None, metadata={"help": "Trainer only: re-select every 'epoch' or every N steps (model-based selectors)."}
    )
    ordering: str = field(
        default="shuffle", metadata={"help": f"Trainer only: order of the subset during training, one of {ORDERINGS}."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where model-based selectors cache scores."})

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r} is not known; use one of {STRATEGIES}.")
        if self.ordering not in ORDERINGS:
            raise ValueError(f"ordering={self.ordering!r} is not known; use one of {ORDERINGS}.")
        lora = self.train_lora_params
        if lora is not None and (isinstance(lora, bool) or not isinstance(lora, int) or lora < 0):
            raise ValueError(f"train_lora_params={lora!r} must be a non-negative int (trainable LoRA parameters) "
                             "or None for full fine-tuning.")
        self.size_spec()

    def size_spec(self) -> tuple[str, Any]:
        """``(name, value)`` of the one size setting given, after validating it."""
        given = {n: v for n, v in (("k", self.k), ("fraction", self.fraction), ("budget_flops", self.budget_flops))
                 if v is not None}
        if len(given) > 1:
            raise ValueError(f"Give only one of k, fraction and budget_flops; got {sorted(given)}.")
        if not given:
            if self.strategy == "threshold":
                return ("all", None)
            raise ValueError("Give one of k=<rows>, fraction=<0..1> or budget_flops=<FLOPs> to size the selection.")
        name, value = next(iter(given.items()))
        if name == "k" and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"k must be an int, got {type(value).__name__}.")
        if name == "k" and value <= 0:
            raise ValueError(f"k={value} must be at least 1.")
        if name == "fraction":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"fraction must be a float, got {type(value).__name__}.")
            if not (0.0 < value <= 1.0) or math.isnan(value):
                raise ValueError(f"fraction={value} must be in (0, 1].")
        if name == "budget_flops":
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"budget_flops={value!r} must be a positive finite number of FLOPs.")
        return name, value
