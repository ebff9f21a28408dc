"""``select()``: score a pool with a selector and turn the scores into a selection (a ``SelectionResult``).

Every cheap check (sizes, strategy and its options, selector options, the score cache folder) runs before any model is
loaded or any row is scored.

Example:
    >>> import hf_select as hs
    >>> pool = ["the cat sat", "dogs bark", "a cat and a dog", "stock prices fell", "rain today"]
    >>> res = hs.select(pool, "bm25", target=["cat"], k=2)
    >>> sorted(res.indices.tolist())
    [0, 2]
    >>> res.to_dataset()["hf_select_score"][0] > 0
    True
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from .config import SelectionConfig
from .cost.record import SelectionCost
from .data.io import as_dataset
from .data.mapping import map_columns
from .result import SCHEMA_VERSION, SCORE_COLUMN, SelectionResult
from .selectors.base import get_selector, get_selector_class
from .strategies import apply_strategy

__all__ = ["SCHEMA_VERSION", "SCORE_COLUMN", "SelectionResult", "select"]


def _versions() -> dict[str, str]:
    import sys

    from . import __version__
    from .import_utils import package_version

    out = {"hf_select": __version__}
    for name in ("datasets", "numpy", "torch", "transformers", "trl", "sentence_transformers"):
        if name in sys.modules or name in ("datasets", "numpy"):
            v = package_version(name)
            if v:
                out[name] = v
    return out


def _provenance(ds: Any, streamed: Any = None) -> dict[str, Any]:
    if streamed is not None:  # a streamed pool (hf_select.streaming): its fingerprint, shards and cache
        return {"dataset_fingerprint": streamed.fingerprint, "dataset_num_rows": streamed.num_rows,
                **streamed.provenance(), "versions": _versions(),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    info = getattr(ds, "info", None)
    return {
        "dataset_fingerprint": getattr(ds, "_fingerprint", None),
        "dataset_num_rows": int(ds.num_rows),
        "dataset_id": getattr(info, "dataset_name", None) or getattr(info, "builder_name", None),
        "dataset_revision": getattr(info, "version", None) and str(info.version),
        "versions": _versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _describe_target(target: Any) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"num_rows": int(target.num_rows), "fingerprint": getattr(target, "_fingerprint", None)}


def select(
    dataset: Any,
    selector: Any = None,
    *,
    target: Any = None,
    k: int | None = None,
    fraction: float | None = None,
    budget_flops: float | None = None,
    strategy: str | None = None,
    strategy_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    train_model: Any = None,
    train_epochs: float | None = None,
    train_lora_params: int | None = None,
    train_convention: str | None = None,
    filters: list[Any] | None = None,
    columns: dict[str, str] | None = None,
    target_columns: dict[str, str] | None = None,
    config: SelectionConfig | None = None,
    streaming: bool | None = None,
    stream_config: Any = None,
    **selector_kwargs: Any,
) -> SelectionResult:
    """Score ``dataset`` with ``selector`` and keep ``k`` rows (or a ``fraction``, or what a FLOP budget allows).

    Args:
        dataset: the pool: a ``datasets.Dataset`` in any TRL format, a list of rows or texts, or a file path.
        selector: a registered name (``hf_select.list_selectors()``) or a ``Selector``; default ``config.selector``.
        target: target examples (same forms as ``dataset``); needed by target-aware selectors.
        k / fraction / budget_flops: the size; give exactly one (``strategy="threshold"`` may give none).
        strategy: ``top`` (default), ``bottom``, ``band``, ``threshold``, ``gumbel``, ``top_ppl`` or ``mid_ppl``
            (see :data:`hf_select.strategies.STRATEGY_HELP` for which rows each takes first).
        strategy_kwargs: the strategy's options.
        seed: seed for the selector (when it has one) and the randomised strategies.
        train_model: the model to be trained (parameter count, transformers config or local path), for budgets.
        train_epochs: epochs the budget pays for.
        train_lora_params: trainable LoRA parameters of that training (used by ``train_convention="lora"``).
        train_convention: training-FLOP convention of the budget: ``"full"`` (6N per token) or ``"lora"``.
        filters: ``hf_select.filters`` objects applied before scoring (dropped rows get score ``-inf``).
        columns / target_columns: rename columns of the pool / target to TRL names before reading them, e.g.
            ``{"question": "prompt", "answer": "completion"}`` (the result keeps the pool's own columns).
        config: a :class:`SelectionConfig` holding all of the above; explicit arguments override its fields.
        streaming: read the pool as a stream in bounded memory (``True``), in memory (``False``), or decide
            (``None``: ``IterableDataset``s and large shard globs / folders stream; see :mod:`hf_select.streaming`).
            A streamed selection's indices are stream positions; write its rows with
            ``hf_select.streaming.write_subset``.
        stream_config: :class:`hf_select.streaming.StreamConfig` (shard size, cache folder, ...).
        **selector_kwargs: options of the selector's config (e.g. ``aggregate="max"`` for bm25).
    """
    overrides = {"selector": selector, "target": target, "k": k, "fraction": fraction, "budget_flops": budget_flops,
                 "strategy": strategy, "strategy_kwargs": strategy_kwargs, "seed": seed, "train_model": train_model,
                 "train_epochs": train_epochs, "train_lora_params": train_lora_params,
                 "train_convention": train_convention, "filters": filters, "columns": columns,
                 "target_columns": target_columns}
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)} if config is not None else {}
    if config is not None and any(overrides[n] is not None for n in ("k", "fraction", "budget_flops")):
        fields.update(k=None, fraction=None, budget_flops=None)  # an explicit size replaces the config's size
    fields.update({name: value for name, value in overrides.items() if value is not None})
    if config is not None and config.selector_kwargs:
        selector_kwargs = {**config.selector_kwargs, **selector_kwargs}
    fields.pop("selector_kwargs", None)
    cfg = SelectionConfig(**fields)

    from .streaming.pool import open_pool

    stream, in_memory = open_pool(dataset, streaming, stream_config)
    pool = as_dataset(in_memory, "dataset") if stream is None else None
    read = map_columns(pool, cfg.columns, "columns") if stream is None else None  # what selectors and filters read
    target_ds = as_dataset(cfg.target, "target", columns=cfg.target_columns) if cfg.target is not None else None
    size_name, size_value = cfg.size_spec()
    if size_name == "budget_flops" and cfg.train_model is None:
        raise ValueError("budget_flops needs train_model=<parameter count | config | local path> to price training.")
    if stream is not None and (size_name == "budget_flops" or cfg.filters or cfg.columns):
        raise ValueError("A streamed pool takes k= or fraction= (not budget_flops), no filters and no columns=: "
                         "prepare the shards first, or pass streaming=False to load the pool in memory.")
    rows = stream.num_rows_hint if stream is not None else pool.num_rows  # a stream's: None until pass one
    if rows is None:
        rows = size_value if size_name == "k" else 1  # the options are checked now, the size after pass one
    _check_strategy(cfg, size_name, size_value, rows)

    if isinstance(cfg.selector, str) and "seed" not in selector_kwargs:
        seeded = "seed" in {f.name for f in dataclasses.fields(get_selector_class(cfg.selector).config_class)}
        if seeded:
            selector_kwargs["seed"] = cfg.seed
    sel = get_selector(cfg.selector, **selector_kwargs)
    cache_dir = getattr(sel.config, "cache_dir", None)
    if cache_dir is not None:
        from .scoring.cache import check_cache_dir

        check_cache_dir(cache_dir)

    drops: dict[str, int] = {}
    streamed = None
    if stream is not None:
        from .streaming.engine import score_stream

        def check_rows(rows: int) -> None:  # the stream's length, known after pass one: check before pass two
            _check_strategy(cfg, size_name, size_value, rows)

        streamed = score_stream(sel, stream, target_ds, config=stream_config, check_rows=check_rows)
        scores, n = streamed.scores, streamed.num_rows
    else:
        kept = np.arange(pool.num_rows, dtype=np.int64)
        scored = read
        if cfg.filters:
            from .data.filters import apply_filters

            scored, kept, drops = apply_filters(read, cfg.filters)
            kept = np.asarray(kept, dtype=np.int64)
            if len(kept) == 0:
                raise ValueError(f"Every row was removed by the filters (drops by reason: {drops}); loosen them.")

        sub_scores = sel.score(scored, target_ds)
        scores = np.full(pool.num_rows, -np.inf)
        scores[kept] = sub_scores
        n = len(kept)
    cost = sel.last_cost if sel.last_cost is not None else SelectionCost()

    if size_name == "budget_flops":
        # Price the exact rows the strategy would take, in its priority order, and keep the longest affordable prefix.
        order = apply_strategy(scores, None if cfg.strategy == "threshold" else n, cfg.strategy, seed=cfg.seed,
                               **cfg.strategy_kwargs)
        indices = order[:_k_from_budget(cfg, read, cost, order)]
    else:
        indices = apply_strategy(scores, _size_to_k(size_name, size_value, n), cfg.strategy, seed=cfg.seed,
                                 **cfg.strategy_kwargs)

    config_record = {
        "selector": sel.name,
        "selector_config": sel.config.to_dict(),
        "strategy": cfg.strategy,
        "strategy_kwargs": dict(cfg.strategy_kwargs),
        "k": None if size_name != "k" else size_value,
        "fraction": None if size_name != "fraction" else size_value,
        "budget_flops": cfg.budget_flops,
        "train_model": _describe_model(cfg.train_model),
        "train_epochs": cfg.train_epochs,
        "train_lora_params": cfg.train_lora_params,
        "train_convention": cfg.train_convention,
        "seed": cfg.seed,
        "filters": [getattr(f, "name", type(f).__name__) for f in cfg.filters],
        "filter_drops": drops,
        "columns": dict(cfg.columns or {}),
        "target": _describe_target(target_ds),
    }
    cost.notes.setdefault("num_selected", int(len(indices)))
    result = SelectionResult(indices=indices, scores=scores, cost=cost, config=config_record,
                             provenance=_provenance(pool, streamed), dataset=pool)
    return result.validate()


def _size_to_k(size_name: str, size_value: Any, n: int) -> int | None:
    """Rows to keep out of ``n`` eligible ones for a size given as ``k`` or ``fraction`` (``None`` otherwise)."""
    if size_name == "k":
        return size_value
    if size_name == "fraction":
        return max(1, min(n, int(math.floor(size_value * n + 0.5))))
    return None


def _check_strategy(cfg: SelectionConfig, size_name: str, size_value: Any, num_rows: int) -> None:
    """Run the strategy on placeholder scores: a bad size or option fails here, before any scoring."""
    k = size_value if size_name == "k" else (None if cfg.strategy == "threshold" else num_rows)
    kwargs = dict(cfg.strategy_kwargs)
    apply_strategy(np.zeros(num_rows), k, cfg.strategy, seed=cfg.seed, **kwargs)


def _describe_model(model: Any) -> Any:
    if model is None or isinstance(model, (int, float, str)):
        return model
    return getattr(model, "_name_or_path", None) or type(model).__name__


def _k_from_budget(cfg: SelectionConfig, dataset: Any, cost: SelectionCost, order: np.ndarray) -> int:
    """Largest k whose predicted training of ``order[:k]`` fits in what selection leaves (hf_select.cost.budget)."""
    from .cost.budget import budget_to_k

    k, train_flops = budget_to_k(cfg.budget_flops, cost, dataset=dataset, train_model=cfg.train_model,
                                 epochs=cfg.train_epochs, order=order, lora_params=cfg.train_lora_params,
                                 train_convention=cfg.train_convention)
    cost.train_flops = float(train_flops)
    cost.notes["train_convention"] = cfg.train_convention
    cost.budget_flops = float(cfg.budget_flops)
    return int(k)
