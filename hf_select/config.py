"""``SelectionConfig``: everything that decides a selection, as one dataclass, parseable by ``HfArgumentParser``.

Dict and list options also accept JSON strings (as ``transformers.TrainingArguments`` does for its dict options), so
the same dataclass is a Python config, a YAML section and a set of command-line flags (``hf-select sft`` parses it with
``trl.TrlParser`` next to ``SFTConfig``).

Example:
    >>> from hf_select import SelectionConfig
    >>> cfg = SelectionConfig(selector="bm25", fraction=0.1)
    >>> cfg.size_spec()
    ('fraction', 0.1)
    >>> SelectionConfig(selector="embedding", k=5, selector_kwargs='{"aggregate": "max"}').selector_kwargs
    {'aggregate': 'max'}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .strategies import STRATEGIES, describe_strategies

ORDERINGS = ("shuffle", "score")
REFRESH_EPOCH = "epoch"
_JSON_EXAMPLES = {dict: '{"aggregate": "max"}', list: '[{"name": "malformed"}]'}


def parse_json_option(value: Any, name: str, kind: type) -> Any:
    """``value`` as a ``kind`` (``dict`` or ``list``): kept when it already is one, parsed when it is a JSON string.

    ``None`` gives an empty ``kind``. Anything else is a ``ValueError`` naming the option and the expected form.

    Example:
        >>> parse_json_option('{"k1": 1.2}', "selector_kwargs", dict)
        {'k1': 1.2}
        >>> parse_json_option(None, "filters", list)
        []
    """
    if value is None:
        return kind()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"{name} must be a JSON {kind.__name__}, e.g. {_JSON_EXAMPLES[kind]}; got {value!r} "
                             f"({err}).") from None
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__} (or a JSON string of one), got {type(value).__name__}.")
    return value


def parse_refresh(refresh: Any) -> str | int | None:
    """``None``, ``"epoch"`` or a positive number of steps (digit strings from YAML / the command line accepted)."""
    if refresh is None or refresh == REFRESH_EPOCH:
        return refresh
    if isinstance(refresh, str) and refresh.isdigit():
        refresh = int(refresh)
    if isinstance(refresh, int) and not isinstance(refresh, bool) and refresh > 0:
        return refresh
    raise ValueError(f"refresh={refresh!r}: use 'epoch' or a positive number of steps (or None).")


def _number_or_path(value: Any) -> Any:
    """A command-line ``train_model`` like ``"7e9"`` is a parameter count unless a file or folder has that name."""
    if isinstance(value, str) and not os.path.exists(value):
        try:
            return float(value)
        except ValueError:
            return value
    return value


@dataclass
class SelectionConfig:
    """How to select a subset of a pool: the selector, how many rows, how scores become a selection.

    At most one of ``k``, ``fraction`` and ``budget_flops`` may be given; selecting needs exactly one
    (``strategy="threshold"`` may give none), which :meth:`size_spec` checks. Type hints put ``str`` where the
    command line passes JSON or a path, so ``HfArgumentParser(SelectionConfig)`` parses every field.
    """

    selector: str = field(default="bm25",
                          metadata={"help": "Registered selector name (see hf_select.list_selectors())."})
    selector_kwargs: dict[str, Any] | str | None = field(
        default_factory=dict,
        metadata={"help": 'Options of the selector\'s config: a dict, or a JSON string like \'{"aggregate": "max"}\'.'},
    )
    target: Any | str | None = field(
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
    strategy_kwargs: dict[str, Any] | str | None = field(
        default_factory=dict,
        metadata={"help": 'Strategy options: a dict, or a JSON string like \'{"low": 0.33, "high": 0.66}\' for '
                          "'band'."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the selector and of randomised strategies (hf-select sft: "
                                                   "the one --seed of training and selection)."})
    train_model: Any | str | None = field(
        default=None,
        metadata={"help": "Model to be trained, for budgeted selection: a parameter count, a transformers config, "
                          "or a local path holding config.json."},
    )
    train_epochs: float = field(default=1.0, metadata={"help": "Epochs of training the budget must pay for."})
    train_lora_params: int | None = field(
        default=None,
        metadata={"help": "Trainable LoRA parameters of the training; used by train_convention='lora' (4N + 6 * "
                          "lora_params FLOPs per token). SelectiveSFTTrainer fills it in from its peft_config."},
    )
    train_convention: str = field(
        default="full",
        metadata={"help": "Training-FLOP convention of the budget and the trainer's FLOP tally: 'full' (6N per token, "
                          "the paper's, also for LoRA runs) or 'lora' (4N + 6 * train_lora_params per token); see "
                          "hf_select.cost.convention."},
    )
    filters: list[Any] | str | None = field(
        default_factory=list,
        metadata={"help": 'Filters applied before scoring: hf_select.filters objects, {"name": ...} dicts, or a JSON '
                          'list like \'[{"name": "malformed"}, {"name": "exact_dedup"}]\'.'},
    )
    columns: dict[str, str] | str | None = field(
        default=None, metadata={"help": "Rename pool columns to TRL names before reading them: a dict or a JSON string "
                                        "like '{\"question\": \"prompt\", \"answer\": \"completion\"}'."})
    target_columns: dict[str, str] | str | None = field(
        default=None, metadata={"help": "The same for the target examples."})
    refresh: int | str | None = field(
        default=None,
        metadata={"help": "Trainer only: re-select every 'epoch' or every N steps (model-based selectors)."},
    )
    ordering: str = field(
        default="shuffle", metadata={"help": f"Trainer only: order of the subset during training, one of {ORDERINGS}."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where model-based selectors cache scores."})

    def __post_init__(self) -> None:
        self.selector_kwargs = parse_json_option(self.selector_kwargs, "selector_kwargs", dict)
        self.strategy_kwargs = parse_json_option(self.strategy_kwargs, "strategy_kwargs", dict)
        self.filters = parse_json_option(self.filters, "filters", list)
        for name in ("columns", "target_columns"):  # None stays None: no renaming
            if getattr(self, name) is not None:
                setattr(self, name, parse_json_option(getattr(self, name), name, dict))
        self.refresh = parse_refresh(self.refresh)
        self.train_model = _number_or_path(self.train_model)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r} is not known; use one of {STRATEGIES}.")
        if self.ordering not in ORDERINGS:
            raise ValueError(f"ordering={self.ordering!r} is not known; use one of {ORDERINGS}.")
        from .cost.convention import check_train_convention

        check_train_convention(self.train_convention)
        lora = self.train_lora_params
        if lora is not None and (isinstance(lora, bool) or not isinstance(lora, int) or lora < 0):
            raise ValueError(f"train_lora_params={lora!r} must be a non-negative int (trainable LoRA parameters) "
                             "or None for full fine-tuning.")
        if self.is_sized():
            self.size_spec()

    def is_sized(self) -> bool:
        """Whether a size is given (``k``, ``fraction`` or ``budget_flops``) or the strategy sets it (threshold)."""
        return self.strategy == "threshold" or any(v is not None for v in (self.k, self.fraction, self.budget_flops))

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
