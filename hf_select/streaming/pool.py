"""Which path a pool takes in ``select()``: in memory (the fast default for pools that fit) or streamed.

``streaming=None`` (auto): a ``datasets.IterableDataset`` is streamed; a glob / folder / list of shard files is
streamed when its files hold more than ``StreamConfig.auto_stream_bytes``, else loaded in memory; anything else (a
``Dataset``, rows, texts, one file) is loaded in memory. ``True`` / ``False`` force a path, so both can be run on the
same pool (they give the same scores and selection).

Example:
    >>> from hf_select.streaming.pool import open_pool
    >>> open_pool(["a text", "another"], None)
    (None, ['a text', 'another'])
"""

from __future__ import annotations

import os
from typing import Any

from .config import StreamConfig, as_stream_config
from .source import STREAM_SUFFIXES, StreamSource, is_stream


def open_pool(dataset: Any, streaming: bool | None, config: Any = None) -> tuple[StreamSource | None, Any]:
    """``(source, None)`` when ``dataset`` is read as a stream, ``(None, data)`` when it goes in memory."""
    if streaming is not None and not isinstance(streaming, bool):
        raise TypeError(f"streaming must be True, False or None (auto), got {streaming!r}.")
    config: StreamConfig = as_stream_config(config)
    if not is_stream(dataset):
        if streaming:
            from ..data.io import as_dataset

            ds = as_dataset(dataset, "dataset")
            return StreamSource(iterable=ds.to_iterable_dataset(), description="in-memory Dataset, streamed"), None
        return None, dataset
    source = StreamSource.open(dataset)
    big = source.iterable is not None or source.num_bytes > config.auto_stream_bytes
    if streaming or (streaming is None and big):
        return source, None
    return None, load_in_memory(source)


def load_in_memory(source: StreamSource):
    """The whole stream as one ``datasets.Dataset`` (files through ``datasets.load_dataset``, in stream order)."""
    import datasets

    if source.iterable is not None:
        return datasets.Dataset.from_list(list(source.iterable))
    parts = []
    for path in source.files:  # consecutive files of one type are loaded together
        kind = "parquet" if STREAM_SUFFIXES[os.path.splitext(path)[1].lower()] == "parquet" else "json"
        if parts and parts[-1][0] == kind:
            parts[-1][1].append(path)
        else:
            parts.append((kind, [path]))
    loaded = [datasets.load_dataset(kind, data_files=files, split="train") for kind, files in parts]
    return loaded[0] if len(loaded) == 1 else datasets.concatenate_datasets(loaded)
