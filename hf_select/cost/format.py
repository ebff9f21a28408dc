"""The one number formatter of hf_select: FLOPs, seconds and counts as cards, logs, the CLI and the Space print them.

Example:
    >>> from hf_select.cost.format import fmt_count, fmt_flops, fmt_seconds
    >>> fmt_flops(3.1512e12), fmt_flops(0), fmt_flops(None)
    ('3.15e+12', '0', 'n/a')
    >>> fmt_seconds(2.134), fmt_seconds(0.0123), fmt_seconds(754.2)
    ('2.13 s', '0.0123 s', '754 s')
    >>> fmt_count(50654)
    '50,654'
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "n/a"
SIGNIFICANT_DIGITS = 3


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def fmt_flops(value: Any) -> str:
    """FLOPs with three significant digits (``"3.15e+12"``); ``"0"`` for zero; ``"n/a"`` when unknown."""
    number = _number(value)
    if number is None:
        return MISSING
    return "0" if number == 0 else f"{number:.{SIGNIFICANT_DIGITS}g}"


def fmt_seconds(value: Any, *, unit: bool = True) -> str:
    """Seconds with three significant digits (``"2.13 s"``); ``unit=False`` drops the ``" s"`` (table columns)."""
    number = _number(value)
    if number is None:
        return MISSING
    text = "0" if number == 0 else f"{number:.{SIGNIFICANT_DIGITS}g}"
    if "e" in text:  # long runs: plain digits read better than 1.23e+03
        text = f"{number:.0f}"
    return f"{text} s" if unit else text


def fmt_count(value: Any) -> str:
    """An integer count with thousands separators (``"50,654"``); ``"n/a"`` when unknown."""
    number = _number(value)
    return MISSING if number is None else f"{int(round(number)):,}"
