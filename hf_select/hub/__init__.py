"""Selections on the Hugging Face Hub: push a selection with its cost card, load it back.

``push_selection`` / ``load_selection`` are imported on first use (``huggingface_hub`` and ``datasets`` are only
needed then).

Example:
    >>> import hf_select.hub as hub
    >>> sorted(hub.__all__)  # doctest: +NORMALIZE_WHITESPACE
    ['CardConfig', 'HubPushError', 'PushResult', 'check_repo_id', 'load_selection', 'push_selection',
     'render_cost_card']
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "push_selection": ".push",
    "PushResult": ".push",
    "load_selection": ".load",
    "render_cost_card": ".card",
    "CardConfig": ".card",
    "HubPushError": "._common",
    "check_repo_id": "._common",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
