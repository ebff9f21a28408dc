"""``SelectionResult``: which rows were chosen, every row's score, what it cost; saved, loaded and checked.

A result is validated wherever it crosses a boundary (saved, loaded, turned into rows, pushed): indices in range and
without duplicates, as many as ``k`` says, finite scores for every chosen row, one score per pool row. Turning it into
rows of a pool whose fingerprint differs from the one it was made on is refused unless asked for explicitly.

Example:
    >>> import tempfile, numpy as np
    >>> from hf_select.result import SelectionResult
    >>> from hf_select.cost.record import SelectionCost
    >>> res = SelectionResult(indices=[2, 0], scores=[0.5, 0.1, 0.9], cost=SelectionCost())
    >>> back = SelectionResult.load(res.save(tempfile.mkdtemp() + "/sel"))
    >>> back.indices.tolist(), back.k
    ([2, 0], 2)
    >>> SelectionResult(indices=[2, 2], scores=[0.5, 0.1, 0.9], cost=SelectionCost()).validate()
    Traceback (most recent call last):
    ...
    hf_select.result.SelectionError: the selection lists row 2 twice (1 duplicated row(s)); re-run the selection.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cost.record import SelectionCost

SCHEMA_VERSION = 1
SCORE_COLUMN = "hf_select_score"
SELECTION_FILES = ("selection.json", "indices.parquet", "scores.parquet")


class SelectionError(ValueError):
    """A selection that is not self-consistent, or does not belong to the pool it is applied to."""


@dataclass
class SelectionResult:
    """A selection: which rows (``indices``, priority order), every row's score, what it cost, and how it was made.

    ``scores`` has one value per row of the pool (``-inf`` for rows removed by a filter before scoring; never NaN).
    """

    indices: np.ndarray
    scores: np.ndarray
    cost: SelectionCost
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    dataset: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices)
        if self.indices.size and not np.issubdtype(self.indices.dtype, np.integer):
            raise SelectionError(f"indices must be integers, got dtype {self.indices.dtype}.")
        self.indices = self.indices.astype(np.int64)
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

    # -- checks --------------------------------------------------------------------------------------------------
    def validate(self, *, expected_k: int | None = None, where: str = "the selection") -> "SelectionResult":
        """Raise :class:`SelectionError` unless indices and scores are consistent; returns ``self``.

        Checks: one-dimensional arrays; every index in ``[0, len(scores))``; no index twice; ``k`` equal to
        ``expected_k`` (e.g. the ``k`` recorded in ``selection.json``) and to ``config["k"]`` when the size was given as
        ``k``; no NaN or ``+inf`` score; a finite score for every chosen row; ``len(scores)`` equal to the recorded
        pool size.
        """
        n = len(self.scores)
        if self.indices.ndim != 1 or self.scores.ndim != 1:
            raise SelectionError(f"{where}: indices and scores must be one-dimensional.")
        if n == 0:
            raise SelectionError(f"{where} holds no scores: it was not made on a pool.")
        recorded = self.provenance.get("dataset_num_rows")
        if recorded is not None and int(recorded) != n:
            raise SelectionError(f"{where} has {n} scores but was made on a pool of {recorded} rows.")
        bad = self.indices[(self.indices < 0) | (self.indices >= n)]
        if bad.size:
            raise SelectionError(f"{where} holds index {int(bad[0])}, out of range for a pool of {n} rows (valid: 0 "
                                 f"to {n - 1}); it was edited or belongs to another pool. Re-run the selection.")
        uniq, counts = np.unique(self.indices, return_counts=True)
        if (counts > 1).any():
            raise SelectionError(f"{where} lists row {int(uniq[counts > 1][0])} twice "
                                 f"({int((counts > 1).sum())} duplicated row(s)); re-run the selection.")
        asked_k = self.config.get("k") if self.config.get("strategy") != "threshold" else None  # threshold: <= k
        for name, want in (("k recorded with it", expected_k), ("config k", asked_k)):
            if want is not None and int(want) != self.k:
                raise SelectionError(f"{where} holds {self.k} indices but its {name} is {want}: the files disagree "
                                     "(edited by hand?); re-run the selection.")
        if np.isnan(self.scores).any() or np.isposinf(self.scores).any():
            count = int((np.isnan(self.scores) | np.isposinf(self.scores)).sum())
            raise SelectionError(f"{where}: {count} of {n} scores are NaN or +inf; scores must be finite (or -inf "
                                 "for rows a filter removed). Re-run the selection.")
        chosen = self.scores[self.indices]
        if self.k and not np.isfinite(chosen).all():
            raise SelectionError(f"{where} chose {int((~np.isfinite(chosen)).sum())} row(s) with a -inf score (rows "
                                 "a filter removed); re-run the selection.")
        return self

    def check_pool(self, dataset: Any, *, ignore_fingerprint: bool = False) -> None:
        """Raise :class:`SelectionError` unless ``dataset`` is the pool this selection was made on.

        Same number of rows, and the same ``datasets`` fingerprint when one was recorded (``ignore_fingerprint=True``
        skips the fingerprint check, for a pool you know holds the same rows in the same order).
        """
        if dataset.num_rows != len(self.scores):
            raise SelectionError(f"dataset has {dataset.num_rows} rows but this selection scored {len(self.scores)}; "
                                 "pass the pool it was selected from.")
        recorded = self.provenance.get("dataset_fingerprint")
        found = getattr(dataset, "_fingerprint", None)
        if not ignore_fingerprint and recorded and found and found != recorded:
            raise SelectionError(f"dataset's fingerprint {found} differs from the pool this selection was made on "
                                 f"({recorded}): its rows differ (or were loaded another way). Pass the same pool, or "
                                 "ignore_fingerprint=True if you know it holds the same rows in the same order.")

    # -- rows ----------------------------------------------------------------------------------------------------
    def to_dataset(self, dataset: Any = None, *, score_column: str = SCORE_COLUMN, ignore_fingerprint: bool = False):
        """The selected rows of ``dataset`` (default: the pool it was selected from) with a score column.

        A ``dataset`` other than the pool must have the same rows (checked by fingerprint; see :meth:`check_pool`).
        """
        from .data.io import as_dataset

        ds = self.dataset if dataset is None else as_dataset(dataset, "dataset")
        if ds is None:
            raise ValueError("This result holds no dataset (it was loaded from disk): pass to_dataset(dataset=<pool>).")
        self.validate()
        self.check_pool(ds, ignore_fingerprint=ignore_fingerprint or dataset is None)
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

    # -- disk ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "k": self.k, "config": self.config, "provenance": self.provenance,
                "cost": self.cost.to_dict()}

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> str:
        """Write ``selection.json``, ``indices.parquet`` and ``scores.parquet`` into the folder ``path``; returns it.

        Like ``save_pretrained``, saving again to a folder this method wrote replaces it (``overwrite=False`` refuses
        instead); a folder holding anything else is never touched (:class:`~hf_select.atomic.OutputExistsError`). The
        folder is written beside ``path`` and swapped in, so a failure leaves ``path`` as it was.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .atomic import atomic_dir

        self.validate()
        with atomic_dir(path, overwrite=overwrite, kind="selection", argument="path") as tmp:
            with open(os.path.join(tmp, "selection.json"), "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2, default=_json_default)
            pq.write_table(pa.table({"rank": np.arange(self.k, dtype=np.int64), "index": self.indices}),
                           os.path.join(tmp, "indices.parquet"))
            pq.write_table(pa.table({"score": self.scores}), os.path.join(tmp, "scores.parquet"))
        return os.path.abspath(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SelectionResult":
        """Read and validate a folder written by :meth:`save`."""
        import pyarrow.parquet as pq

        path = os.fspath(path)
        missing = [f for f in SELECTION_FILES if not os.path.isfile(os.path.join(path, f))]
        if missing:
            raise FileNotFoundError(f"{path!r} is not a saved selection: missing {missing}.")
        try:
            with open(os.path.join(path, "selection.json"), encoding="utf-8") as f:
                meta = json.load(f)
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            indices = pq.read_table(os.path.join(path, "indices.parquet")).column("index").to_numpy()
            scores = pq.read_table(os.path.join(path, "scores.parquet")).column("score").to_numpy()
        except (ValueError, KeyError, OSError) as err:  # JSONDecodeError and ArrowInvalid are ValueErrors
            raise SelectionError(f"{path!r} holds a damaged selection ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else err!r}); save it again.") from None
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"{path!r} has selection schema_version {version}; this hf_select reads {SCHEMA_VERSION}.")
        result = cls(indices=indices, scores=scores, cost=SelectionCost.from_dict(meta.get("cost") or {}),
                     config=meta.get("config") or {}, provenance=meta.get("provenance") or {})
        return result.validate(expected_k=meta.get("k"), where=f"the selection at {path!r}")

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Push the selection with its cost card (see :func:`hf_select.hub.push.push_selection`)."""
        from .hub.push import push_selection

        return push_selection(self, repo_id, **kwargs)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)
