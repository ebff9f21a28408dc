"""The filter base class and registry (see :mod:`hf_select.data.filters` for the filters and ``apply_filters``).

Example:
    >>> from hf_select.data.filter_base import Filter
    >>> class Short(Filter):
    ...     def check(self, row, index=None):
    ...         return True if len(row["text"]) < 5 else (False, "long")
    >>> f = Short()
    >>> f({"text": "hi"}), f({"text": "a long text"}), dict(f.drop_counts)
    (True, False, {'long': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .formats import VIEWS, text_view

_FILTERS: dict[str, type["Filter"]] = {}


def register_filter(name: str):
    """Class decorator: register a :class:`Filter` subclass under ``name`` (for :func:`get_filter` and configs)."""

    def wrap(cls: type[Filter]) -> type[Filter]:
        cls.name = name
        _FILTERS[name] = cls
        return cls

    return wrap


def list_filters() -> list[str]:
    return sorted(_FILTERS)


def get_filter(name: str, **kwargs: Any) -> "Filter":
    """Build a registered filter by name, e.g. ``get_filter("token_length", tokenizer=tok, max_tokens=512)``."""
    if name not in _FILTERS:
        raise ValueError(f"Unknown filter {name!r}; known filters: {list_filters()}.")
    return _FILTERS[name](**kwargs)


@dataclass
class Filter:
    """Base class: subclasses implement :meth:`check` (``row`` is a dict, ``index`` its position in the dataset)."""

    name: ClassVar[str] = "filter"
    needs_index: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.drop_counts: Counter[str] = Counter()

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        raise NotImplementedError(f"{type(self).__name__} must implement check(row, index).")

    def reset(self) -> None:
        """Forget drop counts (and any state: seen hashes) before filtering another dataset."""
        self.drop_counts = Counter()

    def keep(self, row: Mapping[str, Any], index: int | None = None) -> bool:
        """``check`` as a bool, counting the drop reason."""
        if self.needs_index and index is None:
            raise ValueError(f"The {self.name!r} filter reads scores by row index: use dataset.filter(flt, "
                             "with_indices=True) or apply_filters.")
        result = self.check(row, index)
        if result is True:
            return True
        if not isinstance(result, tuple) or len(result) != 2 or result[0] is not False:
            raise TypeError(f"{type(self).__name__}.check must return True or (False, reason), got {result!r}.")
        self.drop_counts[result[1]] += 1
        return False

    def __call__(self, example: Any, indices: Any = None) -> bool | list[bool]:
        """Row-wise (``dataset.filter(flt)``) or batched (``dataset.filter(flt, batched=True)``)."""
        if _is_batch(example):
            columns = {k: example[k] for k in example.keys()}
            n = len(next(iter(columns.values()))) if columns else 0
            idx = list(indices) if indices is not None else [None] * n
            return [self.keep({k: v[i] for k, v in columns.items()}, idx[i]) for i in range(n)]
        return self.keep(example, indices)

    def batch(self, batch: Mapping[str, list[Any]], indices: Sequence[int] | None = None) -> list[bool]:
        """Explicitly batched form: ``dataset.filter(flt.batch, batched=True)``."""
        n = len(next(iter(batch.values()))) if batch else 0
        idx = list(indices) if indices is not None else [None] * n
        return [self.keep({k: v[i] for k, v in batch.items()}, idx[i]) for i in range(n)]


def _is_batch(example: Any) -> bool:
    return type(example).__name__ == "LazyBatch"


def _row_text(row: Mapping[str, Any], view: str, text_field: str | None, tokenizer: Any = None) -> str:
    return text_view([dict(row)], view, text_field=text_field, tokenizer=tokenizer)[0]


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"view={view!r} is not known; use one of {VIEWS}.")
