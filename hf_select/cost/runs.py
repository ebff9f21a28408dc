"""Measured runs as a CSV: the format ``examples/sweep.py`` writes and ``hf-select plan --runs`` reads.

One row per training run: ``method``, ``performance`` and the FLOPs (``total_flops``, or ``selection_flops`` and
``train_flops``), optionally ``train_convention`` (the training-FLOP convention the FLOPs were counted in; one value
per file). Two method names are not methods:

- :data:`BASE_METHOD` (``"base"``): the base model, no selection and no training: the zero-training point ``P0``.
- :data:`FULL_METHOD` (``"full"``): training on the whole pool, no selection: the full-data performance ``P-bar``
  (the utility model's ceiling) and, from its ``train_flops``, the full-pool training FLOPs ``F``.

Example:
    >>> import os, tempfile
    >>> from hf_select.cost.runs import read_runs
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.csv")
    >>> _ = open(path, "w").write("method,selection_flops,train_flops,performance\\nbase,0,0,2.0\\n"
    ...                           "bm25,0,1e12,2.5\\nfull,0,1e13,3.0\\n")
    >>> table = read_runs(path)
    >>> [r["method"] for r in table.runs], table.base_performance, table.full_performance, table.full_train_flops
    (['bm25'], 2.0, 3.0, 10000000000000.0)
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from typing import Any

from .convention import check_train_convention

BASE_METHOD = "base"
FULL_METHOD = "full"
# The columns examples/sweep.py writes (read_runs needs method, performance and the FLOPs; the rest documents the run).
RUN_FIELDS = ("method", "fraction", "k", "selection_flops", "train_flops", "total_flops", "metric", "performance",
              "seconds", "selection_seconds", "train_seconds", "eval_seconds", "steps", "train_tokens",
              "train_convention")


@dataclass
class RunsTable:
    """The method runs of a CSV and its two reference rows (``None`` when absent)."""

    runs: list[dict[str, Any]]
    base_performance: float | None = None
    full_performance: float | None = None
    full_train_flops: float | None = None
    train_convention: str | None = None


def csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The raw rows of a runs CSV (``[]`` when the file does not exist yet)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def append_run(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Add one run (:data:`RUN_FIELDS`) by rewriting the CSV atomically: a crash never leaves half a line."""
    from ..atomic import write_text_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RUN_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in csv_rows(path) + [row]:
        writer.writerow({k: r.get(k) for k in RUN_FIELDS})
    write_text_atomic(path, buf.getvalue())


def _number(row: dict[str, Any], name: str) -> float | None:
    value = row.get(name)
    return None if value in (None, "") else float(value)


def read_runs(path: str | os.PathLike, *, argument: str = "--runs") -> RunsTable:
    """Rows of a runs CSV: method runs as dicts with ``method``, ``flops`` (total), ``performance`` and, when known,
    ``selection_flops`` and ``train_flops``; the ``base`` and ``full`` rows as the table's reference values."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{argument} file {path!r} does not exist.")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        has_total = "total_flops" in cols
        has_split = {"selection_flops", "train_flops"} <= cols
        missing = sorted({"method", "performance"} - cols)
        if missing or not (has_total or has_split):
            need = missing + ([] if (has_total or has_split) else ["total_flops (or selection_flops and train_flops)"])
            raise ValueError(f"{argument} {path!r} lacks the column(s) {', '.join(need)}; found {sorted(cols)}.")
        table = RunsTable(runs=[])
        conventions = set()
        for i, r in enumerate(reader, start=2):
            if r.get("train_convention"):
                conventions.add(check_train_convention(r["train_convention"].strip(), f"{argument} line {i}: "
                                                                                      "train_convention"))
            try:
                sel, train = _number(r, "selection_flops"), _number(r, "train_flops")
                total = _number(r, "total_flops") if has_total and r.get("total_flops") not in (None, "") \
                    else (sel or 0.0) + (train or 0.0)
                method, perf = str(r["method"]).strip(), float(r["performance"])
            except (TypeError, ValueError):
                raise ValueError(f"{argument} {path!r} line {i}: FLOPs and performance must be numbers, got {r}.") \
                    from None
            if method == BASE_METHOD:
                table.base_performance = perf
            elif method == FULL_METHOD:
                table.full_performance, table.full_train_flops = perf, (train if train is not None else total)
            else:
                table.runs.append({"method": method, "flops": total, "performance": perf, "selection_flops": sel,
                                   "train_flops": train})
    if len(conventions) > 1:
        raise ValueError(f"{argument} {path!r} mixes training-FLOP conventions {sorted(conventions)}: its FLOPs are not "
                         "comparable; keep the runs of one convention.")
    table.train_convention = conventions.pop() if conventions else None
    if not table.runs:
        raise ValueError(f"{argument} {path!r} has no method runs (only reference rows, or none).")
    return table
