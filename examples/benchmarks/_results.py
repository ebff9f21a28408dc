"""Shared by the benchmark scripts: the machine / versions columns of a result row, and appending rows to a CSV.

A benchmark prints its results; it writes a CSV only with ``--out FILE`` (:func:`add_out_argument`, :func:`save_rows`),
so a run never touches tracked files unless asked. To record a run next to the published ones, pass
``--out examples/benchmarks/results/<name>.csv``: rows are appended (never overwritten), so older runs stay next to new
ones with the load average they were measured under.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = append_rows(path, [{"a": 1}]); _ = append_rows(path, [{"a": 2, "b": 3}])
    >>> open(path).read().split()
    ['a,b', '1,', '2,3']
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def run_info(*distributions: str) -> dict[str, Any]:
    """Timestamp, machine, load average and the installed version of each distribution (``<name>_version``)."""
    from hf_select.cost.record import hardware_info

    hw = hardware_info()
    info: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "processor": hw.get("processor"), "cpu_count": hw.get("cpu_count"), "platform": hw.get("platform"),
        "python": hw.get("python"), "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    for dist in ("hf-select", *distributions):
        try:
            info[f"{dist.replace('-', '_')}_version"] = version(dist)
        except PackageNotFoundError:
            info[f"{dist.replace('-', '_')}_version"] = "not installed"
    return info


RESULTS_DIR = Path(__file__).parent / "results"


def add_out_argument(parser: Any, name: str) -> None:
    """``--out FILE``: the CSV to append this benchmark's rows to (default: none, results are only printed)."""
    parser.add_argument("--out", default=None, metavar="FILE",
                        help=f"Append the result rows to this CSV (the published ones: {RESULTS_DIR.name}/{name}.csv "
                             "beside this script); default: print only.")


def save_rows(out: str | os.PathLike | None, rows: Iterable[Mapping[str, Any]]) -> Path | None:
    """Append ``rows`` to ``out`` when it is given (see :func:`append_rows`); say where they went."""
    if out is None:
        print("results not saved (pass --out FILE.csv to append them to a CSV)")
        return None
    path = append_rows(out, rows)
    print(f"appended to {path}")
    return path


def append_rows(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Append ``rows`` to the CSV at ``path``; new columns widen the file (old rows get empty cells)."""
    path = Path(path)
    rows = [dict(r) for r in rows]
    old: list[dict[str, Any]] = []
    columns: list[str] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            old = list(reader)
    for row in rows:
        columns += [c for c in row if c not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(old + rows)
    return path
