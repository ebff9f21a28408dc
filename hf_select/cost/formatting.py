"""How hf_select writes costs for people: ONE formatter for FLOPs, seconds and token counts, and plain-text tables.

Cards, ``SelectionCost.__str__``, ``hf-select plan``, the Space and the sweep print numbers through these functions,
so the same quantity reads the same everywhere.

Example:
    >>> from hf_select.cost.formatting import format_flops, format_seconds, format_table
    >>> format_flops(3.7e17), format_flops(0), format_flops(None)
    ('3.7e+17', '0', 'n/a')
    >>> format_seconds(0.25), format_seconds(75), format_seconds(5400)
    ('0.250 s', '1 min 15 s', '1 h 30 min')
    >>> print(format_table(["stage", "FLOPs"], [["encode", format_flops(2e12)], ["total", format_flops(2e12)]]))
    stage   FLOPs
    ------  -----
    encode  2e+12
    total   2e+12
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "n/a"
SIGNIFICANT_DIGITS = 3


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def format_flops(value: Any) -> str:
    """FLOPs with 3 significant digits (``"1.23e+17"``); ``"0"`` for zero, ``"n/a"`` for ``None``, ``"inf"``."""
    value = _number(value)
    if value is None:
        return MISSING
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


def format_seconds(value: Any) -> str:
    """Seconds as people read them: ``"0.250 s"`` below a minute, ``"1 min 15 s"``, ``"1 h 30 min"``."""
    value = _number(value)
    if value is None or not math.isfinite(value):
        return MISSING
    if value < 60:
        return f"{value:.3f} s"
    if value < 3600:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(round(value / 60), 60)
    return f"{hours} h {minutes} min"


def format_count(value: Any) -> str:
    """An integer count with thousands separators (``"12,000"``); ``"n/a"`` for ``None``."""
    return MISSING if value is None else f"{int(value):,}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned plain-text table (header, dashes, rows); cells are written with ``str``."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
