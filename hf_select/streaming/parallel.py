"""Shards of a ``streaming = "pool"`` selector featurised and scored in worker processes (``StreamConfig.num_proc``).

The main process reads the stream (and checks it), and hands each shard's Arrow table to a pool of ``num_proc``
worker processes (``forkserver``, else ``spawn``: no state inherited from this process); a worker renders the text
view, featurises the shard, writes its features to the per-shard cache and returns the shard's partial statistics
(pass one), or scores a shard from its stored features (pass two). Results come back in shard order, so statistics
are merged and scores appended exactly as with ``num_proc=1`` (same scores, tested), and at most ``num_proc`` shards
are in flight (memory stays bounded). With one process everything runs inline, in this process.

The selector goes to the workers pickled (its caches, e.g. DSIR's n-gram memo, are left behind). Like every
``forkserver`` / ``spawn`` pool, a script that selects with ``num_proc > 1`` needs the ``if __name__ == "__main__":``
guard (``num_proc="auto"`` stays in one process in a script without it).

Example:
    >>> resolve_num_proc(1, num_shards=8, parallel_ok=True)
    1
    >>> resolve_num_proc("auto", num_shards=1, parallel_ok=True)
    1
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..selectors.base import Selector, ShardFeatures
from .store import ShardStore

#: Modules the ``forkserver`` imports once, so that each worker forked from it starts without importing them.
PRELOAD = ("hf_select.streaming.parallel", "hf_select.data.arrow_views", "pyarrow.compute", "scipy.sparse", "pandas")


def _context(preload: tuple[str, ...]) -> Any:
    """``forkserver`` (workers forked from a clean server process that imported ``preload`` once; no state of this
    process is inherited) where the platform has it, else ``spawn``."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is None:  # not started yet: set what it imports
        context.set_forkserver_preload(list(preload))
    return context


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_num_proc(value: Any, argument: str = "StreamConfig.num_proc") -> None:
    """Raise a ``ValueError`` naming ``argument`` unless ``value`` is ``"auto"`` or a positive int."""
    if value == "auto" and isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be 'auto' or a positive int (worker processes), got {value!r}.")


def main_is_guarded() -> bool:
    """Whether ``spawn`` workers can start from here: no ``__main__`` script (interactive, ``python -c``, notebooks),
    or one whose top level has an ``if __name__ == "__main__":`` block (workers re-import the script); never inside a
    worker process itself."""
    import ast
    import multiprocessing
    import sys

    if multiprocessing.parent_process() is not None:
        return False
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is None:
        return True
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    return any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) for node in tree.body)


def resolve_num_proc(value: Any, *, num_shards: int | None, parallel_ok: bool) -> int:
    """Processes to use: ``value`` itself, or for ``"auto"`` ``min(available CPUs, shards)`` (1 when the selector
    cannot be sent to workers, ``parallel_ok=False``, or when a ``__main__`` script without the
    ``if __name__ == "__main__":`` guard would be re-run by them)."""
    check_num_proc(value)
    if value != "auto":
        return int(value)
    if not parallel_ok or not main_is_guarded():
        return 1
    return max(1, min(available_cpus(), num_shards if num_shards is not None else available_cpus()))


def selector_payload(selector: Selector) -> bytes:
    """The selector pickled for the workers (without its cost record); raises when it cannot be pickled."""
    clone = copy.copy(selector)
    clone._cost, clone.last_cost, clone.session = None, None, None
    return pickle.dumps(clone, protocol=pickle.HIGHEST_PROTOCOL)


def parallel_problem(selector: Selector) -> str | None:
    """Why ``selector`` cannot run in worker processes (e.g. a tokenizer callable defined in ``__main__`` or a
    lambda), or ``None``."""
    try:
        payload = selector_payload(selector)
    except Exception as err:  # noqa: BLE001 (pickling raises many types)
        return f"it cannot be pickled ({type(err).__name__}: {err})"
    if b"__main__" in payload:
        return "it refers to objects defined in __main__, which worker processes may not import"
    return None


# -- the worker side (module-level functions: pickled by reference) ------------------------------------------------
_WORKER_SELECTOR: dict[bytes, Selector] = {}


def _selector(payload: Selector | bytes) -> Selector:
    """The selector of a task: itself inline, or unpickled once per payload in a worker (the last one is kept)."""
    if isinstance(payload, Selector):
        return payload
    key = hashlib.blake2b(payload, digest_size=16).digest()
    if key not in _WORKER_SELECTOR:
        _WORKER_SELECTOR.clear()
        _WORKER_SELECTOR[key] = pickle.loads(payload)
    return _WORKER_SELECTOR[key]


def warm_up(payload: Selector | bytes) -> None:
    """A worker's first task: unpickle the selector and featurise one short text, so that its imports (numpy, scipy,
    pandas, ...) happen while the main process still prepares and reads the first shards."""
    _selector(payload).shard_pass(["warm up"])


def shard_texts(selector: Selector, table: Any) -> list[str]:
    """The selector's text view of a shard's Arrow table (empty strings when it reads no text)."""
    if not selector.needs_text:
        return [""] * table.num_rows
    return selector.texts(table)  # Arrow: the text view renders it column-wise


def featurize_shard(payload: Selector | bytes, store: ShardStore, resume: bool, store_features: bool, index: int,
                    fingerprint: str, table: Any) -> tuple[Any, int, bool]:
    """Pass one of a shard: ``(partial statistics, tokens, resumed)``; features go to ``store`` when asked."""
    sel = _selector(payload)
    num_rows = table.num_rows
    if store_features and resume:
        cached = store.load_features(index, fingerprint, num_rows=num_rows)
        stats = sel.stats_from_features(cached) if cached is not None else None
        if stats is not None:
            return stats, cached.tokens, True
    stats, features = sel.shard_pass(shard_texts(sel, table))
    if store_features and (features.rows or features.entries):
        store.save_features(index, fingerprint, features)
    return stats, features.tokens, False


def score_stored_shard(payload: Selector | bytes, store: ShardStore, index: int, start: int, rows: int,
                       fingerprint: str) -> np.ndarray:
    """Pass two of a shard from its stored features."""
    from .source import StreamError

    sel = _selector(payload)
    features = store.load_features(index, fingerprint, num_rows=rows) if sel.needs_text else ShardFeatures(rows)
    if features is None:
        raise StreamError(f"the features of shard {index} (rows {start}..{start + rows - 1}) vanished from the cache "
                          f"{store.root!r} during the run; run again.")
    return np.asarray(sel.score_features(features), dtype=np.float64)


def rescore_shard(payload: Selector | bytes, table: Any) -> np.ndarray:
    """Pass two of a shard read again (``store_features=False``)."""
    sel = _selector(payload)
    return np.asarray(sel.score_features(sel.shard_pass(shard_texts(sel, table))[1]), dtype=np.float64)


# -- the main side -------------------------------------------------------------------------------------------------
class ShardWorkers:
    """``num_proc`` worker processes (none for 1) running shard tasks, results in submission order.

    Use as a context manager; :meth:`map` keeps at most ``num_proc`` tasks in flight.
    """

    def __init__(self, num_proc: int, preload: tuple[str, ...] = ()) -> None:
        self.num_proc = int(num_proc)
        self.preload = tuple(dict.fromkeys((*PRELOAD, *preload)))
        self.executor = None

    def __enter__(self) -> ShardWorkers:
        if self.num_proc > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(max_workers=self.num_proc, mp_context=_context(self.preload))
        return self

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=error is not None)
            self.executor = None

    def warm_up(self, payload: Selector | bytes) -> None:
        """Start the workers and their imports now (no-op inline); nothing waits for it."""
        if self.executor is not None:
            for _ in range(self.num_proc):
                self.executor.submit(warm_up, payload)

    def payload(self, selector: Selector) -> Selector | bytes:
        """What tasks carry to name the selector: itself inline, its pickle for workers (taken now: call again after
        the selector changed, e.g. after ``fit``)."""
        return selector if self.executor is None else selector_payload(selector)

    def map(self, fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        """``fn(*task)`` of each task, in order."""
        if self.executor is None:
            for task in tasks:
                yield fn(*task)
            return
        from concurrent.futures.process import BrokenProcessPool

        pending: deque = deque()
        try:
            for task in tasks:
                if len(pending) >= self.num_proc:
                    yield pending.popleft().result()
                pending.append(self.executor.submit(fn, *task))
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as err:
            raise RuntimeError(
                f"a worker process of StreamConfig.num_proc={self.num_proc} died ({err}). In a script, put the "
                "selection under `if __name__ == \"__main__\":` (worker processes re-import it); or set "
                "num_proc=1.") from None
        finally:
            for future in pending:
                future.cancel()
