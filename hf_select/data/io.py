"""Reading pools and targets from what users have: a ``Dataset``, rows, texts, a local file, or a Hub dataset id.

A string is a local path when it exists (or names a data file by its extension); otherwise, when it is a valid Hub
repo id, it is loaded with ``datasets.load_dataset`` exactly as ``datasets`` does it (local cache first,
``HF_HUB_OFFLINE=1`` respected). A file that cannot be read gives one :class:`DataFileError` naming the file and, for
malformed jsonl / json / csv, the line.

Example:
    >>> from hf_select.data.io import as_dataset
    >>> as_dataset(["a text", "another"], "target").column_names
    ['text']
    >>> as_dataset([{"q": "2+2?", "a": "4"}], "dataset", columns={"q": "prompt", "a": "completion"}).column_names
    ['prompt', 'completion']
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

FILE_TYPES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}
HUB_SPLIT = "train"


class DataFileError(ValueError):
    """A data file (or Hub dataset) that cannot be read; the message names it, the line when known, and the fix."""


@contextmanager
def _quiet_datasets_logs() -> Iterator[None]:
    """``datasets`` logs a failed file read at ERROR level before raising; the caller reports it in one line."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(err: BaseException | None) -> str:
    text = str(err).strip() if err is not None else ""
    return text.splitlines()[0] if text else type(err).__name__


def _locate_json_error(path: str) -> str | None:
    """Where a json / jsonl file stops being valid: ``"line N: ..."`` (``None`` when every line parses)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip():
        return "the file is empty"
    lines = text.splitlines()
    first = next(line for line in lines if line.strip()).lstrip()
    if first.startswith("[") or (first.startswith("{") and len([ln for ln in lines if ln.strip()]) > 1
                                 and not first.rstrip().endswith("}")):
        try:  # one JSON document (an array of rows, or one pretty-printed object)
            json.loads(text)
            return None
        except json.JSONDecodeError as err:
            return f"line {err.lineno}, column {err.colno}: {err.msg}"
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            return f"line {number}, column {err.colno}: {err.msg} (one JSON object per line expected)"
        if not isinstance(value, dict):
            return f"line {number}: expected a JSON object (one row), got {type(value).__name__}"
    return None


def _blank(path: str) -> bool:
    with open(path, "rb") as f:
        return not f.read(1 << 20).strip()


def _describe_failure(path: str, kind: str, err: BaseException) -> str:
    cause = err.__cause__ or err.__context__ or err
    if isinstance(err, StopIteration) or type(cause).__name__ == "EmptyDataError" or _blank(path):
        return f"{path!r} is empty: give at least one example."
    if kind == "json":
        where = _locate_json_error(path)
        if where == "the file is empty":
            return f"{path!r} is empty: give at least one example."
        if where:
            return f"{path!r}, {where}. Fix or remove that line."
        return (f"{path!r} cannot be read as rows ({_first_line(cause)}); every row needs the same columns with "
                "the same types.")
    if kind == "csv":
        return f"{path!r} is not a well-formed CSV file ({_first_line(cause)}); every line needs the same fields."
    if kind == "parquet":
        return f"{path!r} is not a readable parquet file ({_first_line(cause)})."
    return f"{path!r} cannot be read ({_first_line(cause)})."


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
    try:
        with _quiet_datasets_logs():
            return datasets.load_dataset(FILE_TYPES[ext], data_files=path, split="train")
    except UnicodeDecodeError:
        raise DataFileError(f"{argument}: {path!r} is not UTF-8 text; save it as UTF-8.") from None
    except (StopIteration, ValueError, datasets.exceptions.DatasetGenerationError) as err:  # ArrowInvalid: ValueError
        raise DataFileError(f"{argument}: {_describe_failure(path, FILE_TYPES[ext], err)}") from None


def is_hub_id(text: Any) -> bool:
    """Whether ``text`` can name a Hub repository (``name`` or ``namespace/name``, as ``huggingface_hub`` validates
    repo ids) rather than a file or a path: the one Hub-id rule of hf_select (datasets here, models in
    :mod:`hf_select.scoring.loading`). It does not check that the repository exists.

    Example:
        >>> from hf_select.data.io import is_hub_id
        >>> is_hub_id("HuggingFaceTB/SmolLM2-135M-Instruct"), is_hub_id("data/train.jsonl"), is_hub_id("./model")
        (True, False, False)
    """
    if not isinstance(text, str) or not text:
        return False
    if os.path.splitext(text)[1].lower() in FILE_TYPES or text.startswith((".", "~", os.sep)):
        return False
    try:
        from huggingface_hub.utils import HFValidationError, validate_repo_id
    except ImportError:  # pragma: no cover - datasets depends on huggingface_hub
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def load_hub_dataset(repo_id: str, argument: str = "dataset", split: str = HUB_SPLIT):
    """``datasets.load_dataset(repo_id, split=split)`` (local cache first; offline mode respected); one-line errors."""
    import datasets

    try:
        with _quiet_datasets_logs():
            return datasets.load_dataset(repo_id, split=split)
    except ConnectionError as err:
        if datasets.config.HF_HUB_OFFLINE:
            raise DataFileError(f"{argument} {repo_id!r} is not a local file, and as a Hub dataset it is not in the "
                                "local cache while offline (HF_HUB_OFFLINE=1): load it once online, or pass a local "
                                "file.") from None
        raise DataFileError(f"{argument} {repo_id!r}: the Hub could not be reached ({_first_line(err)}); check the "
                            "network, or pass a local file.") from None
    except datasets.exceptions.DatasetNotFoundError:
        raise DataFileError(f"{argument} {repo_id!r} is neither a local file nor a Hub dataset you can read; check "
                            "the path or the repo id (private repos need a token: `hf auth login`).") from None
    except ValueError as err:  # e.g. an unknown split
        raise DataFileError(f"{argument} {repo_id!r}: {_first_line(err)}") from None


def _from_python(build: Any, data: Any, argument: str):
    import pyarrow as pa

    try:
        return build(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise TypeError(f"{argument}: the rows do not hold one type per column ({_first_line(err)}); give every row "
                        "the same columns with the same types (text as strings).") from None


def as_dataset(data: Any, argument: str = "dataset", *, columns: dict[str, str] | None = None):
    """A ``datasets.Dataset`` from a Dataset, a list of row dicts, a list of strings, a dict of columns, a path or a
    Hub dataset id; ``columns`` renames columns to TRL names first (see :func:`hf_select.data.mapping.map_columns`).

    Raises:
        TypeError: for streaming datasets and unsupported types.
        ValueError: for empty input; :class:`DataFileError` for unreadable files.
    """
    import datasets

    from .mapping import map_columns

    if data is None:
        raise ValueError(f"{argument} is None; pass a datasets.Dataset, a list of rows or texts, or a file path.")
    if isinstance(data, datasets.IterableDataset):
        raise TypeError(f"{argument} is a streaming IterableDataset; hs.select streams a pool given that way, but "
                        f"{argument} must be in memory: datasets.Dataset.from_list(list(ds.take(n))).")
    if isinstance(data, datasets.DatasetDict):
        raise TypeError(f"{argument} is a DatasetDict with splits {list(data)}; pass one split, e.g. "
                        f"{argument}['train'].")
    if isinstance(data, datasets.Dataset):
        ds = data
    elif isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if isinstance(data, str) and not os.path.exists(text) and is_hub_id(text):
            ds = load_hub_dataset(text, argument)
        else:
            ds = load_file(text, argument)
    elif isinstance(data, dict):
        ds = _from_python(datasets.Dataset.from_dict, data, argument)
    elif isinstance(data, (list, tuple)):
        if len(data) == 0:
            raise ValueError(f"{argument} is empty: give at least one example.")
        if all(isinstance(x, str) for x in data):
            ds = datasets.Dataset.from_dict({"text": list(data)})
        elif all(isinstance(x, dict) for x in data):
            ds = _from_python(datasets.Dataset.from_list, list(data), argument)
        else:
            raise TypeError(f"{argument}: a list must hold only strings or only row dicts.")
    else:
        raise TypeError(f"{argument} must be a datasets.Dataset, a list of rows or texts, or a file path; "
                        f"got {type(data).__name__}.")
    if ds.num_rows == 0:
        raise ValueError(f"{argument} is empty: give at least one example.")
    return map_columns(ds, columns, f"{argument} columns")
