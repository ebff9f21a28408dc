"""``StreamConfig``: the knobs of streamed selection (shard size, cache, memory mapping, subset files, processes).

Example:
    >>> from hf_select.streaming import StreamConfig
    >>> StreamConfig(shard_size=50_000).shard_size
    50000
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SHARD_SIZE = 10_000


@dataclass
class StreamConfig:
    """How a pool that does not fit in memory is read, scored, cached and written."""

    shard_size: int = field(
        default=DEFAULT_SHARD_SIZE,
        metadata={"help": "Rows per shard: the unit of work, of the cache and of resuming. Peak memory grows with it "
                          "(one shard of rows and features at a time), not with the pool."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Folder of the per-shard cache (features and scores, checksummed); a killed run resumes from "
                          "its finished shards. Default: $HF_SELECT_CACHE/streaming (~/.cache/hf_select/streaming)."},
    )
    resume: bool = field(default=True, metadata={"help": "Reuse finished shards found in the cache."})
    store_features: bool = field(
        default=True,
        metadata={"help": "Two-pass selectors (bm25, dsir): keep each shard's features on disk during the run, so the "
                          "scoring pass reads them instead of reading and tokenising the stream again (faster; disk "
                          "~8-16 bytes per hashed n-gram / query-term hit). False: the scoring pass reads the stream "
                          "again and checks it did not change."},
    )
    keep_features: bool = field(
        default=False,
        metadata={"help": "Keep the stored features after a successful run (scores are always kept)."},
    )
    memmap_rows: int = field(
        default=2_000_000,
        metadata={"help": "Score arrays of more rows than this are memory-mapped from a file in the cache folder "
                          "instead of held in memory (8 bytes per row)."},
    )
    auto_stream_bytes: int = field(
        default=1 << 30,
        metadata={"help": "select(streaming=None): shard globs / folders whose files exceed this many bytes are "
                          "streamed; smaller ones are loaded in memory (the fast path). IterableDatasets always "
                          "stream."},
    )
    rows_per_file: int = field(
        default=100_000, metadata={"help": "Rows per parquet file when a streamed subset is written."}
    )
    show_progress: bool = field(default=True, metadata={"help": "Progress bars (rows/s) on every pass."})
    num_proc: int | str = field(
        default=1,
        metadata={"help": "Worker processes that featurise and score the shards of two-pass selectors (bm25, dsir) "
                          "while this process reads the stream (like datasets' num_proc); 'auto' = min(available "
                          "CPUs, shards). Scores are identical for any value; at most num_proc shards are in flight; "
                          "workers come from a 'forkserver' process ('spawn' where there is none), so a script needs "
                          "the `if __name__ == \"__main__\":` guard ('auto' falls back to 1 without it, and for a "
                          "selector that cannot be pickled). Row-local selectors (embedding, model-based) always score "
                          "in this process. Default 1: see the README's Streaming section for the measurements."},
    )

    def __post_init__(self) -> None:
        for name in ("shard_size", "memmap_rows", "auto_stream_bytes", "rows_per_file"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StreamConfig.{name} must be a positive int, got {value!r}.")
        from .parallel import check_num_proc

        check_num_proc(self.num_proc)
        if self.cache_dir is not None and not isinstance(self.cache_dir, (str, os.PathLike)):
            raise TypeError("StreamConfig.cache_dir must be a folder path or None, got "
                            f"{type(self.cache_dir).__name__}.")

    def cache_root(self) -> str:
        """The cache folder (``cache_dir`` or the default)."""
        if self.cache_dir is not None:
            return os.path.abspath(os.fspath(self.cache_dir))
        from ..data.builtin import cache_root

        return os.path.join(cache_root(), "streaming")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def as_stream_config(config: Any) -> StreamConfig:
    """``config`` as a :class:`StreamConfig` (``None`` -> defaults; a dict -> its fields)."""
    if config is None:
        return StreamConfig()
    if isinstance(config, StreamConfig):
        return config
    if isinstance(config, dict):
        return StreamConfig(**config)
    raise TypeError(f"stream_config must be a StreamConfig, a dict of its fields or None, got {type(config).__name__}.")
