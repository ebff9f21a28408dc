"""Score a stream in bounded memory: one pass for row-local selectors, two for those that need pool statistics.

- ``streaming = "rows"`` selectors (embedding, length, model-based ones): each shard is scored on its own with
  ``selector.score(shard)``; its scores go to the per-shard cache.
- ``streaming = "pool"`` selectors (bm25, dsir, random): pass one reads every shard once, merges its partial statistics
  (document frequencies, n-gram bucket counts, row count) and stores its features; then the statistics are fitted and
  pass two scores the shards from their stored features (or, with ``store_features=False``, from a second read of
  the stream, checked against the first). The in-memory path (:func:`score_in_memory`) runs the same selector methods,
  so both paths give the same scores.

Scores are appended shard by shard to a float64 file and memory-mapped when the pool has more than
``StreamConfig.memmap_rows`` rows. Every pass shows a progress bar in rows/s. A killed run resumes from the shards it
finished (:class:`~hf_select.streaming.store.ShardStore`).

Example:
    >>> import hf_select as hs, tempfile, datasets
    >>> pool = datasets.Dataset.from_dict({"text": ["the cat sat", "dogs bark", "a cat and a dog"] * 3})
    >>> stream = pool.to_iterable_dataset(num_shards=3)
    >>> cfg = hs.streaming.StreamConfig(shard_size=4, cache_dir=tempfile.mkdtemp(), show_progress=False)
    >>> streamed = score_stream(hs.get_selector("bm25"), stream, ["cat"], config=cfg)
    >>> bool((streamed.scores == hs.get_selector("bm25").score(pool, target=["cat"])).all()), streamed.num_rows
    (True, 9)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cost.record import SelectionCost, hardware_info
from ..selectors.base import STREAM_MODES, Selector
from .config import StreamConfig, as_stream_config
from .parallel import (
    ShardWorkers,
    featurize_shard,
    parallel_problem,
    rescore_shard,
    resolve_num_proc,
    score_stored_shard,
)
from .source import StreamError, StreamShard, StreamSource
from .store import ShardStore


@dataclass
class StreamScores:
    """The scores of a stream and what they were computed from."""

    scores: np.ndarray  # float64, one per row (a read-write memmap for large pools)
    num_rows: int
    shards: list[tuple[int, int, str]]  # (first row, rows, fingerprint) of each shard
    cost: SelectionCost
    source: StreamSource
    config: StreamConfig
    cache_dir: str
    resumed_shards: int = 0
    num_proc: int = 1  # processes that featurised / scored the shards
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        self.fingerprint = stream_fingerprint(self.shards)

    def provenance(self) -> dict[str, Any]:
        """What a selection records about the stream (``provenance["stream"]``)."""
        return {"stream": {**self.source.describe(), "num_shards": len(self.shards),
                           "shard_size": self.config.shard_size, "fingerprint": self.fingerprint,
                           "shards": [list(s) for s in self.shards], "cache_dir": self.cache_dir,
                           "resumed_shards": self.resumed_shards, "num_proc": self.num_proc}}


def stream_fingerprint(shards: list[tuple[int, int, str]]) -> str:
    """Fingerprint of a whole stream: its shard layout and the fingerprint of every shard."""
    h = hashlib.sha256()
    for start, rows, fp in shards:
        h.update(f"{start}:{rows}:{fp};".encode())
    return h.hexdigest()[:16]


def check_streamable(selector: Selector) -> str:
    """The selector's streaming mode, or a clear error for selectors that need the whole pool in memory."""
    mode = selector.stream_mode()
    if mode not in STREAM_MODES:
        from ..selectors.base import get_selector_class, list_selectors

        able = [n for n in list_selectors() if _mode_of(n, get_selector_class) in STREAM_MODES]
        raise TypeError(f"Selector {selector.name!r} needs the whole pool in memory and cannot score a stream. Load "
                        f"the pool as a datasets.Dataset, or use a streaming selector: {', '.join(able)}.")
    return mode


def _mode_of(name: str, get_class: Callable[[str], Any]) -> str | None:
    try:
        return getattr(get_class(name), "streaming", None)
    except Exception:  # a broken plugin must not hide the others
        return None


# -- in memory ------------------------------------------------------------------------------------------------------
def score_in_memory(selector: Selector, texts: list[str], target: Any) -> np.ndarray:
    """Scores of in-memory ``texts`` by a ``streaming = "pool"`` selector: the statistics protocol on batches of the
    selector's ``batch_size`` rows (all rows when it has none), stages recorded in ``selector.cost``."""
    cost = selector.cost
    with cost.stage("prepare_target"):
        selector.begin(target)
    batch = getattr(selector.config, "batch_size", None) or max(len(texts), 1)
    stats, parts = None, []
    with cost.stage("featurize_pool") as stage:
        for start in range(0, len(texts), batch):
            part, features = selector.shard_pass(texts[start:start + batch])
            stats = _merge(stats, part)
            parts.append(features)
            stage.tokens += features.tokens
    with cost.stage("fit"):
        selector.fit(stats)
    with cost.stage("score"):
        scores = np.concatenate([np.asarray(selector.score_features(f), dtype=np.float64) for f in parts])
        _finalize(selector, scores)
    return scores


def _merge(total: Any, part: Any) -> Any:
    return part if total is None else total.merge(part)


def _finalize(selector: Selector, scores: np.ndarray) -> None:
    selector.finalize(scores)


# -- streamed ---------------------------------------------------------------------------------------------------------
def _progress(config: StreamConfig, desc: str, total: int | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True, disable=not config.show_progress,
                dynamic_ncols=True)


def _run_key(selector: Selector, target: Any, config: StreamConfig) -> str:
    from ..scoring.cache import cache_key, fingerprint_texts

    content = fingerprint_texts(selector.target_texts(target)) if target is not None else "no-target"
    return cache_key(content=content, config={"selector": selector.config.to_dict(), "shard_size": config.shard_size,
                                              "streaming": selector.streaming}, model=selector.name, kind="stream-run")


class _ScoreFile:
    """Scores appended shard by shard to a float64 file; read back in memory or memory-mapped."""

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix=f".scores-{os.getpid()}-", suffix=".f64", dir=folder)
        self.file = os.fdopen(fd, "wb")
        self.rows = 0

    def append(self, scores: np.ndarray) -> None:
        np.ascontiguousarray(scores, dtype=np.float64).tofile(self.file)
        self.rows += len(scores)

    def array(self, memmap_rows: int) -> np.ndarray:
        self.file.close()
        try:
            if self.rows <= memmap_rows:
                return np.fromfile(self.path, dtype=np.float64, count=self.rows)
            return np.memmap(self.path, dtype=np.float64, mode="r+", shape=(self.rows,))
        finally:
            self.discard()  # a memory map stays valid after the file is unlinked (POSIX)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def score_stream(selector: Selector, data: Any, target: Any = None, *, config: Any = None,
                 check_rows: Callable[[int], None] | None = None) -> StreamScores:
    """Score every row of a stream (see the module docstring); ``selector.last_cost`` is set too.

    Args:
        selector: a selector with ``streaming`` set (``"rows"`` or ``"pool"``).
        data: a stream (``IterableDataset``, glob, folder of shards, list of files, :class:`StreamSource`).
        target: target examples (in memory).
        config: :class:`StreamConfig` (or a dict of its fields).
        check_rows: called with the stream's row count as soon as it is known (before pass two), e.g. to reject a k
            larger than the pool before scoring.
    """
    from ..scoring.cache import check_cache_dir

    config = as_stream_config(config)
    mode = check_streamable(selector)
    check_cache_dir(config.cache_root(), "StreamConfig.cache_dir")  # before any row is read
    source = StreamSource.open(data)
    hint = source.num_rows_hint
    if hint is not None and check_rows is not None:
        check_rows(hint)
    selector._cost = SelectionCost(hardware=hardware_info())
    cost = selector.cost
    store = ShardStore(config.cache_root(), _run_key(selector, target, config))
    scores = _ScoreFile(store.root)
    try:
        run = (_RowsRun if mode == "rows" else _PoolRun)(selector, source, target, config, store, scores, hint,
                                                         check_rows)
        shards, resumed = run.execute()
        array = scores.array(config.memmap_rows)
    except BaseException:
        scores.discard()
        raise
    result = StreamScores(array, len(array), shards, cost, source, config, store.root, resumed, run.num_proc)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"Selector {selector.name!r} produced {int(bad.sum())} non-finite score(s) (stream rows "
                         f"{rows}...). Check those rows (empty text?) or filter them before selecting.")
    cost.notes.update(selector=selector.name, num_rows=result.num_rows, streamed=True, shards=len(shards),
                      resumed_shards=resumed, shard_size=config.shard_size, num_proc=run.num_proc)
    selector.last_cost, selector._cost = cost, None
    return result


class _Run:
    def __init__(self, selector: Selector, source: StreamSource, target: Any, config: StreamConfig,
                 store: ShardStore, scores: _ScoreFile, hint: int | None,
                 check_rows: Callable[[int], None] | None) -> None:
        self.selector, self.source, self.target, self.config = selector, source, target, config
        self.store, self.scores, self.hint, self.check_rows = store, scores, hint, check_rows
        self.cost = selector.cost
        self.resumed = 0
        self.num_proc = 1  # processes that scored the shards

    def read(self, desc: str, expected: list[tuple[int, int, str]] | None = None) -> Iterator[StreamShard]:
        """The stream's shards with a progress bar; checked against ``expected`` (an earlier pass) when given."""
        total = expected[-1][0] + expected[-1][1] if expected else self.hint
        seen = 0
        with _progress(self.config, desc, total) as bar:
            for shard in self.source.shards(self.config.shard_size):
                if expected is not None:
                    check_same_shard(shard, expected)
                yield shard
                seen = shard.stop
                bar.update(shard.num_rows)
        if expected is not None and seen < total:
            raise StreamError(f"the stream ended early: it gave {seen} rows this pass, {total} in the first pass. "
                              "Selection needs a pool that reads the same every time.")
        if seen == 0:
            raise StreamError("the stream has no rows: give at least one row to score.")

    def counted(self, shards: list[tuple[int, int, str]]) -> None:
        if self.check_rows is not None:
            self.check_rows(shards[-1][0] + shards[-1][1])


def check_same_shard(shard: StreamShard, expected: list[tuple[int, int, str]]) -> None:
    """Raise a clear :class:`StreamError` when ``shard`` is not the shard an earlier pass read at its position."""
    if shard.index >= len(expected):
        total = expected[-1][0] + expected[-1][1]
        raise StreamError(f"the stream changed between passes: it now has more rows than the {total} the first pass "
                          "read. Selection needs a pool that reads the same every time (a fixed file set, no "
                          "shuffling).")
    start, rows, fp = expected[shard.index]
    if shard.num_rows < rows:
        raise StreamError(f"the stream ended early: rows {start}..{start + rows - 1} (shard {shard.index}) gave "
                          f"{shard.num_rows} of the {rows} rows the first pass read. Selection needs a pool that "
                          "reads the same every time.")
    if (shard.start, shard.num_rows, shard.fingerprint) != (start, rows, fp):
        raise StreamError(f"the stream changed between passes: rows {start}..{start + rows - 1} (shard "
                          f"{shard.index}) differ from what the first pass read. Selection needs a pool that reads "
                          "the same every time (a fixed file set, no shuffling).")


class _RowsRun(_Run):
    """One pass: each shard scored on its own by ``selector.score``."""

    def execute(self) -> tuple[list[tuple[int, int, str]], int]:
        shards: list[tuple[int, int, str]] = []
        sel = self.selector
        with self.cost.stage("score_shards") as stage, sel.shard_session():
            for shard in self.read(f"{sel.name}: scoring"):
                cached = self.store.load_scores(shard.index, shard.fingerprint, shard.num_rows) \
                    if self.config.resume else None
                if cached is None:
                    part = sel.score(shard.dataset(), self.target)
                    _accumulate(stage, sel.last_cost)
                    self.store.save_scores(shard.index, shard.fingerprint, part)
                else:
                    part = cached
                    self.resumed += 1
                self.scores.append(part)
                shards.append((shard.start, shard.num_rows, shard.fingerprint))
        self.counted(shards)
        return shards, self.resumed


def _accumulate(stage: Any, part: SelectionCost | None) -> None:
    """Add a shard's cost to the run's stage (FLOPs and tokens summed; per-stage sums kept in the detail)."""
    if part is None:
        return
    stage.flops += part.flops
    stage.tokens += part.tokens
    per_stage = stage.detail.setdefault("stages", {})
    for s in part.stages:
        acc = per_stage.setdefault(s.name, {"flops": 0.0, "seconds": 0.0, "tokens": 0})
        acc["flops"] += s.flops
        acc["seconds"] += s.seconds
        acc["tokens"] += s.tokens


class _PoolRun(_Run):
    """Two passes: partial statistics + features, fit, then scores from the features; shards go to
    ``config.num_proc`` worker processes (:mod:`hf_select.streaming.parallel`), results merged in shard order."""

    def execute(self) -> tuple[list[tuple[int, int, str]], int]:
        sel, config, store = self.selector, self.config, self.store
        with self.cost.stage("prepare_target"):
            sel.begin(self.target)
        self.num_proc = self._num_proc()
        shards: list[tuple[int, int, str]] = []
        stats = None
        with ShardWorkers(self.num_proc, preload=(type(sel).__module__,)) as workers:
            with self.cost.stage("featurize_pool") as stage:
                stage.detail["num_proc"] = self.num_proc
                payload = workers.payload(sel)
                workers.warm_up(payload)

                def pass_one() -> Iterator[tuple[Any, ...]]:
                    for shard in self.read(f"{sel.name}: pass 1/2 (statistics)"):
                        shards.append((shard.start, shard.num_rows, shard.fingerprint))
                        yield (payload, store, config.resume, config.store_features, shard.index, shard.fingerprint,
                               shard.table)

                for part, tokens, resumed in workers.map(featurize_shard, pass_one()):
                    stats = _merge(stats, part)
                    stage.tokens += tokens
                    self.resumed += int(resumed)
            self.counted(shards)
            with self.cost.stage("fit"):
                sel.fit(stats)
            with self.cost.stage("score"):
                payload = workers.payload(sel)
                if config.store_features:
                    with _progress(config, f"{sel.name}: pass 2/2 (scores)", shards[-1][0] + shards[-1][1]) as bar:
                        tasks = ((payload, store, i, *shard) for i, shard in enumerate(shards))
                        for part in workers.map(score_stored_shard, tasks):
                            self.scores.append(part)
                            bar.update(len(part))
                else:
                    tasks = ((payload, shard.table)
                             for shard in self.read(f"{sel.name}: pass 2/2 (scores)", expected=shards))
                    for part in workers.map(rescore_shard, tasks):
                        self.scores.append(part)
        with self.cost.stage("finalize"):
            self.scores.file.flush()
            _finalize_file(sel, self.scores)
        if config.store_features and not config.keep_features:
            for index, (_, _, fp) in enumerate(shards):
                store.drop_features(index, fp)
        return shards, self.resumed

    def _num_proc(self) -> int:
        """``config.num_proc`` resolved for this selector and stream (checked before any shard is read)."""
        requested = self.config.num_proc
        if requested == 1 or not self.selector.needs_text:  # a selector that reads no text has nothing to featurise
            return 1
        problem = parallel_problem(self.selector)
        if problem is not None and requested != "auto":
            raise ValueError(f"StreamConfig.num_proc={requested!r}: selector {self.selector.name!r} cannot run in "
                             f"worker processes: {problem}. Use num_proc=1 (or 'auto').")
        shards = None if self.hint is None else -(-self.hint // self.config.shard_size)
        return resolve_num_proc(requested, num_shards=shards, parallel_ok=problem is None)


def _finalize_file(selector: Selector, scores: _ScoreFile) -> None:
    """``selector.finalize`` over the whole score file, in chunks of rows, in place."""
    if type(selector).finalize is Selector.finalize or scores.rows == 0:
        return
    mm = np.memmap(scores.path, dtype=np.float64, mode="r+", shape=(scores.rows,))
    selector.finalize(mm)  # selectors work through it in chunks of rows (hf_select.selectors.base.row_chunks)
    mm.flush()
    del mm

