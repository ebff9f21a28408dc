"""``SelectionMixin``: make any ``transformers.Trainer`` subclass select its training rows before training.

Put the mixin first in the bases: ``class MyTrainer(SelectionMixin, transformers.Trainer)``. With ``selector=None`` and
``selection=None`` the class behaves exactly like its base. Otherwise, at construction it

1. plans the selection (:mod:`hf_select.trainer.planning`: validation, :func:`hf_select.select`, the rows handed to
   the base trainer, tagged so row identity survives tokenization and ``remove_unused_columns``);
2. logs one line ("kept 15 of 300 rows, bm25, 2.100 s, 0 FLOPs") on the ``hf_select`` logger;
3. adds a :class:`~hf_select.trainer.callbacks.FlopBudgetCallback` (FLOP tally, logs, budget stop) and, with
   ``refresh``, a :class:`~hf_select.trainer.callbacks.ReselectionCallback` (:mod:`hf_select.trainer.reselection`).

After ``train()`` the cost summary (:mod:`hf_select.trainer.reporting`) is written to ``output_dir/hf_select_cost.json``
and into the model card, which keeps its ``model_name``, the ``hf-select`` tag and a public ``base_model`` after every
save, PEFT saves included (:mod:`hf_select.trainer.card`).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np

from ..config import SelectionConfig
from .callbacks import FlopBudgetCallback, ReselectionCallback, SelectionSampler, batch_lengths
from .card import TAG, base_config, default_model_name, finalize_card, public_base_model, public_model_id, write_summary
from .planning import ROW_COLUMN, SelectionState, adopt_selection, plan_selection, uses_causal_lm
from .reporting import (CostSummary, announce, cost_summary, predicted_train_flops, selection_line,
                        training_flop_counter)

FLOPS_CONVENTIONS = ("6N", "detailed")
__all__ = ["FLOPS_CONVENTIONS", "ROW_COLUMN", "SelectionMixin", "uses_causal_lm"]


class SelectionMixin:
    """Selection-aware training for any ``transformers.Trainer`` subclass (see the module docstring).

    Extra constructor arguments:
        selector: a selector name or ``Selector`` (overrides ``selection.selector``).
        selection: a :class:`~hf_select.config.SelectionConfig` (target, k / fraction / budget_flops, strategy,
            filters, refresh, ordering, ...), or a finished :class:`~hf_select.SelectionResult` to train on.
        flops_convention: ``"6N"`` (default) or ``"detailed"``: what ``N`` counts in the FLOP tally (see
            :mod:`hf_select.cost.flops`); the training convention (``full`` 6N / ``lora`` 4N + 6L per token) is
            ``selection.train_convention``.
        selection_repo: Hub repo id of the pushed selection, linked from the model card.

    Attributes:
        selection: the current :class:`~hf_select.selection.SelectionResult` (``None`` without a selector).
        selection_history: every selection made (the first and each re-selection).
    """

    def __init__(self, *args: Any, selector: Any = None, selection: SelectionConfig | None = None,
                 flops_convention: str = "6N", selection_repo: str | None = None, **kwargs: Any) -> None:
        self._hs: SelectionState | None = None
        self.selection = None
        self.selection_history: list[Any] = []
        if selector is None and selection is None:
            super().__init__(*args, **kwargs)
            return
        if flops_convention not in FLOPS_CONVENTIONS:
            raise ValueError(f"flops_convention={flops_convention!r}: use one of {FLOPS_CONVENTIONS}.")
        if selection is None:
            raise ValueError("selector= was given without selection=SelectionConfig(...): say how much to keep, e.g. "
                             "selection=SelectionConfig(fraction=0.1) (or k=..., budget_flops=...).")
        from ..selection import SelectionResult

        params = dict(inspect.signature(super().__init__).bind_partial(*args, **kwargs).arguments)
        if isinstance(selection, SelectionResult):
            if selector is not None:
                raise TypeError("selection is a finished SelectionResult: do not also pass selector=.")
            state = adopt_selection(selection, params)
        elif isinstance(selection, SelectionConfig):
            cfg = dataclasses.replace(selection, selector=selector if selector is not None else selection.selector)
            state = plan_selection(cfg, params)
        else:
            raise TypeError("selection must be a hf_select.SelectionConfig (select now) or a SelectionResult (a "
                            f"selection already made), got {type(selection).__name__}.")
        state.convention, state.selection_repo = flops_convention, selection_repo
        self.selection, self.selection_history = state.history[0], state.history
        self._tag_names = [*getattr(self, "_tag_names", []), TAG]  # TRL tags the model and its card with these
        super().__init__(**params)
        self._hs = state
        self._after_base_init()

    def _after_base_init(self) -> None:
        hs = self._hs
        ds = self.train_dataset
        if ROW_COLUMN in getattr(ds, "column_names", []):
            rows = np.asarray(ds[ROW_COLUMN], dtype=np.int64)
            hs.positions = {int(r): i for i, r in enumerate(rows)}
            if "input_ids" in ds.column_names:
                hs.lengths = np.asarray([len(x) for x in ds["input_ids"]], dtype=np.int64)
            self.train_dataset = ds.remove_columns(ROW_COLUMN)
        elif hs.config.ordering == "score" or hs.config.refresh is not None:
            raise ValueError(f"The trainer's data preparation dropped the {ROW_COLUMN!r} column, so rows cannot be "
                             "ordered or re-selected; use ordering='shuffle' and refresh=None.")
        if hs.config.refresh is not None or hs.config.ordering == "score":
            hs.sampler = SelectionSampler(self._positions_of(self.selection.indices),
                                          shuffle=hs.config.ordering == "shuffle", seed=self.args.seed)
        flops_fn, _ = training_flop_counter(self.model, hs.convention, hs.train_convention)
        hs.flops = FlopBudgetCallback(flops_fn, budget_flops=hs.budget_flops, selection_flops=self.selection.cost.flops)
        self.add_callback(hs.flops)
        if hs.config.refresh is not None:
            hs.reselector = ReselectionCallback(self.reselect, hs.config.refresh)
            self.add_callback(hs.reselector)
        if hasattr(self.model, "add_model_tags"):  # kept by PEFT's card too (it reads the base model's tags)
            self.model.add_model_tags([TAG])
        if self.is_world_process_zero():
            announce(selection_line(self.selection))

    def _positions_of(self, pool_rows: Any) -> np.ndarray:
        pos = self._hs.positions
        return np.asarray([pos[int(r)] for r in pool_rows if int(r) in pos], dtype=np.int64)

    # -- trainer hooks ---------------------------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if self._hs is not None and self._hs.sampler is not None:
            return self._hs.sampler
        return super()._get_train_sampler(train_dataset)

    def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if self._hs is not None and self._hs.flops is not None:
            self._hs.flops.observe(batch_lengths(inputs))
        return super().training_step(model, inputs, *args, **kwargs)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._hs is not None and self._hs.flops is not None:
            logs.update(self._hs.flops.logs())
        super().log(logs, *args, **kwargs)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        output = super().train(*args, **kwargs)
        if self._hs is not None and self.is_world_process_zero():
            write_summary(self.args.output_dir, self.cost_summary())
            if _is_trl_trainer(self):
                self.create_model_card()  # TRL writes its card on checkpoints only; the run's card gets the cost
            else:
                self._finalize_card(self.args.output_dir)
        return output

    def create_model_card(self, *args: Any, **kwargs: Any) -> Any:
        if self._hs is None:
            return super().create_model_card(*args, **kwargs)
        if not args:  # keyword call (TRL's and transformers' own callers use keywords)
            kwargs.setdefault("model_name", default_model_name(self.args))
        with public_base_model(self.model):
            out = super().create_model_card(*args, **kwargs)
        if self.is_world_process_zero():
            self._finalize_card(self.args.output_dir)
        return out

    def _save(self, output_dir: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if self._hs is None:
            return super()._save(output_dir, *args, **kwargs)
        out = super()._save(output_dir, *args, **kwargs)
        if self.is_world_process_zero():  # adapter_config.json and PEFT's card get the public base model
            self._finalize_card(output_dir if output_dir is not None else self.args.output_dir)
        return out

    def _finalize_card(self, output_dir: str) -> None:
        finalize_card(output_dir, self.cost_summary(), model_name=default_model_name(self.args),
                      local_path=getattr(base_config(self.model), "_name_or_path", None))

    # -- re-selection and reporting --------------------------------------------------------------------------------
    def reselect(self) -> Any:
        """Re-score the (filtered) pool with the current model and swap the sampler's subset; returns the result."""
        from .reselection import reselect

        return reselect(self)

    def predicted_train_flops(self) -> float | None:
        """Training FLOPs predicted from the prepared token counts of the selection and the planned steps."""
        return predicted_train_flops(self)

    def cost_summary(self) -> CostSummary:
        """Selection and training cost of this run: ``print()`` it for a table, ``.to_dict()`` for JSON.

        ``total_flops`` is hf_select's count (selection + training, in the convention ``flops_convention`` names);
        ``transformers_total_flos`` is transformers' ``state.total_flos``, which counts differently (see the note).
        """
        if self._hs is None:
            raise ValueError("cost_summary() needs a trainer built with a selector.")
        config = base_config(self.model)
        return cost_summary(self, base_model=public_model_id(getattr(config, "_name_or_path", None)))


def _is_trl_trainer(trainer: Any) -> bool:
    return any(c.__module__.startswith("trl.") for c in type(trainer).__mro__)
