"""``hf-select``: the command-line entry point, and its one error boundary.

Each subcommand is a module ``hf_select.cli.<name>`` with ``add_parser(subparsers)`` and ``run(args) -> int``; the same
modules back ``python -m hf_select.cli.<name>`` style scripts.

Whatever goes wrong, a subcommand prints one line naming the problem and the fix (``--debug`` or
``HF_SELECT_DEBUG=1`` also prints the traceback) and exits with:

- ``2``: the command or its input is wrong (an option, a missing or malformed file, an output folder hf_select may not
  replace, a missing optional package);
- ``1``: the run failed for another reason (disk full, permissions, the network, an unexpected error);
- ``130`` / ``143``: interrupted by Ctrl-C / ``SIGTERM``; temporary folders are removed either way.

Example:
    >>> from hf_select.cli.main import make_parser
    >>> make_parser().parse_args(["select", "--dataset", "pool.jsonl", "--selector", "bm25", "--k", "5",
    ...                           "--output", "out"]).command
    'select'
    >>> one_line(ValueError("k=9 is larger than\\nthe pool"))
    'k=9 is larger than the pool'
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence

SUBCOMMANDS = ("select", "demo", "plan", "score", "push", "sft")
DEBUG_ENV = "HF_SELECT_DEBUG"
MAX_MESSAGE_CHARS = 600  # an error line longer than this is cut (the traceback under --debug has everything)
USAGE_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, IsADirectoryError,
                NotADirectoryError, ImportError)
_OS_ADVICE = {
    errno.EACCES: "check the permissions of that path, or choose another place",
    errno.EPERM: "check the permissions of that path, or choose another place",
    errno.EROFS: "that file system is read-only; choose another place",
    errno.EISDIR: "it is a folder; give a file path",
    errno.ENOTDIR: "a part of that path is a file, not a folder; choose another path",
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.ENAMETOOLONG: "use a shorter path",
}


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on ``SIGTERM``, so every cleanup that runs on Ctrl-C runs on ``kill`` too."""


def make_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hf-select",
        description="Compute-constrained data selection for LLM fine-tuning.",
    )
    parser.add_argument("--version", action="version", version=f"hf-select {__version__}")
    parser.add_argument("--debug", action="store_true", help=f"On an error, print the traceback too (or set "
                                                             f"{DEBUG_ENV}=1).")
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
        sub_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                help="On an error, print the traceback too.")
        sub_parser.set_defaults(_run=module.run)
    return parser


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (whitespace folded, cut at ``MAX_MESSAGE_CHARS``)."""
    msg = err.args[0] if isinstance(err, KeyError) and err.args else err
    text = " ".join(str(msg).split()) or type(err).__name__
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 1] + "…"


def describe(err: BaseException) -> tuple[str, int]:
    """``(one-line message naming the problem and the fix, exit code)`` for any exception of a subcommand."""
    from ..atomic import OutputExistsError

    if type(err).__module__.split(".")[0] == "yaml":  # a malformed YAML config
        return f"malformed YAML: {one_line(err)}; fix that file.", 2
    text = one_line(err)
    advice = _OS_ADVICE.get(err.errno or -1) if isinstance(err, OSError) and not isinstance(err, OutputExistsError) \
        else None
    if advice and advice not in text.lower():
        text = f"{text}: {advice}."
    if isinstance(err, OutputExistsError) or (isinstance(err, USAGE_ERRORS) and not _is_system_error(err)):
        return text, 2
    if isinstance(err, OSError):
        return text, 1
    if isinstance(err, MemoryError):
        return "out of memory: select on a smaller pool (or a subsample), or use a smaller model / batch size.", 1
    if type(err).__name__ == "HubPushError":  # already names the repo, the step and what to do
        return one_line(err), 1
    return (f"unexpected {type(err).__name__}: {one_line(err)} (rerun with --debug for the traceback and report it "
            "at the hf_select issue tracker)"), 1


def _is_system_error(err: BaseException) -> bool:
    """``FileNotFoundError`` of a user path is a usage error; an ``OSError`` in general is not."""
    return isinstance(err, OSError) and not isinstance(err, (FileNotFoundError, FileExistsError, IsADirectoryError,
                                                             NotADirectoryError))


def _debug_requested(args: argparse.Namespace | None, argv: Sequence[str]) -> bool:
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return bool(getattr(args, "debug", False)) or "--debug" in argv


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess in the tests
    raise Terminated(f"terminated by signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = [a for a in extra if a != "--"]  # e.g. `hf-select sft --config c.yaml --max_steps 2`
    previous, installed = None, False
    try:
        previous, installed = signal.signal(signal.SIGTERM, _on_sigterm), True
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return int(args._run(args) or 0)
    except Terminated:
        print(f"hf-select {args.command}: terminated (SIGTERM); temporary files were removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"hf-select {args.command}: interrupted; temporary files were removed", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which has exited
        return 1
    except Exception as err:  # the one error boundary: every failure becomes one line
        message, code = describe(err)
        if _debug_requested(args, argv):
            traceback.print_exc()
        print(f"hf-select {args.command}: error: {message}", file=sys.stderr)
        return code
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
