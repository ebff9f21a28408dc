"""A pool read as a stream: consecutive shards of rows, each with a fingerprint, from files or an ``IterableDataset``.

A stream is a ``datasets.IterableDataset``, a glob of parquet / jsonl files (``"shards/*.parquet"``), a folder of such
files, or a list of their paths. Files are read in sorted path order; rows are numbered by their position in the
stream (the indices of a streamed selection). Shards are ``shard_size`` consecutive rows (a shard may span files),
so memory holds one shard at a time, whatever the size of the pool.

Checked while reading, with errors that name the file: a file with no rows, a file whose columns differ from the
first file's, a jsonl line that is not a JSON object or has keys the other rows lack.

Example:
    >>> import os, tempfile, datasets
    >>> root = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     _ = datasets.Dataset.from_dict({"text": [f"r{i}{j}" for j in range(3)]}).to_parquet(f"{root}/p{i}.parquet")
    >>> source = StreamSource.open(os.path.join(root, "*.parquet"))
    >>> [shard.table.num_rows for shard in source.shards(4)], source.num_rows_hint
    ([4, 2], 6)
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

STREAM_SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_GLOB_CHARS = frozenset("*?[")


class StreamError(ValueError):
    """A stream that cannot be read as one pool (bad file, other columns, changed between passes, ...)."""


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def _shard_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if os.path.splitext(name)[1].lower() in STREAM_SUFFIXES and not name.startswith("."))


def is_stream(data: Any) -> bool:
    """Whether ``data`` is read as a stream: an ``IterableDataset``, a :class:`StreamSource`, a glob of files, a folder
    of parquet / jsonl files (not a ``save_to_disk`` folder), or a list of such file paths."""
    if isinstance(data, StreamSource):
        return True
    if type(data).__name__ == "IterableDataset" and hasattr(data, "_ex_iterable"):
        return True
    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    if isinstance(data, str):
        if _is_glob(data):
            return True
        return (os.path.isdir(data) and not os.path.exists(os.path.join(data, "dataset_info.json"))
                and bool(_shard_files(data)))
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        return all(os.path.splitext(os.fspath(p))[1].lower() in STREAM_SUFFIXES for p in data)
    return False


def table_fingerprint(table: Any) -> str:
    """SHA-256 (hex, 16 chars) of an Arrow table's content: column names, types and rows (the IPC stream format of
    one chunk, without the schema's key-value metadata, which a re-export may change)."""
    import pyarrow as pa

    table = table.replace_schema_metadata(None)
    # Fresh contiguous columns (the IPC bytes of a slice keep its parent's offsets): same rows, same hash.
    table = pa.concat_tables([table, table.slice(0, 0)]).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(memoryview(sink.getvalue())).hexdigest()[:16]


def compact_table(table: Any) -> Any:
    """``table`` in fresh contiguous buffers: a slice no longer holds (nor pickles, for a worker process) the rows of
    the batch it was cut from."""
    import pyarrow as pa

    return pa.concat_tables([table, table.slice(0, 0)]).combine_chunks()


@dataclass
class StreamShard:
    """One shard of a stream: its index, its first stream position, its rows (an Arrow table) and fingerprint."""

    index: int
    start: int
    table: Any
    fingerprint: str

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def stop(self) -> int:
        return self.start + self.num_rows

    def dataset(self):
        """The shard as an in-memory ``datasets.Dataset`` (zero-copy over the table)."""
        import datasets

        return datasets.Dataset(self.table)


class StreamSource:
    """A pool read shard by shard (see the module docstring); build it with :meth:`open`."""

    def __init__(self, *, files: list[str] | None = None, iterable: Any = None, description: str = "") -> None:
        if (files is None) == (iterable is None):
            raise TypeError("StreamSource needs exactly one of files= and iterable=.")
        self.files = files
        self.iterable = iterable
        self.description = description

    # -- construction ----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, data: Any, argument: str = "dataset") -> "StreamSource":
        """A source for ``data`` (anything :func:`is_stream` accepts); errors name ``argument``."""
        if isinstance(data, StreamSource):
            return data
        if type(data).__name__ == "IterableDataset" and hasattr(data, "_ex_iterable"):
            return cls(iterable=data, description=f"IterableDataset ({getattr(data, 'n_shards', '?')} source shards)")
        if isinstance(data, (list, tuple)):
            files = [os.path.abspath(os.fspath(p)) for p in data]
            description = f"{len(files)} files"
        else:
            text = os.fspath(data)
            if _is_glob(text):
                files = sorted(os.path.abspath(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
                files = [p for p in files if os.path.splitext(p)[1].lower() in STREAM_SUFFIXES]
                if not files:
                    raise FileNotFoundError(f"{argument}: no parquet or jsonl file matches {text!r}.")
            elif os.path.isdir(text):
                files = _shard_files(text)
                if not files:
                    raise FileNotFoundError(f"{argument}: the folder {text!r} holds no parquet or jsonl file.")
            else:
                raise FileNotFoundError(f"{argument}: {text!r} is neither a glob of files nor a folder of shards.")
            description = text
        for path in files:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{argument}: no file at {path!r}.")
            if os.path.splitext(path)[1].lower() not in STREAM_SUFFIXES:
                raise ValueError(f"{argument}: {path!r} is not a parquet or jsonl file; a stream reads "
                                 f"{sorted(STREAM_SUFFIXES)}.")
        return cls(files=files, description=description)

    # -- facts known before reading ----------------------------------------------------------------------------------
    @property
    def num_rows_hint(self) -> int | None:
        """Rows of the stream when known without reading it (parquet metadata, dataset info), else ``None``."""
        if self.files is not None:
            if any(STREAM_SUFFIXES[os.path.splitext(p)[1].lower()] != "parquet" for p in self.files):
                return None
            import pyarrow.parquet as pq

            return sum(pq.ParquetFile(p).metadata.num_rows for p in self.files)
        splits = getattr(getattr(self.iterable, "info", None), "splits", None)
        split = getattr(self.iterable, "split", None)
        if splits and split is not None and str(split) in splits:
            return splits[str(split)].num_examples or None
        return None

    @property
    def num_bytes(self) -> int | None:
        """Size of the files on disk (``None`` for an ``IterableDataset``)."""
        return None if self.files is None else sum(os.path.getsize(p) for p in self.files)

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance records."""
        out: dict[str, Any] = {"source": self.description}
        if self.files is not None:
            out["files"] = list(self.files)
        return out

    # -- reading -------------------------------------------------------------------------------------------------
    def shards(self, shard_size: int) -> Iterator[StreamShard]:
        """Consecutive shards of ``shard_size`` rows (the last one may be shorter), with fingerprints."""
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise ValueError(f"shard_size must be a positive int, got {shard_size!r}.")
        import pyarrow as pa

        pending: list[Any] = []
        held = start = index = 0
        for table in self._tables(shard_size):
            pending.append(table)
            held += table.num_rows
            while held >= shard_size:
                combined = pa.concat_tables(pending)
                shard = compact_table(combined.slice(0, shard_size))
                rest = combined.slice(shard_size)
                pending, held = ([rest] if rest.num_rows else []), rest.num_rows
                yield StreamShard(index, start, shard, table_fingerprint(shard))
                index, start = index + 1, start + shard_size
        if held:
            shard = compact_table(pa.concat_tables(pending))
            yield StreamShard(index, start, shard, table_fingerprint(shard))

    def _tables(self, batch_rows: int) -> Iterator[Any]:
        if self.iterable is not None:
            first = None
            for table in self.iterable.with_format("arrow").iter(batch_size=batch_rows):
                if first is None:
                    first = table.schema
                elif table.schema.names != first.names:
                    raise StreamError(f"the stream's rows changed columns: {table.schema.names} after {first.names}.")
                yield table
            return
        schema = None
        for path in self.files:
            reader = _read_parquet if path.lower().endswith(".parquet") else _read_jsonl
            for table in reader(path, batch_rows, None if schema is None else schema.names):
                table, schema = _conform(table, path, schema)
                yield table


def _other_columns(path: str, names: list[str], expected: Any) -> StreamError:
    return StreamError(f"shard {path!r} has columns {sorted(names)}, the first shard has {sorted(expected.names)}; "
                       "every shard of a pool must have the same columns.")


def _conform(table: Any, path: str, schema: Any) -> tuple[Any, Any]:
    """``(table, schema)``: the table in the running schema's column order, types promoted where they differ
    (e.g. a column that was all null so far and now holds strings); a clear error when they cannot be reconciled."""
    import pyarrow as pa

    if schema is None:
        return table, table.schema
    if set(table.schema.names) != set(schema.names):
        raise _other_columns(path, table.schema.names, schema)
    table = table.select(schema.names)
    if table.schema.equals(schema):
        return table, schema
    try:
        unified = pa.unify_schemas([schema, table.schema], promote_options="permissive")
        return table.cast(unified), unified
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise StreamError(f"shard {path!r} stores its columns with other types than the shards before it ({err}); "
                          "convert the shards to one schema.") from None


def _read_parquet(path: str, batch_rows: int, names: list[str] | None) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:
        raise StreamError(f"shard {path!r} has no rows; remove it from the pool's files.")
    for batch in pf.iter_batches(batch_size=batch_rows):
        yield pa.Table.from_batches([batch])


def _read_jsonl(path: str, batch_rows: int, names: list[str] | None) -> Iterator[Any]:
    rows: list[dict[str, Any]] = []
    keys = None if names is None else set(names)
    seen = 0
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise StreamError(f"{path!r} line {line_no}: not valid JSON ({err.msg}).") from None
            if not isinstance(row, dict):
                raise StreamError(f"{path!r} line {line_no}: expected a JSON object per line, got "
                                  f"{type(row).__name__}.")
            if keys is None:
                keys = set(row)
            if row.keys() != keys:
                raise StreamError(f"{path!r} line {line_no}: keys {sorted(row)} differ from the pool's columns "
                                  f"{sorted(keys)}; every row must have the same keys.")
            rows.append(row)
            if len(rows) == batch_rows:
                seen += len(rows)
                yield _jsonl_table(rows, path)
                rows = []
    if rows:
        seen += len(rows)
        yield _jsonl_table(rows, path)
    if not seen:
        raise StreamError(f"shard {path!r} has no rows; remove it from the pool's files.")


def _jsonl_table(rows: list[dict[str, Any]], path: str) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise StreamError(f"{path!r}: rows whose values do not fit one column type ({err}).") from None
