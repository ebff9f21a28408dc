"""Reading pools and targets from what users have: a ``Dataset``, rows, texts, or a local file.

Example:
    >>> from hf_select.data.io import as_dataset
    >>> as_dataset(["a text", "another"], "target").column_names
    ['text']
"""

from __future__ import annotations

import os
from typing import Any

FILE_TYPES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}


def load_file(path: str | os.PathLike, argument: str = "dataset"):
    """Load a local jsonl / json / parquet / csv / txt file (or a folder saved with ``save_to_disk``) as a Dataset."""
    import datasets

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{argument}: no file or folder at {path!r}.")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "dataset_info.json")):
            return datasets.load_from_disk(path)
        raise ValueError(f"{argument}: {path!r} is a folder but not a dataset saved with save_to_disk.")
    ext = os.path.splitext(path)[1].lower()
    if ext not in FILE_TYPES:
        raise ValueError(f"{argument}: cannot read {path!r}; use one of {sorted(FILE_TYPES)}.")
    ds = datasets.load_dataset(FILE_TYPES[ext], data_files=path, split="train")
    return ds


def as_dataset(data: Any, argument: str = "dataset"):
    """A ``datasets.Dataset`` from a Dataset, a list of row dicts, a list of strings, a dict of columns or a path.

    Raises:
        TypeError: for streaming datasets and unsupported types.
        ValueError: for empty input.
    """
    import datasets

    if data is None:
        raise ValueError(f"{argument} is None; pass a datasets.Dataset, a list of rows or texts, or a file path.")
    if isinstance(data, datasets.IterableDataset):
        raise TypeError(f"{argument} is a streaming IterableDataset; selection scores every row, so materialise it "
                        "first, e.g. datasets.Dataset.from_list(list(ds.take(n))).")
    if isinstance(data, datasets.DatasetDict):
        raise TypeError(f"{argument} is a DatasetDict with splits {list(data)}; pass one split, e.g. {argument}['train'].")
    if isinstance(data, datasets.Dataset):
        ds = data
    elif isinstance(data, (str, os.PathLike)):
        ds = load_file(data, argument)
    elif isinstance(data, dict):
        ds = datasets.Dataset.from_dict(data)
    elif isinstance(data, (list, tuple)):
        if len(data) == 0:
            raise ValueError(f"{argument} is empty: give at least one example.")
        if all(isinstance(x, str) for x in data):
            ds = datasets.Dataset.from_dict({"text": list(data)})
        elif all(isinstance(x, dict) for x in data):
            ds = datasets.Dataset.from_list(list(data))
        else:
            raise TypeError(f"{argument}: a list must hold only strings or only row dicts.")
    else:
        raise TypeError(f"{argument} must be a datasets.Dataset, a list of rows or texts, or a file path; "
                        f"got {type(data).__name__}.")
    if ds.num_rows == 0:
        raise ValueError(f"{argument} is empty: give at least one example.")
    return ds
