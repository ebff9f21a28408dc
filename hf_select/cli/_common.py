"""Pieces the subcommands share: option parsing helpers and atomic output folders."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator


def parse_kv(items: list[str] | None, argument: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they parse)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{argument} takes KEY=VALUE, got {item!r}.")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_size_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--k", type=int, help="Number of rows to keep.")
    group.add_argument("--fraction", type=float, help="Fraction of the pool to keep, in (0, 1].")
    group.add_argument("--budget-flops", type=float, help="Total FLOP budget (selection + training); needs --train-model.")


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".hf_select-out-", dir=parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.rename(tmp, path)


def write_json(path: str, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=repr)
        f.write("\n")
