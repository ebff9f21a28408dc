"""Push a selection to a Hub dataset repo: the rows (or only the indices), ``selection.json``, a plot, the cost card.

Order of the commits, so that a failure at any point leaves no card describing data that is not there:

1. ``subset`` mode only, when the rows changed: if the repo holds a cost card of *another* selection, one commit
   removes ``README.md`` + ``selection.json`` (the old card must not describe the new rows); then the rows go up with
   ``datasets``' own ``Dataset.push_to_hub`` (so ``datasets.load_dataset(repo_id)`` just works).
2. One ``create_commit`` with ``hf_select/indices.parquet``, ``hf_select/scores.parquet``, the plot,
   ``selection.json`` and, last, the ``README.md`` cost card (pinned with ``parent_commit`` to the data just pushed).

Pushing the same selection again is a no-op: the rows are compared through the content hash recorded in the remote
``selection.json`` and the client skips files whose content is unchanged, so no commit is made.

Example:
    >>> import hf_select as hs
    >>> res = hs.select(["the cat sat", "dogs bark", "a cat and a dog"], "bm25", target=["cat"], k=2)
    >>> res.push_to_hub("me/cat-selection")  # doctest: +SKIP
    PushResult(repo_id='me/cat-selection', mode='subset', ...)
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from ._common import (HUB_SCHEMA_VERSION, INDICES_FILE, MODES, PLOT_FILE, README_FILE, SCORES_FILE, SELECTION_FILE,
                      HubPushError, check_repo_id, content_fingerprint, plain, resolve_token)
from .card import SCORE_COLUMN, CardConfig, render_cost_card, selection_plot_png, split_card

DATA_COMMIT_MESSAGE = "hf_select: upload the selected rows"
RETIRE_COMMIT_MESSAGE = "hf_select: remove the cost card of the previous selection"
CARD_COMMIT_MESSAGE = "hf_select: selection {selector} (k={k}) with its cost card"


@dataclass
class PushResult:
    """Where a selection was pushed and what the push changed (``commits_created == 0``: it was already there)."""

    repo_id: str
    mode: str
    revision: str
    commit_sha: str
    commits_created: int
    url: str
    files: list[str] = field(default_factory=list)


def push_selection(result: Any, repo_id: str, *, mode: str = "subset", private: bool | None = None,
                   token: str | None = None, revision: str | None = None, plot: bool | str | bytes = True,
                   dataset: Any = None, subset: Any = None, source_repo_id: str | None = None,
                   source_revision: str | None = None, source_split: str = "train",
                   card_config: CardConfig | None = None, commit_message: str | None = None) -> PushResult:
    """Push ``result`` to the dataset repo ``repo_id`` with its cost card.

    Args:
        result: a :class:`~hf_select.SelectionResult`.
        repo_id: ``"namespace/name"`` (or ``"name"`` for your namespace); created if missing.
        mode: ``"subset"`` (the selected rows, with a ``hf_select_score`` column) or ``"indices"`` (indices, scores
            and the source's id/revision/fingerprint only; for huge or licensed pools).
        private: visibility of a newly created repo.
        token: a write token; default ``HF_TOKEN`` or the saved login.
        revision: branch to push to (created from ``main`` if missing); default ``main``.
        plot: ``True`` draws the score/cost plot, ``False`` none, or a PNG (path or bytes), e.g. from
            ``hf_select.cost.plots.plot_plan``.
        dataset: the pool the selection was made on (default ``result.dataset``).
        subset: the selected rows when already materialised (e.g. ``subset.parquet`` of ``hf-select select``).
        source_repo_id / source_revision / source_split: the pool's Hub dataset, recorded so ``load_selection``
            can rebuild ``indices``-mode rows.
        card_config: :class:`~hf_select.hub.card.CardConfig` (license, tags, ...).
        commit_message: message of the card commit.

    Returns:
        :class:`PushResult`.
    """
    from ..import_utils import require

    if not callable(getattr(result, "validate", None)) or not hasattr(result, "indices"):
        raise TypeError(f"result must be a SelectionResult, got {type(result).__name__}.")
    result.validate()  # an edited selection (index out of range, duplicates, k disagreeing) is never pushed
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not known; use one of {MODES}.")
    if revision is not None and (not isinstance(revision, str) or not revision or revision.startswith("refs/")):
        raise ValueError(f"revision={revision!r} must be a branch name (e.g. 'main' or 'v2'), not a ref path.")
    require("huggingface_hub", "Pushing a selection to the Hub")
    repo_id = check_repo_id(repo_id)
    token = resolve_token(token, "push_selection")
    card_config = card_config or CardConfig()

    pool, subset = _prepare_rows(result, mode, dataset, subset)
    source = {"repo_id": source_repo_id, "revision": source_revision, "split": source_split,
              "content_sha256": content_fingerprint(pool) if pool is not None else None}
    png = _plot_bytes(result, plot, card_config)
    hub_block = {"hub_schema_version": HUB_SCHEMA_VERSION, "mode": mode, "source": source,
                 "subset_sha256": content_fingerprint(subset) if subset is not None else None,
                 "files": {"indices": INDICES_FILE, "scores": SCORES_FILE, "plot": PLOT_FILE if png else None}}
    files = {INDICES_FILE: _indices_parquet(result, source), SCORES_FILE: _scores_parquet(result)}
    if png:
        files[PLOT_FILE] = png
    files[SELECTION_FILE] = _selection_json(result, hub_block)

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    branch = revision or "main"
    state = {"repo_id": repo_id, "changed": False}
    with tempfile.TemporaryDirectory(prefix="hf_select-push-") as tmp, _step(state, "checking the token"):
        user = api.whoami()["name"]
        if "/" not in repo_id:
            repo_id = state["repo_id"] = f"{user}/{repo_id}"
        state["step"] = "creating the repo"
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        state["step"] = "reading what the repo holds"
        head = api.dataset_info(repo_id, revision=branch).sha
        created = 0
        remote_files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=head))
        remote_sel = _read_json(api, repo_id, SELECTION_FILE, head, tmp, remote_files)
        remote_meta = split_card(_read_text(api, repo_id, README_FILE, head, tmp, remote_files) or "")[0]
        remote_hub = (remote_sel or {}).get("hub", {})
        deletions = []
        card_base: dict[str, Any] = {}
        if mode == "subset":
            data_current = (remote_hub.get("subset_sha256") == hub_block["subset_sha256"]
                            and _data_present(remote_meta, remote_files))
            if data_current:
                card_base = remote_meta
            else:
                stale = [p for p in (README_FILE, SELECTION_FILE) if p in remote_files]
                if remote_sel is not None and stale:
                    state["step"] = "removing the previous selection's cost card"
                    head = api.create_commit(repo_id, [CommitOperationDelete(p) for p in stale],
                                             commit_message=RETIRE_COMMIT_MESSAGE, repo_type="dataset",
                                             revision=revision, parent_commit=head).oid
                    state["changed"], created = True, created + 1
                state["step"] = "uploading the selected rows with datasets.Dataset.push_to_hub"
                subset.push_to_hub(repo_id, split="train", token=token, revision=revision, private=private,
                                   commit_message=DATA_COMMIT_MESSAGE)
                state["changed"] = True
                before, head = head, api.dataset_info(repo_id, revision=branch).sha
                if head != before:  # datasets splits big uploads into several commits: count them
                    history = [c.commit_id for c in api.list_repo_commits(repo_id, repo_type="dataset",
                                                                          revision=head)]
                    created += history.index(before) if before in history else 1
                card_base = split_card(_read_text(api, repo_id, README_FILE, head, tmp, None) or "")[0]
        elif remote_hub.get("mode") == "subset":  # switching to indices: drop the rows of the previous subset
            deletions = [CommitOperationDelete(p) for p in sorted(remote_files) if _is_subset_data(p, remote_meta)]

        state["step"] = "committing the cost card"
        readme = render_cost_card(
            result, repo_id=repo_id, mode=mode, dataset=pool, subset=subset,
            data_configs=card_base.get("configs") if mode == "subset" else None,
            dataset_info=card_base.get("dataset_info") if mode == "subset" else None,
            source=source, plot_file=PLOT_FILE if png else None, config=card_config)
        ops = [CommitOperationAdd(path, data) for path, data in files.items()] + deletions
        if not png and PLOT_FILE in remote_files:
            ops.append(CommitOperationDelete(PLOT_FILE))
        ops.append(CommitOperationAdd(README_FILE, readme.encode()))  # the card goes last
        message = commit_message or CARD_COMMIT_MESSAGE.format(selector=result.selector, k=result.k)
        before, head = head, api.create_commit(repo_id, ops, commit_message=message, repo_type="dataset",
                                               revision=revision, parent_commit=head).oid
        created += int(head != before)
    return PushResult(repo_id=repo_id, mode=mode, revision=branch, commit_sha=head, commits_created=created,
                      url=f"{api.endpoint}/datasets/{repo_id}", files=sorted([*files, README_FILE]))


def _prepare_rows(result: Any, mode: str, dataset: Any, subset: Any) -> tuple[Any, Any]:
    """``(pool or None, subset rows or None)``, validated against the selection before any request."""
    import numpy as np

    from ..data.io import as_dataset

    pool = as_dataset(dataset, "dataset") if dataset is not None else result.dataset
    if pool is not None:
        result.check_pool(pool, ignore_fingerprint=dataset is None)  # same rows, same fingerprint
    if mode == "indices":
        return pool, None
    if subset is not None:
        subset = as_dataset(subset, "subset")
        if subset.num_rows != result.k:
            raise ValueError(f"subset has {subset.num_rows} rows but the selection has k={result.k}.")
        if SCORE_COLUMN in subset.column_names and not np.allclose(
                np.asarray(subset[SCORE_COLUMN], dtype=float), result.scores[result.indices], equal_nan=True):
            raise ValueError(f"subset's {SCORE_COLUMN} column does not match this selection's scores: it belongs to "
                             "another selection.")
        return pool, subset if SCORE_COLUMN in subset.column_names else subset.add_column(
            SCORE_COLUMN, result.scores[result.indices].tolist())
    if pool is None:
        raise ValueError("mode='subset' pushes the selected rows, but this result holds no dataset (it was loaded "
                         "from disk): pass dataset=<the pool> (or subset=<the selected rows>), or use mode='indices'.")
    return pool, result.to_dataset(pool)


def _plot_bytes(result: Any, plot: Any, config: CardConfig) -> bytes | None:
    if plot is True:
        return selection_plot_png(result, config)
    if plot is False or plot is None:
        return None
    if isinstance(plot, (bytes, bytearray)):
        data = bytes(plot)
    elif isinstance(plot, (str, os.PathLike)):
        with open(plot, "rb") as f:
            data = f.read()
    else:
        raise TypeError(f"plot must be True, False, a PNG path or PNG bytes, got {type(plot).__name__}.")
    if not data.startswith(b"\x89PNG"):
        raise ValueError("plot is not a PNG image.")
    return data


def _selection_json(result: Any, hub_block: dict[str, Any]) -> bytes:
    payload = result.to_dict()
    payload["provenance"] = {k: v for k, v in payload["provenance"].items() if k != "hub"}
    payload["hub"] = hub_block
    return (json.dumps(plain(payload), indent=2, sort_keys=True) + "\n").encode()


def _indices_parquet(result: Any, source: dict[str, Any]) -> bytes:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {"source": {**source, "fingerprint": result.provenance.get("dataset_fingerprint"),
                       "num_rows": len(result.scores)}}
    table = pa.table({"rank": np.arange(result.k, dtype=np.int64), "index": result.indices,
                      SCORE_COLUMN: result.scores[result.indices]})
    table = table.replace_schema_metadata({"hf_select": json.dumps(plain(meta), sort_keys=True)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _scores_parquet(result: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"score": result.scores}), buf)
    return buf.getvalue()


def _read_text(api: Any, repo_id: str, path: str, sha: str, tmp: str, known: set[str] | None) -> str | None:
    from huggingface_hub.errors import EntryNotFoundError

    if known is not None and path not in known:
        return None
    try:
        local = api.hf_hub_download(repo_id, path, repo_type="dataset", revision=sha, cache_dir=tmp)
    except EntryNotFoundError:
        return None
    with open(local, encoding="utf-8") as f:
        return f.read()


def _read_json(api: Any, repo_id: str, path: str, sha: str, tmp: str, known: set[str]) -> dict | None:
    text = _read_text(api, repo_id, path, sha, tmp, known)
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def _data_patterns(meta: dict[str, Any]) -> list[str]:
    patterns = []
    for cfg in meta.get("configs") or []:
        files = cfg.get("data_files") or []
        for entry in files if isinstance(files, list) else [files]:
            paths = entry.get("path") if isinstance(entry, dict) else entry
            patterns.extend(paths if isinstance(paths, list) else [paths])
    return [p for p in patterns if isinstance(p, str)]


def _data_present(meta: dict[str, Any], files: set[str]) -> bool:
    patterns = _data_patterns(meta)
    return bool(patterns) and all(any(fnmatch.fnmatch(f, p) for f in files) for p in patterns)


def _is_subset_data(path: str, meta: dict[str, Any]) -> bool:
    return not path.startswith("hf_select/") and any(fnmatch.fnmatch(path, p) for p in _data_patterns(meta))


@contextmanager
def _step(state: dict[str, Any], step: str) -> Iterator[None]:
    """Turn Hub/network failures into :class:`HubPushError` naming the repo, the step and what to do next."""
    from huggingface_hub.errors import HfHubHTTPError

    state["step"] = step
    try:
        yield
    except (HfHubHTTPError, OSError, _transport_error()) as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        what = f"HTTP {status}" if status else type(err).__name__
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if status == 401:
            advice = "The Hub rejected the token: check token= / HF_TOKEN and that it is still valid."
        elif status == 403:
            advice = "The token cannot write there: use a token with write access to that namespace."
        elif state["changed"]:
            advice = ("The rows are in the repo but its cost card is not (no card describes them yet): re-run the "
                      "push to finish; unchanged files are skipped.")
        else:
            advice = "Nothing in the repo was changed; re-run the push when the Hub is reachable."
        raise HubPushError(f"Pushing the selection to {state['repo_id']!r} failed while {state['step']} ({what}: "
                           f"{first}). {advice}") from err


def _transport_error() -> type[BaseException]:
    try:
        import httpx2

        return httpx2.TransportError
    except ImportError:  # pragma: no cover - huggingface_hub < 2 uses httpx/requests, whose errors are OSErrors
        return OSError
