"""``select()``: score a pool with a selector and turn the scores into a selection; ``SelectionResult``.

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
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import SelectionConfig
from .cost.record import SelectionCost
from .data.io import as_dataset
from .selectors.base import get_selector, get_selector_class
from .strategies import apply_strategy

SCHEMA_VERSION = 1
SCORE_COLUMN = "hf_select_score"
_FILES = ("selection.json", "indices.parquet", "scores.parquet")


@dataclass
class SelectionResult:
    """A selection: which rows (``indices``, priority order), every row's score, what it cost, and how it was made.

    ``scores`` has one value per row of the pool (``-inf`` for rows removed by a filter before scoring).
    """

    indices: np.ndarray
    scores: np.ndarray
    cost: SelectionCost
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    dataset: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float64)

    @property
    def k(self) -> int:
        return int(len(self.indices))

    @property
    def selector(self) -> str:
        return str(self.config.get("selector", "unknown"))

    @property
    def fraction(self) -> float:
        return self.k / max(len(self.scores), 1)

    def to_dataset(self, dataset: Any = None, *, score_column: str = SCORE_COLUMN):
        """The selected rows of ``dataset`` (default: the pool it was selected from) with a score column."""
        ds = self.dataset if dataset is None else as_dataset(dataset, "dataset")
        if ds is None:
            raise ValueError("This result holds no dataset (it was loaded from disk): pass to_dataset(dataset=<pool>).")
        if ds.num_rows != len(self.scores):
            raise ValueError(f"dataset has {ds.num_rows} rows but this selection scored {len(self.scores)}; pass the "
                             "pool it was selected from.")
        fp = self.provenance.get("dataset_fingerprint")
        if dataset is not None and fp and getattr(ds, "_fingerprint", None) not in (None, fp):
            self.provenance.setdefault("warnings", []).append("to_dataset: dataset fingerprint differs from selection")
        import datasets
        import pyarrow as pa

        if score_column in ds.column_names:
            ds = ds.remove_columns(score_column)
        # One Arrow ``take`` (no indices mapping to flatten row by row), then the score column.
        table = ds.select(self.indices).with_format("arrow")[:]
        table = table.append_column(score_column, pa.array(self.scores[self.indices], type=pa.float64()))
        features = ds.features.copy()
        features[score_column] = datasets.Value("float64")
        return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "k": self.k, "config": self.config, "provenance": self.provenance,
                "cost": self.cost.to_dict()}

    def save(self, path: str | os.PathLike) -> str:
        """Write ``selection.json``, ``indices.parquet`` and ``scores.parquet`` into the folder ``path``.

        The folder is written in a temporary sibling and renamed, so a failure leaves ``path`` as it was.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = os.path.abspath(os.fspath(path))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".hf_select-", dir=parent)
        try:
            with open(os.path.join(tmp, "selection.json"), "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2, default=_json_default)
            pq.write_table(pa.table({"rank": np.arange(self.k, dtype=np.int64), "index": self.indices}),
                           os.path.join(tmp, "indices.parquet"))
            pq.write_table(pa.table({"score": self.scores}), os.path.join(tmp, "scores.parquet"))
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SelectionResult":
        """Read a folder written by :meth:`save`."""
        import pyarrow.parquet as pq

        path = os.fspath(path)
        missing = [f for f in _FILES if not os.path.exists(os.path.join(path, f))]
        if missing:
            raise FileNotFoundError(f"{path!r} is not a saved selection: missing {missing}.")
        with open(os.path.join(path, "selection.json"), encoding="utf-8") as f:
            meta = json.load(f)
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"{path!r} has selection schema_version {version}; this hf_select reads {SCHEMA_VERSION}.")
        indices = pq.read_table(os.path.join(path, "indices.parquet")).column("index").to_numpy()
        scores = pq.read_table(os.path.join(path, "scores.parquet")).column("score").to_numpy()
        return cls(indices=indices, scores=scores, cost=SelectionCost.from_dict(meta["cost"]), config=meta["config"],
                   provenance=meta["provenance"])

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Push the selection with its cost card (see :func:`hf_select.hub.push.push_selection`)."""
        from .hub.push import push_selection

        return push_selection(self, repo_id, **kwargs)


def _replace_dir(src: str, dst: str) -> None:
    if os.path.isdir(dst):
        old = dst + f".old-{os.getpid()}"
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(src, dst)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


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


def _provenance(ds: Any) -> dict[str, Any]:
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
    config: SelectionConfig | None = None,
    **selector_kwargs: Any,
) -> SelectionResult:
    """Score ``dataset`` with ``selector`` and keep ``k`` rows (or a ``fraction``, or what a FLOP budget allows).

    Args:
        dataset: the pool: a ``datasets.Dataset`` in any TRL format, a list of rows or texts, or a file path.
        selector: a registered name (``hf_select.list_selectors()``) or a ``Selector``; default ``config.selector``.
        target: target examples (same forms as ``dataset``); needed by target-aware selectors.
        k / fraction / budget_flops: the size; give exactly one (``strategy="threshold"`` may give none).
        strategy: ``top`` (default), ``bottom``, ``band``, ``threshold``, ``gumbel`` or ``thirds``.
        strategy_kwargs: the strategy's options.
        seed: seed for the selector (when it has one) and the randomised strategies.
        train_model: the model to be trained (parameter count, transformers config or local path), for budgets.
        train_epochs: epochs the budget pays for.
        train_lora_params: trainable LoRA parameters of that training (used by ``train_convention="lora"``).
        train_convention: training-FLOP convention of the budget: ``"full"`` (6N per token) or ``"lora"``.
        filters: ``hf_select.filters`` objects applied before scoring (dropped rows get score ``-inf``).
        config: a :class:`SelectionConfig` holding all of the above; explicit arguments override its fields.
        **selector_kwargs: options of the selector's config (e.g. ``aggregate="max"`` for bm25).
    """
    overrides = {"selector": selector, "target": target, "k": k, "fraction": fraction, "budget_flops": budget_flops,
                 "strategy": strategy, "strategy_kwargs": strategy_kwargs, "seed": seed, "train_model": train_model,
                 "train_epochs": train_epochs, "train_lora_params": train_lora_params,
                 "train_convention": train_convention, "filters": filters}
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)} if config is not None else {}
    if config is not None and any(overrides[n] is not None for n in ("k", "fraction", "budget_flops")):
        fields.update(k=None, fraction=None, budget_flops=None)  # an explicit size replaces the config's size
    fields.update({name: value for name, value in overrides.items() if value is not None})
    if config is not None and config.selector_kwargs:
        selector_kwargs = {**config.selector_kwargs, **selector_kwargs}
    fields.pop("selector_kwargs", None)
    cfg = SelectionConfig(**fields)

    pool = as_dataset(dataset, "dataset")
    target_ds = as_dataset(cfg.target, "target") if cfg.target is not None else None
    size_name, size_value = cfg.size_spec()
    if size_name == "budget_flops" and cfg.train_model is None:
        raise ValueError("budget_flops needs train_model=<parameter count | config | local path> to price training.")

    if isinstance(cfg.selector, str) and "seed" not in selector_kwargs:
        seeded = "seed" in {f.name for f in dataclasses.fields(get_selector_class(cfg.selector).config_class)}
        if seeded:
            selector_kwargs["seed"] = cfg.seed
    sel = get_selector(cfg.selector, **selector_kwargs)

    kept = np.arange(pool.num_rows, dtype=np.int64)
    drops: dict[str, int] = {}
    scored = pool
    if cfg.filters:
        from .data.filters import apply_filters

        scored, kept, drops = apply_filters(pool, cfg.filters)
        kept = np.asarray(kept, dtype=np.int64)
        if len(kept) == 0:
            raise ValueError(f"Every row was removed by the filters (drops by reason: {drops}); loosen them.")

    sub_scores = sel.score(scored, target_ds)
    scores = np.full(pool.num_rows, -np.inf)
    scores[kept] = sub_scores
    cost = sel.last_cost if sel.last_cost is not None else SelectionCost()

    n = len(kept)
    if size_name == "budget_flops":
        # Price the exact rows the strategy would take, in its priority order, and keep the longest affordable prefix.
        order = apply_strategy(scores, None if cfg.strategy == "threshold" else n, cfg.strategy, seed=cfg.seed,
                               **cfg.strategy_kwargs)
        indices = order[:_k_from_budget(cfg, pool, cost, order)]
    else:
        if size_name == "k":
            k_final = size_value
        elif size_name == "fraction":
            k_final = max(1, min(n, int(math.floor(size_value * n + 0.5))))
        else:
            k_final = None
        indices = apply_strategy(scores, k_final, cfg.strategy, seed=cfg.seed, **cfg.strategy_kwargs)

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
        "target": _describe_target(target_ds),
    }
    cost.notes.setdefault("num_selected", int(len(indices)))
    return SelectionResult(indices=indices, scores=scores, cost=cost, config=config_record,
                           provenance=_provenance(pool), dataset=pool)


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
