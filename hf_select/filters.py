"""``hf_select.filters``: dataset filters for TRL SFT data (see :mod:`hf_select.data.filters`).

Example:
    >>> from hf_select.filters import CharsetFilter
    >>> flt = CharsetFilter(scripts=["latin"], min_ratio=0.9)
    >>> flt({"text": "hello world"}), flt({"text": "привет мир"})
    (True, False)
    >>> dict(flt.drop_counts)
    {'other_script': 1}
"""

from .data.filters import (
    SCRIPTS,
    CharsetFilter,
    ExactDedupFilter,
    Filter,
    MalformedFilter,
    NearDedupFilter,
    RegexFilter,
    ScoreFilter,
    TokenLengthFilter,
    apply_filters,
    build_filters,
    get_filter,
    list_filters,
    register_filter,
)

__all__ = [
    "SCRIPTS",
    "CharsetFilter",
    "ExactDedupFilter",
    "Filter",
    "MalformedFilter",
    "NearDedupFilter",
    "RegexFilter",
    "ScoreFilter",
    "TokenLengthFilter",
    "apply_filters",
    "build_filters",
    "get_filter",
    "list_filters",
    "register_filter",
]
