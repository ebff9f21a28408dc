"""Dataset filters for TRL SFT data (datatrove style): a filter keeps a row or drops it *with a reason*.

Every filter is a small dataclass with a :meth:`Filter.check` returning ``True`` (keep) or ``(False, reason)``;
drops are counted by reason in ``filter.drop_counts`` (they go to the cost summary and the card). Use a filter

- with ``datasets``: ``dataset.filter(flt)`` (row-wise; ``with_indices=True`` for index-based filters), or
  ``dataset.filter(flt, batched=True)``;
- with :func:`apply_filters`, which runs several filters in one pass and returns ``(filtered, kept_indices,
  drop_counts)``; ``SelectionConfig(filters=[...])`` calls it before scoring.

Stateful filters (exact / near-duplicate removal) keep the first occurrence, so run them in one process
(``num_proc=1``) and call :meth:`Filter.reset` before reusing one on another dataset.

Example:
    >>> from hf_select.data.filters import ExactDedupFilter, MalformedFilter, apply_filters
    >>> rows = [{"prompt": "2+2?", "completion": "4"}, {"prompt": "2+2?", "completion": "4"},
    ...         {"prompt": "Name?", "completion": "  "}]
    >>> kept, idx, drops = apply_filters(rows, [MalformedFilter(), ExactDedupFilter()])
    >>> idx.tolist(), sorted(drops.items())
    ([0], [('exact_dedup/exact_duplicate', 1), ('malformed/empty_completion', 1)])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .filter_base import _FILTERS, Filter, _check_view, _row_text, get_filter, list_filters, register_filter
from .formats import detect_format, example_parts
from .text_filters import SCRIPTS, CharsetFilter, ExactDedupFilter, NearDedupFilter, RegexFilter

def build_filters(specs: Sequence[Any] | None, *, tokenizer: Any = None) -> list[Any]:
    """Filters from a list of ``Filter`` objects, callables or ``{"name": ..., **options}`` dicts (YAML configs).

    ``tokenizer`` is passed to dict-specified filters that take one and were not given one.
    """
    out: list[Any] = []
    for i, spec in enumerate(specs or []):
        if isinstance(spec, Mapping):
            options = dict(spec)
            name = options.pop("name", None)
            if name is None:
                raise ValueError(f"filters[{i}] is a dict without 'name'; known filters: {list_filters()}.")
            cls = _FILTERS.get(name)
            if cls is not None and "tokenizer" in {f.name for f in fields(cls)} and options.get("tokenizer") is None:
                options["tokenizer"] = tokenizer
            out.append(get_filter(name, **options))
        elif isinstance(spec, Filter) or callable(spec):
            out.append(spec)
        else:
            raise TypeError(f"filters[{i}] must be a Filter, a callable or a dict with 'name'; "
                            f"got {type(spec).__name__}.")
    return out


@register_filter("token_length")
@dataclass
class TokenLengthFilter(Filter):
    """Keep rows whose token count (of the ``view`` text) lies in ``[min_tokens, max_tokens]``.

    Conversations are rendered with the tokenizer's chat template, as SFTTrainer will see them; tokens are counted
    by :func:`hf_select.scoring.encoding.encode` (special tokens once: not again when the template writes them).
    """

    tokenizer: Any = field(default=None, repr=False, metadata={"help": "Tokenizer of the model to be trained."})
    min_tokens: int | None = field(default=None, metadata={"help": "Drop rows shorter than this (reason too_short)."})
    max_tokens: int | None = field(default=None, metadata={"help": "Drop rows longer than this (reason too_long)."})
    view: str = field(default="full", metadata={"help": "Text measured: 'full', 'query' or 'completion'."})
    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})
    add_special_tokens: bool = field(default=True, metadata={
        "help": "Count the tokenizer's special tokens (e.g. BOS) once, as the model sees the text "
                "(hf_select.scoring.encoding); False counts the bare text."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tokenizer is None:
            raise ValueError("TokenLengthFilter needs tokenizer=<the model's tokenizer> to count tokens.")
        if self.min_tokens is None and self.max_tokens is None:
            raise ValueError("TokenLengthFilter needs min_tokens and/or max_tokens.")
        if self.min_tokens is not None and self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens={self.min_tokens} is larger than max_tokens={self.max_tokens}.")
        _check_view(self.view)

    def count(self, row: Mapping[str, Any]) -> int:
        from ..scoring.encoding import encode

        text = _row_text(row, self.view, self.text_field, self.tokenizer)
        return int(encode([text], self.tokenizer, add_special_tokens=self.add_special_tokens).lengths[0])

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        n = self.count(row)
        if self.min_tokens is not None and n < self.min_tokens:
            return False, "too_short"
        if self.max_tokens is not None and n > self.max_tokens:
            return False, "too_long"
        return True


@register_filter("malformed")
@dataclass
class MalformedFilter(Filter):
    """Drop rows that cannot be read (bad ``messages``, ``None`` text) or whose completion / text is empty."""

    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})
    allow_empty_completion: bool = field(default=False, metadata={"help": "Keep rows whose completion is empty."})

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        try:
            fmt = detect_format([dict(row)], self.text_field)
            _, prompt, completion = example_parts([dict(row)], text_field=self.text_field)[0]
        except (TypeError, ValueError, KeyError) as err:
            if "message" in str(err):  # formats.validate_messages names the message / the messages column
                return False, "bad_messages"
            return False, "none_value" if "None" in str(err) else "unreadable"
        if fmt == "language_modeling":
            return True if completion.strip() else (False, "empty_text")
        if fmt == "prompt_only":
            return True if prompt.strip() else (False, "empty_prompt")
        if not self.allow_empty_completion and not completion.strip():
            return False, "empty_completion"
        return True


@register_filter("score")
@dataclass
class ScoreFilter(Filter):
    """Keep rows whose score is within ``[min_score, max_score]``: read from a column, or from ``scores`` (an array or a
    ``SelectionResult``, indexed by row position: use ``with_indices=True`` with ``dataset.filter``)."""

    needs_index: ClassVar[bool] = False
    min_score: float | None = field(default=None, metadata={"help": "Drop rows below (reason score_below_min)."})
    max_score: float | None = field(default=None, metadata={"help": "Drop rows above (reason score_above_max)."})
    column: str = field(default="hf_select_score", metadata={"help": "Score column (used when scores is None)."})
    scores: Any = field(default=None, repr=False, metadata={"help": "Per-row scores or a SelectionResult."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_score is None and self.max_score is None:
            raise ValueError("ScoreFilter needs min_score and/or max_score.")
        if self.scores is not None:
            raw = getattr(self.scores, "scores", self.scores)
            self._scores = np.asarray(raw, dtype=np.float64).ravel()
            self.needs_index = True
        else:
            self._scores = None

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        if self._scores is not None:
            if index is None or not 0 <= index < len(self._scores):
                raise ValueError(f"ScoreFilter has {len(self._scores)} scores but got row index {index}; the scores "
                                 "must belong to this dataset.")
            value = float(self._scores[index])
        else:
            if self.column not in row:
                raise ValueError(f"ScoreFilter: no column {self.column!r} in the row (columns: {list(row)}); pass "
                                 "column=<name> or scores=<array | SelectionResult>.")
            value = float(row[self.column]) if row[self.column] is not None else float("nan")
        if np.isnan(value):
            return False, "score_missing"
        if self.min_score is not None and value < self.min_score:
            return False, "score_below_min"
        if self.max_score is not None and value > self.max_score:
            return False, "score_above_max"
        return True


def _run_one(flt: Any, row: dict[str, Any], index: int) -> tuple[bool, str]:
    """(keep, counted reason key) for a Filter or a plain callable returning bool or (bool, reason)."""
    if isinstance(flt, Filter):
        result = flt.check(row, index)
        name = flt.name
    else:
        result = flt(row)
        name = getattr(flt, "name", getattr(flt, "__name__", type(flt).__name__))
    if result is True or (isinstance(result, (bool, np.bool_)) and result):
        return True, ""
    if isinstance(result, tuple) and len(result) == 2 and not result[0]:
        reason = str(result[1])
    elif result is False or (isinstance(result, (bool, np.bool_)) and not result):
        reason = "dropped"
    else:
        raise TypeError(f"Filter {name!r} must return True/False or (False, reason), got {result!r}.")
    if isinstance(flt, Filter):
        flt.drop_counts[reason] += 1
    return False, f"{name}/{reason}"


def apply_filters(dataset: Any, filters: Sequence[Any]) -> tuple[Any, np.ndarray, dict[str, int]]:
    """Run ``filters`` in order over every row (the first filter that drops a row names the reason).

    Args:
        dataset: a ``datasets.Dataset``, a list of rows or texts, or a file path.
        filters: :class:`Filter` objects, callables returning ``bool`` / ``(False, reason)``, or ``{"name": ...}``
            dicts.

    Returns:
        ``(filtered_dataset, kept_indices, drop_counts)``: the kept rows as a Dataset, their positions in ``dataset``
        (``np.int64``, ascending) and ``{"<filter>/<reason>": count}``.
    """
    from .io import as_dataset

    ds = as_dataset(dataset, "dataset")
    chain = build_filters(filters)
    if not chain:
        return ds, np.arange(ds.num_rows, dtype=np.int64), {}
    kept: list[int] = []
    drops: Counter[str] = Counter()
    for i, row in enumerate(ds):
        for flt in chain:
            ok, key = _run_one(flt, row, i)
            if not ok:
                drops[key] += 1
                break
        else:
            kept.append(i)
    indices = np.asarray(kept, dtype=np.int64)
    return ds.select(indices), indices, dict(drops)


def filter_names(filters: Sequence[Any]) -> list[str]:
    return [getattr(f, "name", getattr(f, "__name__", type(f).__name__)) for f in filters]


__all__ = ["SCRIPTS", "CharsetFilter", "ExactDedupFilter", "Filter", "MalformedFilter", "NearDedupFilter",
           "RegexFilter", "ScoreFilter", "TokenLengthFilter", "apply_filters", "build_filters", "filter_names",
           "get_filter", "list_filters", "register_filter"]
