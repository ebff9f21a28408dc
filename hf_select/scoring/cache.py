"""Per-shard score cache with checksums: a killed run recomputes only what is missing or corrupted.

A pool of ``n`` rows is cut into shards of ``shard_size`` consecutive rows. Each finished shard is written atomically
as ``shard-<i>.parquet`` under ``<cache_dir>/<key>/``, where the key hashes everything the scores depend on
(:func:`cache_key`: content fingerprint of the scored texts, the scoring config, the model identity). The parquet
schema metadata carries the shard's row range, a schema version and a SHA-256 checksum of its columns; a shard that
does not read, has the wrong range or fails its checksum is deleted and recomputed.

Runs that share a cache folder share the work: :meth:`ShardCache.fill` computes a shard only while holding its lock
file (``filelock``); a shard another run is computing is skipped and picked up (loaded) once that run has written it.
Every file is written through :mod:`hf_select.atomic`, so a reader sees a whole shard or none.

Example:
    >>> import tempfile, numpy as np
    >>> from hf_select.scoring.cache import ShardCache, cache_key
    >>> key = cache_key(content="abc", config={"dtype": "float32"}, model="tiny")
    >>> cache = ShardCache(tempfile.mkdtemp(), key, num_rows=5, shard_size=2)
    >>> cache.shard_ranges()
    [(0, 2), (2, 4), (4, 5)]
    >>> cache.save(1, {"score": np.array([0.5, 1.5])})
    >>> cache.missing(), cache.load(1)["score"].tolist()
    ([0, 2], [0.5, 1.5])
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_file, write_bytes_atomic

SCHEMA_VERSION = 1
_META_PREFIX = b"hf_select."


class CacheDirError(ValueError):
    """The score cache folder cannot be used (a file, not writable); the message names the folder and the fix."""


def check_cache_dir(cache_dir: str | os.PathLike, argument: str = "cache_dir") -> Path:
    """Check (before any work) that ``cache_dir`` is, or can be created as, a writable folder; returns its path."""
    path = Path(os.fspath(cache_dir)).expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():  # a dangling link
            raise CacheDirError(f"{argument} {str(path)!r}: {str(probe)!r} is a broken link; pass another folder.")
        probe = probe.parent
    if not probe.is_dir():
        raise CacheDirError(f"{argument} {str(path)!r}: {str(probe)!r} is a file, not a folder; pass a folder "
                            "(or --no-cache).")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CacheDirError(f"{argument} {str(path)!r}: {str(probe)!r} is not writable; pass a folder you can write "
                            "(or --no-cache).")
    return path


def fingerprint_texts(items: Iterable[Any]) -> str:
    """SHA-256 (hex, 16 chars) of a sequence of texts or ``(prompt, completion)`` pairs, order included."""
    h = hashlib.sha256()
    count = 0
    for item in items:
        parts = (item,) if isinstance(item, str) else tuple(item)
        for part in parts:
            data = part.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
        h.update(b"\x1e")
        count += 1
    h.update(count.to_bytes(8, "little"))
    return h.hexdigest()[:16]


def cache_key(*, content: str, config: dict[str, Any], model: str, kind: str = "scores") -> str:
    """Key of a cached computation: hash of the data fingerprint, the config (JSON, sorted) and the model identity."""
    blob = json.dumps({"kind": kind, "content": content, "config": config, "model": model,
                       "schema": SCHEMA_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _checksum(columns: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(columns):
        arr = np.ascontiguousarray(columns[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class ShardCache:
    """Shards of per-row arrays for one cache key (see module docstring).

    Args:
        cache_dir: root folder (one sub-folder per key).
        key: from :func:`cache_key`.
        num_rows: rows of the pool.
        shard_size: rows per shard.
        info: JSON-able description written once to ``manifest.json`` (what the key stands for).
    """

    def __init__(self, cache_dir: str | os.PathLike, key: str, num_rows: int, shard_size: int,
                 info: dict[str, Any] | None = None) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}.")
        if num_rows < 0:
            raise ValueError(f"num_rows must be >= 0, got {num_rows}.")
        self.root = check_cache_dir(cache_dir) / key
        self.key, self.num_rows, self.shard_size = key, int(num_rows), int(shard_size)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # e.g. a file named like the key folder
            raise CacheDirError(f"cache_dir {str(cache_dir)!r}: cannot create {str(self.root)!r} ({err.strerror}); "
                                "pass another folder (or --no-cache).") from None
        manifest = self.root / "manifest.json"
        if not manifest.exists():
            write_bytes_atomic(manifest, json.dumps({"key": key, "num_rows": self.num_rows, "shard_size":
                                                     self.shard_size, "schema": SCHEMA_VERSION, **(info or {})},
                                                    indent=2, default=str).encode())
        self.recomputed_corrupt: list[int] = []

    @property
    def num_shards(self) -> int:
        return -(-self.num_rows // self.shard_size)

    def shard_ranges(self) -> list[tuple[int, int]]:
        return [(s * self.shard_size, min((s + 1) * self.shard_size, self.num_rows)) for s in range(self.num_shards)]

    def path(self, shard: int) -> Path:
        return self.root / f"shard-{shard:05d}.parquet"

    def save(self, shard: int, columns: dict[str, np.ndarray]) -> None:
        """Write one shard atomically (all columns must have the shard's number of rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        start, stop = self.shard_ranges()[shard]
        arrays = {k: np.asarray(v) for k, v in columns.items()}
        for name, arr in arrays.items():
            if arr.shape[0] != stop - start:
                raise ValueError(f"Column {name!r} has {arr.shape[0]} rows; shard {shard} holds {stop - start}.")
        meta = {_META_PREFIX + b"checksum": _checksum(arrays).encode(),
                _META_PREFIX + b"range": f"{start}:{stop}".encode(),
                _META_PREFIX + b"schema": str(SCHEMA_VERSION).encode(),
                _META_PREFIX + b"key": self.key.encode()}
        table = pa.table({k: pa.array(v) for k, v in arrays.items()}).replace_schema_metadata(meta)
        with atomic_file(self.path(shard)) as tmp:
            pq.write_table(table, tmp)

    def load(self, shard: int) -> dict[str, np.ndarray] | None:
        """The shard's columns, or ``None`` when it is missing; a corrupted shard is deleted and gives ``None``."""
        import pyarrow.parquet as pq

        path = self.path(shard)
        if not path.exists():
            return None
        start, stop = self.shard_ranges()[shard]
        try:
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            columns = {name: table.column(name).to_numpy() for name in table.column_names}
            ok = (meta.get(_META_PREFIX + b"range") == f"{start}:{stop}".encode()
                  and meta.get(_META_PREFIX + b"checksum") == _checksum(columns).encode())
        except Exception:  # unreadable parquet: treat as corrupted
            ok = False
        if not ok:
            path.unlink(missing_ok=True)
            self.recomputed_corrupt.append(shard)
            return None
        return columns

    def fill(self, shards: Iterable[int], compute: Callable[[int], dict[str, np.ndarray]]
             ) -> tuple[dict[int, dict[str, np.ndarray]], list[int], list[int]]:
        """Load or compute each of ``shards``; returns ``(columns by shard, computed shards, loaded shards)``.

        A shard is computed (and saved) only under its lock file, after checking again that no other run finished it
        meanwhile; a shard locked by another run is left for later and then waited for, so concurrent runs on one
        cache compute each shard once. A run that dies releases its locks (the OS drops them with the process).
        """
        from filelock import FileLock, Timeout

        results: dict[int, dict[str, np.ndarray]] = {}
        computed: list[int] = []
        loaded: list[int] = []
        pending, wait = list(shards), False
        while pending:
            busy = []
            for shard in pending:
                columns = self.load(shard)
                if columns is None:
                    lock = FileLock(str(self.root / f".shard-{shard:05d}.lock"))
                    try:
                        lock.acquire(timeout=-1 if wait else 0)
                    except Timeout:  # another run is computing it: come back to it at the end
                        busy.append(shard)
                        continue
                    try:
                        columns = self.load(shard)  # finished by another run while this one waited
                        if columns is None:
                            columns = {k: np.asarray(v) for k, v in compute(shard).items()}
                            self.save(shard, columns)
                            computed.append(shard)
                    finally:
                        lock.release()
                if shard not in computed:
                    loaded.append(shard)
                results[shard] = columns
            pending, wait = busy, True
        return results, sorted(computed), sorted(loaded)

    def missing(self, shards: Sequence[int] | None = None) -> list[int]:
        """Shards (among ``shards``, default all) that are absent or corrupted (corrupted ones are removed)."""
        todo = range(self.num_shards) if shards is None else shards
        return [s for s in todo if self.load(s) is None]


def concat_shards(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate shard columns in order (all shards must have the same columns)."""
    if not parts:
        return {}
    names = list(parts[0])
    return {name: np.concatenate([p[name] for p in parts]) for name in names}
