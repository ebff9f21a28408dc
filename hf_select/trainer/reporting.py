"""Reporting of a selective training run: the init log line, the FLOP convention used, the cost summary.

- :func:`training_flop_counter` is the one place the trainer reads the training-FLOP convention
  (``SelectionConfig.train_convention``, :mod:`hf_select.cost.convention`: ``full`` = 6N per token, the paper's, also
  for LoRA runs; ``lora`` = 4N + 6L for LoRA on a frozen base) and prices with
  :func:`hf_select.cost.flops.training_flops`; it returns the FLOP function and the label the summary and card print.
- :func:`selection_line` is the line logged at trainer init ("kept 15 of 300 rows, bm25, 2.100 s, 0 FLOPs").
- :class:`CostSummary` is what ``trainer.cost_summary()`` returns: ``print()`` it for a table, ``to_dict()`` for JSON.

``transformers``' own ``state.total_flos`` is a different count, kept next to ours (:data:`TOTAL_FLOS_NOTE`).

Example:
    >>> s = CostSummary(selector="bm25", num_selected=15, pool_rows=300, selection_flops=0.0, selection_seconds=2.1,
    ...                 train_flops_measured=3.15e12, total_flops=3.15e12)
    >>> print(str(s).splitlines()[2])
    rows selected / pool                15 / 300 (5.0 %)
    >>> s.to_dict()["train_flops_measured"]
    3150000000000.0
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..cost.convention import describe_train_convention
from ..cost.formatting import format_count, format_flops, format_seconds

LOGGER_NAME = "hf_select"
logger = logging.getLogger(__name__)
COUNTING = {"6N": "all parameters, embeddings included ('6N' counting)",
            "detailed": "matmul parameters plus the attention term ('detailed' counting)"}
TOTAL_FLOS_NOTE = ("transformers' total_flos counts 6 x non-embedding parameters (LoRA adapters and frozen weights "
                   "alike) x every input position, padding included; hf_select counts real tokens with the "
                   "convention above, so the two differ by design.")


def training_flop_counter(model: Any, convention: str,
                          train_convention: str) -> tuple[Callable[[list[int]], float], str]:
    """``(lengths -> training FLOPs, label)`` for ``model`` under the training convention (``full`` / ``lora``; a
    peft model's adapter size is ``L``) with ``N`` counted by ``convention`` (``"6N"`` / ``"detailed"``)."""
    from ..cost.convention import describe_train_convention
    from ..cost.flops import training_flops
    from .lora import is_peft_model, trainable_lora_params

    peft = is_peft_model(model)
    if train_convention == "lora" and not peft:
        raise ValueError("SelectionConfig(train_convention='lora') prices LoRA training (4N + 6L per token), but the "
                         "model has no LoRA adapters: pass peft_config=LoraConfig(...), or use 'full'.")
    config = model.get_base_model().config if peft else model.config
    lora = float(trainable_lora_params(model)) if peft else None
    return (lambda lengths: training_flops(config, lengths, train_convention=train_convention, lora_params=lora,
                                           convention=convention),
            describe_train_convention(train_convention))


def selection_line(result: Any) -> str:
    """One line on a selection: ``kept 15 of 300 rows, bm25, 2.100 s, 0 FLOPs`` (+ filter drops)."""
    line = (f"kept {format_count(result.k)} of {format_count(len(result.scores))} rows, {result.selector}, "
            f"{format_seconds(result.cost.seconds)}, {format_flops(result.cost.flops)} FLOPs")
    drops = sum((result.config.get("filter_drops") or {}).values())
    return line + (f" ({format_count(drops)} rows dropped by filters)" if drops else "")


def announce(message: str) -> None:
    """Log ``message`` at INFO on the ``hf_select`` logger, shown by default (as transformers' library logger does).

    The logger gets a stderr handler at INFO only when logging is not configured at all (no handler on it or on the
    root logger); silence it with ``logging.getLogger("hf_select").setLevel(logging.WARNING)``.
    """
    root = logging.getLogger(LOGGER_NAME)
    if not root.handlers and root.level == logging.NOTSET and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"[{LOGGER_NAME}] %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    logger.info(message)


@dataclass
class CostSummary:
    """Predicted vs measured FLOPs, seconds and tokens of a selective training run (``trainer.cost_summary()``)."""

    selector: str
    num_selected: int
    pool_rows: int
    selection_flops: float = 0.0
    selection_seconds: float = 0.0
    train_flops_measured: float = 0.0
    total_flops: float = 0.0
    train_convention: str = "full"
    flops_convention: str = "6N"
    train_flops_predicted: float | None = None
    budget_flops: float | None = None
    stopped_by_budget: bool = False
    budget_stop_step: int | None = None
    reselections: int = 0
    train_seconds: float = 0.0
    train_tokens: int = 0
    train_examples: int = 0
    global_step: int = 0
    transformers_total_flos: float | None = None
    total_flos_note: str = TOTAL_FLOS_NOTE
    ordering: str = "shuffle"
    refresh: str | int | None = None
    filter_drops: dict[str, int] = field(default_factory=dict)
    selection_repo: str | None = None
    base_model: str | None = None
    hardware: dict[str, Any] = field(default_factory=dict)
    selection_stages: list[dict[str, Any]] = field(default_factory=list)
    selection_config: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.num_selected / max(self.pool_rows, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fraction": self.fraction}

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows of the summary table (the card and ``str()`` show these)."""
        rows = [
            ("selector", self.selector),
            ("rows selected / pool", f"{format_count(self.num_selected)} / {format_count(self.pool_rows)} "
                                     f"({100 * self.fraction:.1f} %)"),
            ("selection FLOPs", format_flops(self.selection_flops)),
            ("selection time", format_seconds(self.selection_seconds)),
            ("re-selections", str(self.reselections)),
            ("training FLOPs (predicted)", format_flops(self.train_flops_predicted)),
            ("training FLOPs (measured)", format_flops(self.train_flops_measured)),
            ("total FLOPs (selection + training)", format_flops(self.total_flops)),
            ("training FLOP convention", describe_train_convention(self.train_convention)),
            ("parameters counted (N)", COUNTING[self.flops_convention]),
            ("transformers total_flos", format_flops(self.transformers_total_flos)),
            ("training time", format_seconds(self.train_seconds)),
            ("training tokens / examples / steps", f"{format_count(self.train_tokens)} / "
                                                   f"{format_count(self.train_examples)} / {format_count(self.global_step)}"),
        ]
        if self.budget_flops is not None:
            rows.append(("budget FLOPs", format_flops(self.budget_flops)))
            rows.append(("stopped by budget", f"at step {self.budget_stop_step}" if self.stopped_by_budget else "no"))
        return rows

    def __str__(self) -> str:
        width = max(len(label) for label, _ in self.rows())
        lines = ["hf_select cost summary"] + [f"{label:<{width}}  {value}" for label, value in self.rows()]
        return "\n".join(lines + [f"note: {self.total_flos_note}"])


def predicted_train_flops(trainer: Any) -> float | None:
    """Training FLOPs predicted from the prepared token counts of the selection and the planned steps."""
    import numpy as np

    hs = trainer._hs
    if hs is None or hs.lengths is None:
        return None
    # with a sampler the train dataset is the filtered pool; without, it is exactly the selection
    positions = trainer._positions_of(trainer.selection.indices) if hs.sampler is not None \
        else np.arange(len(hs.lengths))
    if len(positions) == 0:
        return 0.0
    flops_fn, _ = training_flop_counter(trainer.model, hs.convention, hs.train_convention)
    per_epoch = float(flops_fn(hs.lengths[positions].tolist()))
    args = trainer.args
    if args.max_steps is not None and args.max_steps > 0:
        seen = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps \
            * max(args.world_size, 1)
        return per_epoch * seen / len(positions)
    return per_epoch * float(args.num_train_epochs)


def cost_summary(trainer: Any, *, base_model: str | None = None) -> CostSummary:
    """The :class:`CostSummary` of ``trainer`` now (selection history, FLOP tally, training state)."""
    from ..cost.record import SelectionCost, hardware_info

    hs, res = trainer._hs, trainer.selection
    cost = SelectionCost()
    for i, past in enumerate(hs.history):
        cost.merge(past.cost, prefix="" if i == 0 else f"reselection{i}/")
    tally = hs.flops
    return CostSummary(
        selector=str(res.selector), num_selected=int(res.k), pool_rows=int(len(res.scores)),
        selection_flops=cost.flops, selection_seconds=cost.seconds, train_flops_measured=tally.train_flops,
        total_flops=tally.total_flops, train_convention=hs.train_convention,
        flops_convention=hs.convention, train_flops_predicted=predicted_train_flops(trainer),
        budget_flops=hs.budget_flops, stopped_by_budget=tally.stopped_by_budget, budget_stop_step=tally.stop_step,
        reselections=len(hs.history) - 1, train_seconds=tally.train_seconds, train_tokens=tally.train_tokens,
        train_examples=tally.train_examples, global_step=int(trainer.state.global_step),
        transformers_total_flos=float(getattr(trainer.state, "total_flos", 0.0) or 0.0),
        ordering=hs.config.ordering, refresh=hs.config.refresh, filter_drops=dict(res.config.get("filter_drops", {})),
        selection_repo=hs.selection_repo, base_model=base_model,
        hardware=hardware_info(getattr(trainer.args, "device", None)),
        selection_stages=[asdict(s) for s in cost.stages], selection_config=hs.history[0].config)
