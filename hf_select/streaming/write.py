"""Write a streamed selection's rows by streaming the pool again; push them to the Hub as parquet shards.

:func:`write_subset` reads the pool a last time, checks every shard against what scoring read (row count and
fingerprints: a pool that changed since is an error, not a silently wrong subset), and writes the selected rows in
stream order, with their score and their rank in the selection (``hf_select_rank``: 0 = first in priority order), to
``part-00000.parquet``, ``part-00001.parquet``, ... of ``rows_per_file`` rows in the output folder (written
atomically with :func:`hf_select.atomic.atomic_dir`). Memory holds one shard and one int per pool row.

:func:`push_stream_selection` pushes that folder with the selection's cost card through
:func:`hf_select.hub.push.push_selection` (rows memory-mapped by ``datasets``, uploaded in shards by
``Dataset.push_to_hub``, in priority order like an in-memory selection).

Example:
    >>> import os, tempfile, datasets, hf_select as hs
    >>> root = tempfile.mkdtemp()
    >>> _ = datasets.Dataset.from_dict({"text": ["the cat sat", "dogs bark", "a cat"]}).to_parquet(f"{root}/p.parquet")
    >>> cfg = hs.streaming.StreamConfig(cache_dir=os.path.join(root, "cache"), show_progress=False)
    >>> res = hs.select(f"{root}/*.parquet", "bm25", target=["cat"], k=2, streaming=True, stream_config=cfg)
    >>> files = write_subset(res, f"{root}/*.parquet", os.path.join(root, "subset"), config=cfg)
    >>> datasets.load_dataset("parquet", data_files=files, split="train")["text"][:]
    ['the cat sat', 'a cat']
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .config import as_stream_config
from .engine import _progress, check_same_shard
from .source import StreamError, StreamSource

SCORE_COLUMN = "hf_select_score"
RANK_COLUMN = "hf_select_rank"


def _stream_record(result: Any) -> dict[str, Any]:
    record = result.provenance.get("stream") if isinstance(result.provenance, dict) else None
    if not record or "shards" not in record:
        raise ValueError("This selection was not made on a stream (no provenance['stream']); write it with "
                         "result.to_dataset() instead.")
    return record


def write_subset(result: Any, dataset: Any, output: str | os.PathLike, *, config: Any = None,
                 overwrite: bool = False) -> list[str]:
    """Write the rows of a streamed selection into the folder ``output``; returns the parquet files written.

    Args:
        result: a :class:`~hf_select.SelectionResult` from ``hs.select(<stream>, ...)`` (or loaded from disk).
        dataset: the same stream it was selected from.
        output: a new or empty folder, or an earlier hf_select output with ``overwrite=True``.
        config: :class:`~hf_select.streaming.StreamConfig` (``rows_per_file``, progress bars).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..atomic import atomic_dir, check_output_dir

    config = as_stream_config(config)
    record = _stream_record(result)
    expected = [tuple(s) for s in record["shards"]]
    num_rows = expected[-1][0] + expected[-1][1]
    if len(result.scores) != num_rows:
        raise ValueError(f"the selection scored {len(result.scores)} rows but its stream record holds {num_rows}.")
    check_output_dir(output, overwrite=overwrite)
    rank = np.full(num_rows, -1, dtype=np.int64)
    rank[result.indices] = np.arange(result.k, dtype=np.int64)
    source = StreamSource.open(dataset)
    written: list[str] = []
    with atomic_dir(output, overwrite=overwrite, kind="streamed-subset") as tmp:
        writer, in_file, seen = None, 0, 0
        with _progress(config, "writing the subset", num_rows) as bar:
            for shard in source.shards(int(record["shard_size"])):
                check_same_shard(shard, expected)
                seen = shard.stop
                bar.update(shard.num_rows)
                ranks = rank[shard.start:shard.stop]
                keep = np.flatnonzero(ranks >= 0)
                if not len(keep):
                    continue
                table = shard.table.take(pa.array(keep))
                table = table.append_column(SCORE_COLUMN, pa.array(result.scores[shard.start + keep],
                                                                   type=pa.float64()))
                table = table.append_column(RANK_COLUMN, pa.array(ranks[keep], type=pa.int64()))
                while table.num_rows:
                    if writer is not None and in_file >= config.rows_per_file:
                        writer.close()
                        writer = None
                    if writer is not None and not table.schema.equals(writer.schema):
                        try:
                            table = table.cast(writer.schema)
                        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                            writer.close()  # the stream's types widened (e.g. a column null so far): new file
                            writer = None
                    if writer is None:
                        name = f"part-{len(written):05d}.parquet"
                        writer = pq.ParquetWriter(os.path.join(tmp, name), table.schema)
                        written.append(name)
                        in_file = 0
                    take = min(table.num_rows, config.rows_per_file - in_file)
                    writer.write_table(table.slice(0, take))
                    in_file += take
                    table = table.slice(take)
        if writer is not None:
            writer.close()
        if seen < num_rows:
            raise StreamError(f"the stream ended early: it gave {seen} rows, the selection scored {num_rows}.")
    root = os.path.abspath(os.fspath(output))
    return [os.path.join(root, name) for name in written]


def push_stream_selection(result: Any, subset_folder: str | os.PathLike, repo_id: str, **kwargs: Any):
    """Push a streamed selection (rows written by :func:`write_subset`) with its cost card; ``kwargs`` go to
    :func:`hf_select.hub.push.push_selection` (``token``, ``private``, ``revision``, ``card_config``, ...)."""
    import glob

    import datasets

    from ..hub.push import push_selection

    _stream_record(result)
    files = sorted(glob.glob(os.path.join(os.fspath(subset_folder), "*.parquet")))
    if not files:
        raise FileNotFoundError(f"subset_folder: no parquet file in {os.fspath(subset_folder)!r}; write it with "
                                "hf_select.streaming.write_subset first.")
    rows = datasets.load_dataset("parquet", data_files=files, split="train")  # memory-mapped
    if RANK_COLUMN not in rows.column_names or rows.num_rows != result.k:
        raise ValueError(f"{os.fspath(subset_folder)!r} does not hold this selection's {result.k} rows with a "
                         f"{RANK_COLUMN!r} column; write it with hf_select.streaming.write_subset.")
    rows = rows.sort(RANK_COLUMN).flatten_indices().remove_columns(RANK_COLUMN)  # priority order, as in memory
    return push_selection(result, repo_id, subset=rows, **kwargs)
