"""Where the Space's pool and target come from, and the limits that make it safe to serve to other people.

A Hub dataset id must be a ``namespace/name`` repo id and is read only from the Hub (``hf://datasets/...``), never as a
path on this machine; uploads are checked for type and size (gradio already refuses larger ones before storing them:
``app.launch_kwargs``); pasted text has a size limit.

Example:
    >>> from space_data import hub_dataset_id
    >>> hub_dataset_id(" org/name ")
    'org/name'
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from space_handlers import SpaceConfig

POOL_SOURCES = ("Embedded pool", "Upload a file", "Hub dataset")
TARGET_SOURCES = ("Embedded target task", "Paste examples", "Upload a file")
UPLOAD_TYPES = (".jsonl", ".parquet", ".csv")
_SPLIT_PATTERN = re.compile(r"[A-Za-z0-9_\-.]{1,64}")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _check_upload(path: Any, what: str, cfg: SpaceConfig) -> str:
    if not path:
        raise ValueError(f"{what}: no file uploaded; upload a {'/'.join(UPLOAD_TYPES)} file.")
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in UPLOAD_TYPES:
        raise ValueError(f"{what}: {os.path.basename(path)!r} is not one of {', '.join(UPLOAD_TYPES)}.")
    size_mb = os.path.getsize(path) / 2**20
    if size_mb > cfg.max_upload_mb:
        raise ValueError(f"{what}: the file is {size_mb:.1f} MB; this Space accepts up to {cfg.max_upload_mb:g} MB. "
                         "Subsample it, or run `hf-select select` locally.")
    return path


def _cap(ds: Any, rows: int) -> Any:
    return ds if ds.num_rows <= rows else ds.select(range(rows))


def load_pool(source: str, max_rows: Any, upload: Any, hub_id: str, hub_split: str, cfg: SpaceConfig) -> Any:
    """The pool the user chose, capped at ``min(max_rows, cfg.max_pool_rows)`` rows."""
    rows = cfg.max_pool_rows if not max_rows else min(int(max_rows), cfg.max_pool_rows)
    if rows < 1:
        raise ValueError("Pool row cap must be at least 1.")
    if source == POOL_SOURCES[0]:
        from hf_select.data.builtin import load_builtin_pool

        return load_builtin_pool(max_rows=rows)
    if source == POOL_SOURCES[1]:
        from hf_select.data.io import as_dataset

        return _cap(as_dataset(_check_upload(upload, "Pool upload", cfg), "pool"), rows)
    if source == POOL_SOURCES[2]:
        repo_id, split = hub_dataset_id(hub_id), hub_split_name(hub_split)
        if _offline():
            raise ValueError("Hub datasets need network access, but this Space runs offline (HF_HUB_OFFLINE=1). "
                             "Use the embedded pool or upload a file.")
        import datasets

        try:  # hf://datasets/ makes datasets read the Hub only, never a folder of this machine
            stream = datasets.load_dataset(f"hf://datasets/{repo_id}", split=split, streaming=True)
            return datasets.Dataset.from_list(list(stream.take(rows)))
        except Exception as exc:
            raise ValueError(f"Could not read the Hub dataset {repo_id!r} (split {split!r}): {type(exc).__name__}. "
                             "Check the id and the split; private datasets cannot be read here.") from None
    raise ValueError(f"Pool source {source!r} is not one of {POOL_SOURCES}.")


def hub_dataset_id(text: Any) -> str:
    """A Hub dataset id typed by a user: ``namespace/name`` and a valid repo id (never read as a local path)."""
    repo_id = (text or "").strip() if isinstance(text, str) or text is None else ""
    if not repo_id:
        raise ValueError("Hub dataset: enter a dataset id such as 'org/name'.")
    from hf_select.hub import check_repo_id

    if repo_id.count("/") != 1 or repo_id.startswith("buckets/"):
        raise ValueError("Hub dataset id must look like 'org/name' (letters, digits, '-', '_', '.').")
    return check_repo_id(repo_id, "Hub dataset id")


def hub_split_name(text: Any) -> str:
    split = (text or "train").strip() if isinstance(text, str) or text is None else ""
    if not _SPLIT_PATTERN.fullmatch(split):
        raise ValueError("Split must be a split name such as 'train' (letters, digits, '-', '_', '.').")
    return split


def load_target(source: str, text: str, upload: Any, cfg: SpaceConfig) -> Any:
    """Target examples: the embedded target task, pasted lines (one example per line) or an uploaded file."""
    if source == TARGET_SOURCES[0]:
        from hf_select.data.builtin import load_builtin_target

        return load_builtin_target("validation")
    if source == TARGET_SOURCES[1]:
        if len(text or "") > cfg.max_paste_chars:
            raise ValueError(f"The pasted target examples are {len(text):,} characters; this Space accepts up to "
                             f"{cfg.max_paste_chars:,}. Upload a file instead, or run `hf-select select` locally.")
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if not lines:
            raise ValueError("Target examples are empty: paste one example per line, upload a file, or choose "
                             "'Embedded target task'.")
        from hf_select.data.io import as_dataset

        return as_dataset(lines, "target")
    if source == TARGET_SOURCES[2]:
        from hf_select.data.io import as_dataset

        return as_dataset(_check_upload(upload, "Target upload", cfg), "target")
    raise ValueError(f"Target source {source!r} is not one of {TARGET_SOURCES}.")
