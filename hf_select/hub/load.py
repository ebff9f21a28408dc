"""Load a selection pushed by :func:`~hf_select.hub.push.push_selection`: its rows and its ``SelectionResult``.

Everything is read at one commit (the head of ``revision`` when the call starts), so a concurrent push cannot mix two
selections. ``indices``-mode rows are rebuilt from the source dataset at its recorded revision (or from the pool you
pass) after checking its content against the fingerprint recorded at push time.

Example:
    >>> import hf_select as hs
    >>> rows, selection = hs.load_selection("me/cat-selection")  # doctest: +SKIP
    >>> selection.selector, selection.k, rows.num_rows  # doctest: +SKIP
    ('bm25', 2, 2)
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from ._common import (HUB_SCHEMA_VERSION, INDICES_FILE, SCORES_FILE, SELECTION_FILE, check_repo_id,
                      content_fingerprint)
from .card import BUILTIN_PREFIX, SCORE_COLUMN


def load_selection(repo_id: str, *, revision: str | None = None, token: str | None = None, dataset: Any = None,
                   split: str = "train") -> tuple[Any, Any]:
    """Return ``(rows, selection)`` for the selection pushed to the dataset repo ``repo_id``.

    Args:
        repo_id: the dataset repo the selection was pushed to.
        revision: branch, tag or commit (default ``main``).
        token: a read token for private repos (default ``HF_TOKEN`` / the saved login).
        dataset: ``indices`` mode only: the source pool (a ``datasets.Dataset`` or a file path) to rebuild the rows
            from, instead of downloading the recorded source dataset.
        split: the split of the pushed rows (``subset`` mode).

    Returns:
        ``(datasets.Dataset, SelectionResult)``: the selected rows in priority order with a ``hf_select_score`` column,
        and the selection (indices, scores, cost, config, provenance; ``provenance["hub"]`` says where it was read).
    """
    from ..import_utils import require

    repo_id = check_repo_id(repo_id)
    require("huggingface_hub", "Loading a selection from the Hub")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(token=token)
    try:
        sha = api.dataset_info(repo_id, revision=revision).sha
    except RepositoryNotFoundError:
        raise ValueError(f"Dataset repo {repo_id!r} was not found on {api.endpoint} (if it is private, pass a token "
                         "with read access).") from None
    except RevisionNotFoundError:
        raise ValueError(f"Dataset repo {repo_id!r} has no revision {revision!r}.") from None
    with tempfile.TemporaryDirectory(prefix="hf_select-load-") as tmp:
        def fetch(path: str) -> str:
            return api.hf_hub_download(repo_id, path, repo_type="dataset", revision=sha, cache_dir=tmp)

        try:
            with open(fetch(SELECTION_FILE), encoding="utf-8") as f:
                meta = json.load(f)
        except EntryNotFoundError:
            raise ValueError(f"{repo_id}@{sha[:12]} has no {SELECTION_FILE}: it was not pushed with "
                             "hf_select.push_selection, or a push did not finish (re-run it).") from None
        result = _result_from(meta, fetch, repo_id, sha)
    hub = meta["hub"]
    if hub["mode"] == "subset":
        import datasets

        rows = datasets.load_dataset(repo_id, split=split, revision=sha, token=token)
        if rows.num_rows != result.k:
            raise ValueError(f"{repo_id}@{sha[:12]} holds {rows.num_rows} rows but its {SELECTION_FILE} selected "
                             f"{result.k}: the repo was edited after the push; push the selection again.")
        return rows, result
    source = _source_rows(hub["source"], result, dataset, token)
    result.dataset = source
    rows = source.select(result.indices)  # content verified above; to_dataset would re-check the cache fingerprint
    if SCORE_COLUMN in rows.column_names:
        rows = rows.remove_columns(SCORE_COLUMN)
    return rows.add_column(SCORE_COLUMN, result.scores[result.indices].tolist()), result


def _result_from(meta: dict[str, Any], fetch: Any, repo_id: str, sha: str) -> Any:
    import pyarrow.parquet as pq

    from ..cost.record import SelectionCost
    from ..result import SelectionResult

    hub = meta.get("hub") or {}
    if meta.get("schema_version") is None or hub.get("hub_schema_version") != HUB_SCHEMA_VERSION:
        raise ValueError(f"{repo_id}@{sha[:12]}: {SELECTION_FILE} has hub schema {hub.get('hub_schema_version')!r}; "
                         f"this hf_select reads {HUB_SCHEMA_VERSION}. Upgrade hf_select.")
    indices = pq.read_table(fetch(hub.get("files", {}).get("indices") or INDICES_FILE)).column("index").to_numpy()
    scores = pq.read_table(fetch(hub.get("files", {}).get("scores") or SCORES_FILE)).column("score").to_numpy()
    provenance = dict(meta.get("provenance") or {})
    provenance["hub"] = {"repo_id": repo_id, "revision": sha, "mode": hub["mode"]}
    result = SelectionResult(indices=indices, scores=scores, cost=SelectionCost.from_dict(meta["cost"]),
                             config=meta.get("config") or {}, provenance=provenance)
    return result.validate(expected_k=meta.get("k"), where=f"the selection in {repo_id}@{sha[:12]}")


def _source_rows(source: dict[str, Any], result: Any, dataset: Any, token: str | None) -> Any:
    """The pool of an ``indices``-mode selection, checked against the fingerprint recorded at push time."""
    from ..data.io import as_dataset

    if dataset is not None:
        pool, where = as_dataset(dataset, "dataset"), "the dataset you passed"
    elif source.get("repo_id"):
        import datasets

        pool = datasets.load_dataset(source["repo_id"], split=source.get("split") or "train",
                                     revision=source.get("revision"), token=token)
        where = f"{source['repo_id']}@{source.get('revision') or 'main'}"
    elif _is_builtin_pool(result.provenance.get("dataset_fingerprint")):
        from ..data.builtin import load_builtin_pool

        pool, where = load_builtin_pool(), "the embedded pool (hf_select.load_builtin_pool())"
    else:
        raise ValueError("This selection was pushed in indices mode from a local pool (no source dataset id was "
                         "recorded): pass dataset=<the pool> to load_selection.")
    if pool.num_rows != len(result.scores):
        raise ValueError(f"The source ({where}) has {pool.num_rows} rows but the selection was made on "
                         f"{len(result.scores)}: it is not the same dataset any more. Pass the original pool as "
                         "dataset= or load the recorded revision.")
    expected = source.get("content_sha256")
    if expected:
        found = content_fingerprint(pool)
        if found != expected:
            raise ValueError(f"The source ({where}) no longer matches the dataset the selection was made on (content "
                             f"{found} != recorded {expected}): refusing to rebuild rows from it. Pass the original "
                             "pool as dataset= or load the recorded revision.")
    return pool


def _is_builtin_pool(fingerprint: Any) -> bool:
    """Whether the selection was made on the full embedded pool (``load_builtin_pool()`` with no subsampling)."""
    return isinstance(fingerprint, str) and fingerprint.startswith(BUILTIN_PREFIX) and fingerprint.endswith("-pool")
