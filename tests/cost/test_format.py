"""The one number formatter: FLOPs, seconds and counts."""

import math

from hf_select.cost.format import MISSING, fmt_count, fmt_flops, fmt_seconds


def test_flops():
    assert [fmt_flops(v) for v in (0, 0.0, 3.1512e12, 6e15, 123.0)] == ["0", "0", "3.15e+12", "6e+15", "123"]
    assert fmt_flops(None) == fmt_flops(math.nan) == MISSING


def test_seconds():
    assert [fmt_seconds(v) for v in (0, 2.134, 0.01234, 99.96, 754.2, 12345.6)] == [
        "0 s", "2.13 s", "0.0123 s", "100 s", "754 s", "12346 s"]
    assert fmt_seconds(2.5, unit=False) == "2.5" and fmt_seconds(None) == MISSING


def test_count():
    assert [fmt_count(v) for v in (0, 15, 50654, 1.0e6)] == ["0", "15", "50,654", "1,000,000"]
    assert fmt_count(None) == MISSING
