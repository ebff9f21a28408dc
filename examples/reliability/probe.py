# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select"]
# ///
"""Probe hf_select with bad inputs, misuse and faults; print what each did and the totals.

Every case runs in its own folder under a temporary directory (nothing outside it is touched), against the CLI
(``hf-select ...``, in this process by default, or the real executable with ``--subprocess``) or the Python API. Each
gets a verdict:

- ``clear error``: refused with one line naming the problem (no traceback), nothing lost;
- ``ok``: a valid input handled, its output checked;
- ``TRACEBACK``, ``FILES LOST``, ``SILENT WRONG`` (bad input accepted, or a wrong output with exit 0), ``UNCLEAR``
  (an error that is not one line), ``FAILED`` (a valid input refused).

Exit status 0 only when tracebacks, files lost, silent wrong outputs, unclear errors and failures are all 0.

Usage:
    python examples/reliability/probe.py                 # all cases, CLI in-process (about a minute)
    python examples/reliability/probe.py --subprocess    # the real `hf-select` executable for every CLI case
    python examples/reliability/probe.py --only output --only api   # cases whose name contains these words
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BAD_VERDICTS = ("TRACEBACK", "FILES LOST", "SILENT WRONG", "UNCLEAR", "FAILED")
# Exceptions the API raises on purpose, with a message naming the problem (anything else counts as a traceback).
API_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, OSError, KeyError, ImportError)


@dataclass
class Outcome:
    """What one run did: exit code (0 ok; API: 1 for a raised error), stdout, stderr, and an escaped traceback."""

    code: int
    out: str = ""
    err: str = ""
    traceback: str = ""


@dataclass
class Case:
    """One probe: ``run(folder, env) -> Outcome``; ``keep``: files (relative to the folder) that must survive as they
    were; ``check(folder, outcome)`` -> ``None`` when a success is right, else what is wrong."""

    name: str
    run: Callable[[Path, "Env"], Outcome]
    expect_error: bool = True
    keep: tuple[str, ...] = ()
    check: Callable[[Path, Outcome], str | None] | None = None
    needs: tuple[str, ...] = field(default_factory=tuple)  # optional packages the case needs


@dataclass
class Env:
    """How CLI cases run (in this process or through the executable) and where shared inputs live."""

    subprocess: bool
    template: Path

    def cli(self, folder: Path, *argv: Any, extra_env: dict[str, str] | None = None,
            timeout: float = 600) -> Outcome:
        argv = [str(a) for a in argv]
        if self.subprocess or extra_env:
            return run_executable(folder, argv, extra_env, timeout)
        return run_in_process(folder, argv)


def executable() -> list[str]:
    script = Path(sys.executable).with_name("hf-select")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hf_select.cli.main"]


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    extra = dict(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), root, env.get("PYTHONPATH", ""))
                                        if p)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"})
    env.pop("HF_SELECT_DEBUG", None)
    env.update(extra)
    return env


def run_executable(folder: Path, argv: list[str], extra_env: dict[str, str] | None, timeout: float) -> Outcome:
    proc = subprocess.run([*executable(), *argv], cwd=folder, env=subprocess_env(extra_env), capture_output=True,
                          text=True, timeout=timeout)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(folder: Path, argv: list[str]) -> Outcome:
    from hf_select.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException:  # what a user would see as a traceback
                return Outcome(1, out.getvalue(), err.getvalue(), traceback.format_exc())
    finally:
        os.chdir(here)
    return Outcome(int(code or 0), out.getvalue(), err.getvalue())


def run_api(fn: Callable[[], Any]) -> Outcome:
    """Call ``fn``: 0 when it returns, 1 with ``Type: message`` when it raises one of :data:`API_ERRORS`."""
    try:
        value = fn()
    except API_ERRORS as exc:
        return Outcome(1, "", f"{type(exc).__name__}: {exc}")
    except BaseException as exc:  # noqa: BLE001 - anything else is what the probe looks for
        return Outcome(1, "", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    return Outcome(0, repr(value)[:200])


def snapshot(folder: Path, names: tuple[str, ...]) -> dict[str, bytes | None]:
    shot = {}
    for name in names:
        path = folder / name
        shot[name] = path.read_bytes() if path.is_file() else ("<dir>" if path.is_dir() else None)
    return shot


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def error_lines(text: str) -> list[str]:
    """The error lines of stderr: argparse usage lines and progress bars are not errors."""
    lines = [line for line in text.splitlines() if line.strip()]
    if any(line.startswith("usage:") for line in lines):
        lines = [line for line in lines if "error:" in line]
    return [line for line in lines if "it/s]" not in line and "examples/s]" not in line]


def verdict(case: Case, outcome: Outcome, before: dict, after: dict, problem: str | None) -> str:
    if outcome.traceback or "Traceback (most recent call last)" in outcome.err:
        return "TRACEBACK"
    if before != after:
        return "FILES LOST"
    if case.expect_error:
        if outcome.code == 0:
            return "SILENT WRONG"
        lines = error_lines(outcome.err)
        return "clear error" if len(lines) == 1 and len(lines[0]) > 20 else "UNCLEAR"
    if outcome.code != 0:
        return "FAILED"
    return "SILENT WRONG" if problem else "ok"


def run_case(case: Case, root: Path, env: Env, index: int) -> tuple[str, Outcome, str]:
    folder = root / f"case{index:03d}"
    shutil.copytree(env.template, folder, symlinks=True)
    before = snapshot(folder, case.keep)
    outcome = case.run(folder, env)
    after = snapshot(folder, case.keep)
    problem = case.check(folder, outcome) if (case.check and outcome.code == 0) else None
    leftovers = [p.name for tag in ("tmp", "old") for p in folder.rglob(f".*hf_select-{tag}-*")]
    if leftovers and not outcome.traceback:
        problem = problem or f"temporary files left: {leftovers}"
        if case.expect_error:
            return "FILES LOST", outcome, problem
    return verdict(case, outcome, before, after, problem), outcome, problem or ""


def available(packages: tuple[str, ...]) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in packages)


def print_table(rows: list[tuple[str, int, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'input':<{width}}  {'exit':>4}  {'verdict':<12}  first line of output")
    print("-" * (width + 80))
    for name, code, verdict_, line in rows:
        print(f"{name:<{width}}  {code:>4}  {verdict_:<12}  {line[:110]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subprocess", action="store_true", help="Run every CLI case through the real executable.")
    parser.add_argument("--only", action="append", help="Run only cases whose name contains this (repeatable).")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the probe never reaches the network
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import datasets
    from cases import all_cases, make_template

    datasets.disable_progress_bars()
    datasets.config.HF_HUB_OFFLINE = True  # also when datasets was imported before this script ran
    cases = [c for c in all_cases() if not args.only or any(word in c.name for word in args.only)]
    rows, totals, start = [], {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hf_select_probe_") as tmp:
        root = Path(tmp)
        env = Env(args.subprocess, make_template(root / "template"))
        for i, case in enumerate(cases):
            if not available(case.needs):
                rows.append((case.name, -1, "skipped", f"needs {', '.join(case.needs)}"))
                totals["skipped"] = totals.get("skipped", 0) + 1
                continue
            v, outcome, problem = run_case(case, root, env, i)
            line = first_line(outcome.err) if outcome.code else (problem or first_line(outcome.out))
            rows.append((case.name, outcome.code, v, line if v != "TRACEBACK" else first_line(outcome.traceback
                                                                                                or outcome.err)))
            totals[v] = totals.get(v, 0) + 1
    print_table(rows)
    bad = {v: totals.get(v, 0) for v in BAD_VERDICTS}
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.0f}s: " + ", ".join(
        f"{totals.get(v, 0)} {v}" for v in ("clear error", "ok", "skipped") if totals.get(v)))
    print("tracebacks: {TRACEBACK}, files lost: {FILES LOST}, silent wrong outputs: {SILENT WRONG}, unclear errors: "
          "{UNCLEAR}, valid inputs refused: {FAILED}".format(**bad))
    return 0 if not any(bad.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
