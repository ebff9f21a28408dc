"""Planning a selective training run: validate the request, select (or adopt a selection), hand the rows to the trainer.

What :class:`~hf_select.trainer.mixin.SelectionMixin` does before the base trainer's ``__init__``:

1. validate the request before any model pass (streaming data, packing with an ordering that needs row identity, a
   target-less target-aware selector, a selection size, a budget smaller than the selection cost, re-selection with a
   selector that has no model);
2. run :func:`hf_select.select` on ``train_dataset`` (filters built with the trainer's tokenizer, cache and strategy
   of the ``SelectionConfig``), or adopt a finished ``SelectionResult``;
3. replace ``train_dataset`` by the selected rows (or, with ``refresh``, the filtered pool), tagged with a
   :data:`ROW_COLUMN` column so row identity survives the trainer's tokenization.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import SelectionConfig

ROW_COLUMN = "hf_select_row"


@dataclass
class SelectionState:
    """Everything the selective trainer keeps about its selection (one object, ``trainer._hs``)."""

    config: SelectionConfig
    selector: Any
    pool: Any
    kept_rows: np.ndarray                      # pool rows left by the filters (ascending)
    history: list[Any] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)   # pool row -> position in the prepared train dataset
    lengths: np.ndarray | None = None          # prepared token count per train-dataset position
    sampler: Any = None                        # SelectionSampler with refresh or ordering="score"
    flops: Any = None                          # FlopBudgetCallback
    reselector: Any = None                     # ReselectionCallback
    convention: str = "6N"                     # what N counts (hf_select.cost.flops): "6N" or "detailed"
    train_convention: str = "full"             # training FLOPs per token (hf_select.cost.convention): full | lora
    budget_flops: float | None = None
    selection_repo: str | None = None


def selector_class(selector: Any) -> type:
    from ..selectors.base import Selector, get_selector_class

    if isinstance(selector, Selector):
        return type(selector)
    if isinstance(selector, str):
        return get_selector_class(selector)
    raise TypeError(f"selector must be a registered name or a Selector, got {type(selector).__name__}.")


def config_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls.config_class)}


def uses_causal_lm(cls: type) -> bool:
    """Whether a selector scores with a causal LM that can be the model being trained (its config has ``model``).

    A selector says so with the class attribute ``uses_causal_lm = True`` (perplexity, ifd, color_filter, less).
    """
    return bool(getattr(cls, "uses_causal_lm", False)) and "model" in config_fields(cls)


def causal_lm_selectors() -> list[str]:
    from ..selectors.base import BUILTIN_SELECTORS, get_selector_class

    return [name for name in BUILTIN_SELECTORS if uses_causal_lm(get_selector_class(name))]


def is_streaming(dataset: Any) -> bool:
    import datasets

    return isinstance(dataset, datasets.IterableDataset)


def _pool(train_dataset: Any) -> Any:
    from ..data.io import as_dataset

    pool = as_dataset(train_dataset, "train_dataset")
    return pool.remove_columns(ROW_COLUMN) if ROW_COLUMN in pool.column_names else pool


def _tag_rows(pool: Any, rows: np.ndarray) -> Any:
    return pool.select(rows).add_column(ROW_COLUMN, [int(r) for r in rows])


def _validate(cfg: SelectionConfig, params: dict[str, Any]) -> type:
    """Every cheap check of a selection request, before any model pass; returns the selector class."""
    train_dataset, args = params.get("train_dataset"), params.get("args")
    if train_dataset is None:
        raise ValueError("train_dataset is required: it is the pool the selector chooses from.")
    if is_streaming(train_dataset):
        raise TypeError("train_dataset is a streaming IterableDataset; selection scores every row before "
                        "training, so materialise the pool first, e.g. Dataset.from_list(list(ds.take(n))).")
    cfg.size_spec()
    needs_rows = cfg.ordering == "score" or cfg.refresh is not None
    if getattr(args, "packing", False) and needs_rows:
        what = "ordering='score'" if cfg.ordering == "score" else f"refresh={cfg.refresh!r}"
        raise ValueError(f"packing=True merges rows into packed sequences, so {what} (which needs to know which "
                         "row each training example is) cannot work: set packing=False, or use "
                         "ordering='shuffle' without refresh.")
    cls = selector_class(cfg.selector)
    if cls.requires_target and cfg.target is None:
        raise ValueError(f"Selector {cls.name!r} needs target examples: pass "
                         "SelectionConfig(target=<dataset, rows, texts or file>).")
    if cfg.refresh is not None and not uses_causal_lm(cls):
        raise ValueError(f"refresh={cfg.refresh!r} re-scores with the model being trained, but selector "
                         f"{cls.name!r} does not score with a causal LM; use a model-based selector (e.g. "
                         f"{', '.join(causal_lm_selectors())}) or refresh=None.")
    return cls


def _selector_options(cfg: SelectionConfig, cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """The selector's options; a model-based selector scores with the model being trained and its tokenizer."""
    fields_, causal = config_fields(cls), uses_causal_lm(cls)
    kwargs = dict(cfg.selector_kwargs)
    model, tokenizer = params.get("model"), params.get("processing_class")
    if causal and kwargs.get("model") is None and model is not None:
        kwargs["model"] = model
    if causal and "tokenizer" in fields_ and kwargs.get("tokenizer") is None and tokenizer is not None:
        kwargs["tokenizer"] = tokenizer
    if "cache_dir" in fields_ and cfg.cache_dir is not None and kwargs.get("cache_dir") is None:
        kwargs["cache_dir"] = cfg.cache_dir
    return kwargs


def plan_selection(cfg: SelectionConfig, params: dict[str, Any]) -> SelectionState:
    """Validate, select on ``params["train_dataset"]`` and replace it by the tagged rows to train on."""
    from ..data.filters import build_filters
    from ..selection import select
    from ..selectors.base import get_selector

    cls = _validate(cfg, params)
    model = params.get("model")
    if cfg.filters:  # {"name": ...} specs (YAML, command line) get the trainer's tokenizer
        cfg = dataclasses.replace(cfg, filters=build_filters(cfg.filters, tokenizer=params.get("processing_class")))
    if cfg.budget_flops is not None and cfg.train_model is None:
        cfg = dataclasses.replace(cfg, train_model=getattr(model, "config", model))
    if cfg.budget_flops is not None and cfg.train_lora_params is None:
        from .lora import trainable_lora_params  # the budget prices LoRA training when peft will be used

        cfg = dataclasses.replace(cfg, train_lora_params=trainable_lora_params(model, params.get("peft_config")))
    pool = _pool(params["train_dataset"])
    sel = cfg.selector if not isinstance(cfg.selector, str) else get_selector(cfg.selector,
                                                                              **_selector_options(cfg, cls, params))
    if cfg.budget_flops is not None:
        _check_budget(cfg.budget_flops, sel.estimate_cost(pool, cfg.target).flops,
                      f"the estimated selection cost of {sel.name!r} on {pool.num_rows} rows")
    result = select(pool, sel, config=dataclasses.replace(cfg, selector_kwargs={}))
    if cfg.budget_flops is not None:
        _check_budget(cfg.budget_flops, result.cost.flops, "the selection cost")
    kept = np.flatnonzero(np.isfinite(result.scores)).astype(np.int64)
    params["train_dataset"] = _tag_rows(pool, kept if cfg.refresh is not None else result.indices)
    return SelectionState(config=cfg, selector=sel, pool=pool, kept_rows=kept, history=[result],
                          budget_flops=cfg.budget_flops, train_convention=cfg.train_convention)


def _check_budget(budget: float, selection_flops: float, what: str) -> None:
    if selection_flops >= budget:
        raise ValueError(f"budget_flops={budget:.4g} is smaller than {what} ({selection_flops:.4g} FLOPs): the "
                         f"minimum budget is {selection_flops:.4g} FLOPs plus the training you want; raise "
                         "budget_flops or pick a cheaper selector.")


def adopt_selection(result: Any, params: dict[str, Any]) -> SelectionState:
    """Use a selection made earlier (``SelectionResult.load``, or one of several fractions of one scoring)."""
    train_dataset = params.get("train_dataset")
    if train_dataset is None or is_streaming(train_dataset):
        raise TypeError("train_dataset must be the (materialised) pool the SelectionResult was selected from.")
    pool = _pool(train_dataset)
    if pool.num_rows != len(result.scores):
        raise ValueError(f"The selection scored {len(result.scores)} rows but train_dataset has {pool.num_rows}; "
                         "pass the pool it was selected from.")
    params["train_dataset"] = _tag_rows(pool, result.indices)
    name = result.selector if isinstance(result.selector, str) else "unknown"
    kept = np.flatnonzero(np.isfinite(result.scores)).astype(np.int64)
    cfg = SelectionConfig(selector=name, k=max(result.k, 1),
                          train_convention=result.config.get("train_convention") or "full")
    return SelectionState(config=cfg, selector=None, pool=pool, kept_rows=kept, history=[result],
                          budget_flops=result.cost.budget_flops, train_convention=cfg.train_convention)
