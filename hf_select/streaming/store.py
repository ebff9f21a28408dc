"""Per-shard results of a streaming run (features, scores), in the score cache's checksummed shards.

A stream's length is unknown until it ends, so each stream shard gets one-shard caches of its own
(:class:`hf_select.scoring.cache.ShardCache`: atomic writes, a SHA-256 checksum per shard, a corrupted shard is
dropped and recomputed), keyed by the run (selector, its config, the target), the kind of result, the shard's position
and its content fingerprint: a shard whose rows changed never reuses old results. A killed run therefore resumes from
the shards it finished.

Features are stored as two caches: per-row columns (plus the number of sparse entries of each row) and the sparse
entries (with one trailing padding entry, so that a shard without entries is stored too).

Example:
    >>> import tempfile, numpy as np
    >>> from hf_select.selectors.base import ShardFeatures
    >>> store = ShardStore(tempfile.mkdtemp(), run_key="demo")
    >>> feats = ShardFeatures(3, rows={"length": np.array([2, 0, 1])},
    ...                       entries={"row": np.array([0, 0, 2]), "bucket": np.array([5, 7, 5])})
    >>> store.save_features(0, "fp0", feats)
    >>> back = store.load_features(0, "fp0", num_rows=3)
    >>> back.entries["bucket"].tolist(), back.rows["length"].tolist()
    ([5, 7, 5], [2, 0, 1])
    >>> store.load_features(0, "other-content", num_rows=3) is None
    True
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from ..scoring.cache import ShardCache, cache_key
from ..selectors.base import ShardFeatures

_ENTRIES_PER_ROW = "__entries__"


class ShardStore:
    """Checksummed per-shard arrays of one streaming run under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, run_key: str) -> None:
        self.root = os.fspath(root)
        self.run_key = run_key

    def _key(self, kind: str, index: int, fingerprint: str) -> str:
        return cache_key(content=fingerprint, config={"run": self.run_key, "shard": int(index)}, model=kind,
                         kind=f"stream-{kind}")

    def _save(self, key: str, columns: dict[str, np.ndarray]) -> None:
        num_rows = len(next(iter(columns.values())))
        ShardCache(self.root, key, num_rows=num_rows, shard_size=num_rows).save(0, columns)

    def _load(self, key: str, num_rows: int) -> dict[str, np.ndarray] | None:
        if not os.path.isdir(os.path.join(self.root, key)):
            return None
        return ShardCache(self.root, key, num_rows=num_rows, shard_size=max(num_rows, 1)).load(0)

    # -- scores ----------------------------------------------------------------------------------------------------
    def save_scores(self, index: int, fingerprint: str, scores: np.ndarray) -> None:
        self._save(self._key("scores", index, fingerprint), {"score": np.asarray(scores, dtype=np.float64)})

    def load_scores(self, index: int, fingerprint: str, num_rows: int) -> np.ndarray | None:
        got = self._load(self._key("scores", index, fingerprint), num_rows)
        return None if got is None else got["score"]

    # -- features --------------------------------------------------------------------------------------------------
    def save_features(self, index: int, fingerprint: str, features: ShardFeatures) -> None:
        entries = {name: np.asarray(col) for name, col in features.entries.items()}
        rows = {name: np.asarray(col) for name, col in features.rows.items()}
        if entries:
            owner = entries.get("row")
            if owner is None:
                raise ValueError("sparse feature entries need a 'row' column (the row of each entry).")
            rows[_ENTRIES_PER_ROW] = np.bincount(owner, minlength=features.num_rows).astype(np.int64)
            # One padding entry, so that a shard without entries still has a (one-row) cache.
            self._save(self._key("entries", index, fingerprint),
                       {name: np.append(col, np.zeros(1, dtype=col.dtype)) for name, col in entries.items()})
        rows["__tokens__"] = np.full(features.num_rows, features.tokens, dtype=np.int64)
        self._save(self._key("rows", index, fingerprint), rows)

    def load_features(self, index: int, fingerprint: str, *, num_rows: int) -> ShardFeatures | None:
        rows = self._load(self._key("rows", index, fingerprint), num_rows)
        if rows is None:
            return None
        tokens = int(rows.pop("__tokens__")[0]) if num_rows else 0
        per_row = rows.pop(_ENTRIES_PER_ROW, None)
        entries: dict[str, np.ndarray] = {}
        if per_row is not None:
            got = self._load(self._key("entries", index, fingerprint), int(per_row.sum()) + 1)
            if got is None:
                return None
            entries = {name: col[:-1] for name, col in got.items()}
        return ShardFeatures(num_rows, rows=rows, entries=entries, tokens=tokens)

    def drop_features(self, index: int, fingerprint: str) -> None:
        """Remove a shard's features (after the run succeeded: they can be large)."""
        for kind in ("rows", "entries"):
            path = os.path.join(self.root, self._key(kind, index, fingerprint))
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)

