"""Pieces the subcommands share: option parsing helpers and output folders (through :mod:`hf_select.atomic`)."""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from typing import Any, Iterator

OUTPUT_FLAG, OVERWRITE_FLAG = "--output", "--overwrite"


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


def add_column_args(parser: argparse.ArgumentParser, target: bool = True) -> None:
    """``--columns OLD=NEW`` (and ``--target-columns``): rename columns to TRL names before reading them."""
    parser.add_argument("--columns", action="append", metavar="OLD=NEW",
                        help="Rename a pool column to a TRL name before reading (repeatable), e.g. --columns "
                             "question=prompt --columns answer=completion.")
    if target:
        parser.add_argument("--target-columns", action="append", metavar="OLD=NEW",
                            help="The same for the target file.")


def add_output_args(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """``--output`` (a new folder, written atomically) and ``--overwrite``."""
    parser.add_argument(OUTPUT_FLAG, required=default is None, default=default,
                        help=f"{help} A new or empty folder; it is written beside and renamed in, so a failed run "
                             "leaves nothing there.")
    parser.add_argument(OVERWRITE_FLAG, action="store_true",
                        help="Replace an earlier hf_select output at --output (a folder holding anything else is "
                             "never replaced).")


def check_output(args: argparse.Namespace) -> str:
    """Refuse, before any work, an ``--output`` hf_select may not write (:func:`hf_select.atomic.check_output_dir`)."""
    from ..atomic import check_output_dir

    return check_output_dir(args.output, overwrite=args.overwrite, argument=OUTPUT_FLAG, overwrite_flag=OVERWRITE_FLAG)


@contextmanager
def output_dir(args: argparse.Namespace, kind: str) -> Iterator[str]:
    """A temporary folder that becomes ``--output`` when the block succeeds (:func:`hf_select.atomic.atomic_dir`)."""
    from ..atomic import atomic_dir

    with atomic_dir(args.output, overwrite=args.overwrite, kind=kind, argument=OUTPUT_FLAG,
                    overwrite_flag=OVERWRITE_FLAG) as tmp:
        yield tmp


def write_json(path: str, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=repr)
        f.write("\n")
