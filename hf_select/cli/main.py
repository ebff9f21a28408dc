"""``hf-select``: the command-line entry point.

Each subcommand is a module ``hf_select.cli.<name>`` with ``add_parser(subparsers)`` and ``run(args) -> int``; the same
modules back ``python -m hf_select.cli.<name>`` style scripts. Errors in user input print one line and exit with 2.

Example:
    >>> from hf_select.cli.main import make_parser
    >>> make_parser().parse_args(["select", "--dataset", "pool.jsonl", "--selector", "bm25", "--k", "5",
    ...                           "--output", "out"]).command
    'select'
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = ("select", "demo", "plan", "score", "push", "sft")


def make_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hf-select",
        description="Compute-constrained data selection for LLM fine-tuning.",
    )
    parser.add_argument("--version", action="version", version=f"hf-select {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"hf_select.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"hf_select.cli.{name}":
                continue  # a subcommand not shipped in this build
            raise
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = [a for a in extra if a != "--"]  # e.g. `hf-select sft --config c.yaml --max_steps 2`
    try:
        return int(args._run(args) or 0)
    except (ValueError, TypeError, ImportError, FileNotFoundError, KeyError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"hf-select {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-select {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
