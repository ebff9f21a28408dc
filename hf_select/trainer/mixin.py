"""``SelectionMixin``: make any ``transformers.Trainer`` subclass select its training rows before training.

Put the mixin first in the bases: ``class MyTrainer(SelectionMixin, transformers.Trainer)``. With ``selector=None`` and
``selection=None`` the class behaves exactly like its base. Otherwise, at construction it

1. validates the request (streaming data, packing with an ordering that needs row identity, a target-less
   target-aware selector, a budget smaller than the selection cost, re-selection with a selector that has no model);
2. runs :func:`hf_select.select` on ``train_dataset`` (filters, cache and strategy of the ``SelectionConfig``);
3. hands the base trainer only the selected rows (or, with ``refresh``, the filtered pool with a sampler over the
   selection), tagged with a ``hf_select_row`` column that is read back after the base prepared the data and then
   removed, so row identity survives tokenization and ``remove_unused_columns``;
4. adds a :class:`~hf_select.trainer.callbacks.FlopBudgetCallback` (FLOP tally, logs, budget stop) and, with
   ``refresh``, a :class:`~hf_select.trainer.callbacks.ReselectionCallback`.

After ``train()`` the measured cost summary is written to ``output_dir/hf_select_cost.json`` and into the model card.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import SelectionConfig
from ..cost.record import SelectionCost, hardware_info
from .callbacks import FlopBudgetCallback, ReselectionCallback, SelectionSampler, batch_lengths
from .card import add_to_card, write_summary

logger = logging.getLogger(__name__)
ROW_COLUMN = "hf_select_row"
FLOPS_CONVENTIONS = ("6N", "detailed")


@dataclass
class _SelectionState:
    config: SelectionConfig
    selector: Any
    pool: Any
    kept_rows: np.ndarray                      # pool rows left by the filters (ascending)
    history: list[Any] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)   # pool row -> position in the prepared train dataset
    lengths: np.ndarray | None = None          # prepared token count per train-dataset position
    sampler: SelectionSampler | None = None
    flops: FlopBudgetCallback | None = None
    reselector: ReselectionCallback | None = None
    convention: str = "6N"
    train_convention: str = "full"
    budget_flops: float | None = None
    selection_repo: str | None = None


def _selector_class(selector: Any) -> type:
    from ..selectors.base import Selector, get_selector_class

    if isinstance(selector, Selector):
        return type(selector)
    if isinstance(selector, str):
        return get_selector_class(selector)
    raise TypeError(f"selector must be a registered name or a Selector, got {type(selector).__name__}.")


def _config_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls.config_class)}


def _causal_lm_selectors() -> list[str]:
    from ..selectors.base import BUILTIN_SELECTORS, get_selector_class

    return [name for name in BUILTIN_SELECTORS if uses_causal_lm(get_selector_class(name))]


def uses_causal_lm(cls: type) -> bool:
    """Whether a selector scores with a causal LM that can be the model being trained (its config has ``model``).

    A selector says so with the class attribute ``uses_causal_lm = True`` (perplexity, ifd, color_filter, less).
    """
    return bool(getattr(cls, "uses_causal_lm", False)) and "model" in _config_fields(cls)


def _refresh_value(refresh: Any) -> str | int | None:
    if refresh is None or refresh == "epoch":
        return refresh
    if isinstance(refresh, str) and refresh.isdigit():
        refresh = int(refresh)
    if isinstance(refresh, int) and not isinstance(refresh, bool) and refresh > 0:
        return refresh
    raise ValueError(f"refresh={refresh!r}: use 'epoch' or a positive number of steps (or None).")


def _is_streaming(dataset: Any) -> bool:
    import datasets

    return isinstance(dataset, datasets.IterableDataset)


class SelectionMixin:
    """Selection-aware training for any ``transformers.Trainer`` subclass (see the module docstring).

    Extra constructor arguments:
        selector: a selector name or ``Selector`` (overrides ``selection.selector``).
        selection: a :class:`~hf_select.config.SelectionConfig` (target, k / fraction / budget_flops, strategy,
            filters, refresh, ordering, ...).
        flops_convention: ``"6N"`` (default) or ``"detailed"``, for the FLOP tally (see :mod:`hf_select.cost.flops`).
        selection_repo: Hub repo id of the pushed selection, linked from the model card.

    Attributes:
        selection: the current :class:`~hf_select.selection.SelectionResult` (``None`` without a selector).
        selection_history: every selection made (the first and each re-selection).
    """

    def __init__(self, *args: Any, selector: Any = None, selection: SelectionConfig | None = None,
                 flops_convention: str = "6N", selection_repo: str | None = None, **kwargs: Any) -> None:
        self._hs: _SelectionState | None = None
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

        bound = inspect.signature(super().__init__).bind_partial(*args, **kwargs)
        params = dict(bound.arguments)
        if isinstance(selection, SelectionResult):
            if selector is not None:
                raise TypeError("selection is a finished SelectionResult: do not also pass selector=.")
            state = self._adopt(selection, params)
        elif isinstance(selection, SelectionConfig):
            cfg = dataclasses.replace(selection, selector=selector if selector is not None else selection.selector,
                                      refresh=_refresh_value(selection.refresh))
            state = self._plan(cfg, params)
        else:
            raise TypeError("selection must be a hf_select.SelectionConfig (select now) or a SelectionResult (a "
                            f"selection already made), got {type(selection).__name__}.")
        state.convention, state.selection_repo, state.train_convention = (flops_convention, selection_repo,
                                                                          state.config.train_convention)
        super().__init__(**params)
        self._hs = state
        self._after_base_init()

    # -- construction ----------------------------------------------------------------------------------------------
    def _plan(self, cfg: SelectionConfig, params: dict[str, Any]) -> _SelectionState:
        from ..data.io import as_dataset
        from ..selection import select
        from ..selectors.base import get_selector

        train_dataset, args, model = params.get("train_dataset"), params.get("args"), params.get("model")
        if train_dataset is None:
            raise ValueError("train_dataset is required: it is the pool the selector chooses from.")
        if _is_streaming(train_dataset):
            raise TypeError("train_dataset is a streaming IterableDataset; selection scores every row before "
                            "training, so materialise the pool first, e.g. Dataset.from_list(list(ds.take(n))).")
        needs_rows = cfg.ordering == "score" or cfg.refresh is not None
        if getattr(args, "packing", False) and needs_rows:
            what = "ordering='score'" if cfg.ordering == "score" else f"refresh={cfg.refresh!r}"
            raise ValueError(f"packing=True merges rows into packed sequences, so {what} (which needs to know which "
                             "row each training example is) cannot work: set packing=False, or use "
                             "ordering='shuffle' without refresh.")
        cls = _selector_class(cfg.selector)
        if cls.requires_target and cfg.target is None:
            raise ValueError(f"Selector {cls.name!r} needs target examples: pass "
                             "SelectionConfig(target=<dataset, rows, texts or file>).")
        fields_, causal = _config_fields(cls), uses_causal_lm(cls)
        if cfg.refresh is not None and not causal:
            raise ValueError(f"refresh={cfg.refresh!r} re-scores with the model being trained, but selector "
                             f"{cls.name!r} does not score with a causal LM; use a model-based selector (e.g. "
                             f"{', '.join(_causal_lm_selectors())}) or refresh=None.")
        kwargs = dict(cfg.selector_kwargs)
        if causal and kwargs.get("model") is None and model is not None:
            kwargs["model"] = model
        if causal and "tokenizer" in fields_ and kwargs.get("tokenizer") is None \
                and params.get("processing_class") is not None:
            kwargs["tokenizer"] = params["processing_class"]
        if "cache_dir" in fields_ and cfg.cache_dir is not None and kwargs.get("cache_dir") is None:
            kwargs["cache_dir"] = cfg.cache_dir
        if cfg.budget_flops is not None and cfg.train_model is None:
            cfg = dataclasses.replace(cfg, train_model=getattr(model, "config", model))
        if cfg.budget_flops is not None and cfg.train_lora_params is None:
            from .lora import trainable_lora_params  # the budget prices LoRA training when peft will be used

            cfg = dataclasses.replace(cfg, train_lora_params=trainable_lora_params(model, params.get("peft_config")))
        pool = as_dataset(train_dataset, "train_dataset")
        if ROW_COLUMN in pool.column_names:
            pool = pool.remove_columns(ROW_COLUMN)
        sel = cfg.selector if not isinstance(cfg.selector, str) else get_selector(cfg.selector, **kwargs)
        if cfg.budget_flops is not None:
            estimate = sel.estimate_cost(pool, cfg.target).flops
            if estimate >= cfg.budget_flops:
                raise ValueError(f"budget_flops={cfg.budget_flops:.4g} is smaller than the estimated selection cost "
                                 f"of {sel.name!r} on {pool.num_rows} rows ({estimate:.4g} FLOPs): the minimum "
                                 f"budget is {estimate:.4g} FLOPs plus the training you want; raise budget_flops or "
                                 "pick a cheaper selector.")
        result = select(pool, sel, config=dataclasses.replace(cfg, selector_kwargs={}))
        if cfg.budget_flops is not None and result.cost.flops >= cfg.budget_flops:
            raise ValueError(f"budget_flops={cfg.budget_flops:.4g} is smaller than the selection cost "
                             f"({result.cost.flops:.4g} FLOPs); the minimum budget is {result.cost.flops:.4g} FLOPs "
                             "plus the training you want.")
        kept = np.flatnonzero(np.isfinite(result.scores)).astype(np.int64)
        rows = kept if cfg.refresh is not None else result.indices
        train = pool.select(rows).add_column(ROW_COLUMN, [int(r) for r in rows])
        params["train_dataset"] = train
        state = _SelectionState(config=cfg, selector=sel, pool=pool, kept_rows=kept, history=[result],
                                budget_flops=cfg.budget_flops)
        self.selection, self.selection_history = result, state.history
        return state

    def _adopt(self, result: Any, params: dict[str, Any]) -> _SelectionState:
        """Use a selection made earlier (e.g. ``SelectionResult.load`` or one of several fractions of one scoring)."""
        from ..data.io import as_dataset

        train_dataset = params.get("train_dataset")
        if train_dataset is None or _is_streaming(train_dataset):
            raise TypeError("train_dataset must be the (materialised) pool the SelectionResult was selected from.")
        pool = as_dataset(train_dataset, "train_dataset")
        if ROW_COLUMN in pool.column_names:
            pool = pool.remove_columns(ROW_COLUMN)
        if pool.num_rows != len(result.scores):
            raise ValueError(f"The selection scored {len(result.scores)} rows but train_dataset has {pool.num_rows}; "
                             "pass the pool it was selected from.")
        rows = result.indices
        params["train_dataset"] = pool.select(rows).add_column(ROW_COLUMN, [int(r) for r in rows])
        name = result.selector if isinstance(result.selector, str) else "unknown"
        cfg = SelectionConfig(selector=name, k=max(result.k, 1),
                              train_convention=result.config.get("train_convention") or "full")
        kept = np.flatnonzero(np.isfinite(result.scores)).astype(np.int64)
        state = _SelectionState(config=cfg, selector=None, pool=pool, kept_rows=kept, history=[result],
                                budget_flops=result.cost.budget_flops)
        self.selection, self.selection_history = result, state.history
        return state

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
        hs.flops = FlopBudgetCallback(self._flops_fn(), budget_flops=hs.budget_flops,
                                      selection_flops=self.selection.cost.flops)
        self.add_callback(hs.flops)
        if hs.config.refresh is not None:
            hs.reselector = ReselectionCallback(self.reselect, hs.config.refresh)
            self.add_callback(hs.reselector)
        if hasattr(self, "_tag_names") and "hf-select" not in self._tag_names:
            self._tag_names = [*self._tag_names, "hf-select"]
        logger.info("hf_select plan: %s", self.selection_plan())

    def _positions_of(self, pool_rows: Any) -> np.ndarray:
        pos = self._hs.positions
        return np.asarray([pos[int(r)] for r in pool_rows if int(r) in pos], dtype=np.int64)

    def _flops_fn(self):
        """Training FLOPs of a batch under the one training convention (hf_select.cost.flops.training_flops)."""
        from ..cost.flops import training_flops
        from .lora import is_peft_model, trainable_lora_params

        model = getattr(self, "model", None)
        convention, train_convention = self._hs.convention, self._hs.train_convention
        if train_convention == "lora" and not is_peft_model(model):
            raise ValueError("SelectionConfig(train_convention='lora') prices LoRA training (4N + 6L per token), but "
                             "the model has no LoRA adapters: pass peft_config=LoraConfig(...), or use 'full'.")
        peft = is_peft_model(model)
        config = model.get_base_model().config if peft else model.config
        lora = float(trainable_lora_params(model)) if peft else None
        return lambda lengths: training_flops(config, lengths, train_convention=train_convention, lora_params=lora,
                                              convention=convention)

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
            summary = self.cost_summary()
            if _is_trl_trainer(self):
                self.create_model_card()
            write_summary(self.args.output_dir, summary)
        return output

    def create_model_card(self, *args: Any, **kwargs: Any) -> Any:
        out = super().create_model_card(*args, **kwargs)
        if self._hs is not None and self.is_world_process_zero():
            readme = os.path.join(self.args.output_dir, "README.md")
            if os.path.exists(readme):
                add_to_card(readme, self.cost_summary())
        return out

    # -- re-selection ----------------------------------------------------------------------------------------------
    def reselect(self) -> Any:
        """Re-score the (filtered) pool with the current model and swap the sampler's subset; returns the result."""
        from ..selection import SelectionResult, select

        hs = self._hs
        if hs is None or hs.sampler is None:
            raise ValueError("reselect() needs a trainer built with a selector and SelectionConfig(refresh=...).")
        model = self.accelerator.unwrap_model(self.model)
        options = {f.name: getattr(hs.selector.config, f.name) for f in dataclasses.fields(hs.selector.config)}
        options["model"] = model
        was_training = model.training
        try:
            sel = type(hs.selector)(**options)
            cfg = dataclasses.replace(hs.config, selector=sel, selector_kwargs={}, k=self.selection.k, fraction=None,
                                      budget_flops=None, filters=[], train_model=None)
            sub = select(hs.pool.select(hs.kept_rows), sel, config=cfg)
        finally:
            model.train(was_training)
        scores = np.full(hs.pool.num_rows, -np.inf)
        scores[hs.kept_rows] = sub.scores
        result = SelectionResult(indices=hs.kept_rows[sub.indices], scores=scores, cost=sub.cost,
                                 config={**sub.config, "reselection": len(hs.history)},
                                 provenance=self.selection.provenance, dataset=hs.pool)
        hs.history.append(result)
        self.selection = result
        hs.flops.add_selection(result.cost.flops)
        hs.sampler.set_positions(self._positions_of(result.indices))
        logger.info("hf_select re-selection %d at step %d: %d rows changed, %.3g FLOPs", len(hs.history) - 1,
                    self.state.global_step, self.selection.k - len(set(result.indices) & set(hs.history[-2].indices)),
                    result.cost.flops)
        return result

    # -- reporting -------------------------------------------------------------------------------------------------
    def selection_plan(self) -> dict[str, Any]:
        hs, res = self._hs, self.selection
        return {"selector": res.selector, "num_selected": res.k, "pool_rows": int(len(res.scores)),
                "fraction": res.k / max(len(res.scores), 1), "selection_flops": res.cost.flops,
                "selection_seconds": res.cost.seconds, "budget_flops": hs.budget_flops,
                "train_flops_predicted": self.predicted_train_flops(), "ordering": hs.config.ordering,
                "refresh": hs.config.refresh, "filter_drops": res.config.get("filter_drops", {})}

    def predicted_train_flops(self) -> float | None:
        """Training FLOPs predicted from the prepared token counts of the selection and the planned steps."""
        hs = self._hs
        if hs is None or hs.lengths is None:
            return None
        # with a sampler the train dataset is the filtered pool; without, it is exactly the selection
        positions = self._positions_of(self.selection.indices) if hs.sampler is not None else np.arange(len(hs.lengths))
        if len(positions) == 0:
            return 0.0
        per_epoch = float(self._flops_fn()(hs.lengths[positions].tolist()))
        args = self.args
        if args.max_steps is not None and args.max_steps > 0:
            seen = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps \
                * max(args.world_size, 1)
            return per_epoch * seen / len(positions)
        return per_epoch * float(args.num_train_epochs)

    def cost_summary(self) -> dict[str, Any]:
        """Predicted vs measured FLOPs, seconds, tokens and hardware of this run (what goes to the card)."""
        hs = self._hs
        if hs is None:
            raise ValueError("cost_summary() needs a trainer built with a selector.")
        cost = SelectionCost()
        for i, res in enumerate(hs.history):
            cost.merge(res.cost, prefix="" if i == 0 else f"reselection{i}/")
        flops = hs.flops
        plan = self.selection_plan()
        return {**plan, "selection_flops": cost.flops, "selection_seconds": cost.seconds,
                "reselections": len(hs.history) - 1, "train_flops_measured": flops.train_flops,
                "total_flops": flops.total_flops, "budget_stop_step": flops.stop_step,
                "stopped_by_budget": flops.stopped_by_budget, "train_seconds": flops.train_seconds,
                "train_tokens": flops.train_tokens, "train_examples": flops.train_examples,
                "global_step": int(self.state.global_step), "flops_convention": hs.convention,
                "train_convention": hs.train_convention,
                "hardware": hardware_info(getattr(self.args, "device", None)), "selection_repo": hs.selection_repo,
                "selection_stages": [dataclasses.asdict(s) for s in cost.stages],
                "selection_config": hs.history[0].config}


def _is_trl_trainer(trainer: Any) -> bool:
    return any(c.__module__.startswith("trl.") for c in type(trainer).__mro__)
