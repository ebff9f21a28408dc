"""What pushing and loading share: file layout in the repo, repo-id and token checks, the content fingerprint, errors.

Example:
    >>> from hf_select.hub._common import check_repo_id
    >>> check_repo_id("my-user/my-selection")
    'my-user/my-selection'
    >>> check_repo_id("not a repo")
    Traceback (most recent call last):
    ...
    ValueError: repo_id='not a repo' is not a valid Hub repo id...
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Files of a pushed selection (paths inside the dataset repo).
SELECTION_FILE = "selection.json"
INDICES_FILE = "hf_select/indices.parquet"
SCORES_FILE = "hf_select/scores.parquet"
PLOT_FILE = "hf_select/cost.png"
README_FILE = "README.md"
MODES = ("subset", "indices")
HUB_SCHEMA_VERSION = 1
FINGERPRINT_BATCH_ROWS = 10_000  # rows per Arrow batch hashed by content_fingerprint (any value gives the same digest)


class HubPushError(RuntimeError):
    """The Hub refused or failed a step of a push; the message names the repo, the step and what to do."""


def check_repo_id(repo_id: Any, argument: str = "repo_id") -> str:
    """Validate a Hub repo id locally (before any request) and return it."""
    if not isinstance(repo_id, str) or not repo_id:
        raise TypeError(f"{argument} must be a non-empty string like 'user/my-selection', got {repo_id!r}.")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(
            f"{argument}={repo_id!r} is not a valid Hub repo id: use 'namespace/name' (or 'name' for your own "
            f"namespace) with letters, digits, '-', '_' or '.' ({err})."
        ) from None
    return repo_id


def resolve_token(token: str | None, purpose: str) -> str:
    """The token to write with: ``token``, else ``HF_TOKEN`` / the saved login; a clear error when there is none."""
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise TypeError("token must be a non-empty string (a Hugging Face access token) or None.")
    if token is None:
        from huggingface_hub import get_token

        token = get_token()
    if not token:
        raise ValueError(
            f"{purpose} needs a Hugging Face token with write access: pass token=..., set the HF_TOKEN environment "
            "variable, or run `hf auth login`."
        )
    return token


def content_fingerprint(dataset: Any) -> str:
    """sha256 of a ``datasets.Dataset``'s features and rows, independent of cache paths, chunking and formatting.

    Rows are hashed as canonical JSON in batches of ``FINGERPRINT_BATCH_ROWS`` (the digest does not depend on it).
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(dataset.features.to_dict(), sort_keys=True).encode())
    plain_rows = dataset.with_format(None)
    for start in range(0, dataset.num_rows, FINGERPRINT_BATCH_ROWS):
        batch = plain_rows[start:start + FINGERPRINT_BATCH_ROWS]
        names = sorted(batch)
        for row in zip(*(batch[n] for n in names)):
            digest.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into plain Python (for YAML and JSON)."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None:
        return None
    for kind in (bool, int, float, str):  # exact builtins: YAML safe_dump rejects subclasses (e.g. TorchVersion)
        if isinstance(value, kind):
            return kind(value)
    return repr(value)
