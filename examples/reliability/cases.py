"""The probe's cases: bad inputs, misuse and faults against ``hf-select`` and the Python API (see probe.py).

Each case runs in a copy of the template folder (:func:`make_template`): ``pool.jsonl`` (40 prompt/completion rows),
``target.jsonl``, ``project/`` (a user's project: ``train.py``, ``notes.txt`` and copies of the inputs), ``earlier/``
(an earlier ``hf-select select`` output), ``alpaca.jsonl``, ``sharegpt.jsonl`` and ``custom.jsonl``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from probe import Case, Env, Outcome, executable, run_api, run_in_process, subprocess_env

POOL = [{"prompt": f"question {i} about " + ("cats" if i % 4 == 0 else "stocks"), "completion": f" answer {i}"}
        for i in range(40)]
ALPACA = [{"instruction": "Answer the question.", "input": f"Question {i}?",
           "output": "cats purr" if i % 5 == 0 else "stocks fell"} for i in range(20)]
PROJECT_FILES = ("project/train.py", "project/notes.txt", "project/pool.jsonl", "project/target.jsonl")
EARLIER_FILES = ("earlier/.hf_select", "earlier/cost.json", "earlier/subset.parquet",
                 "earlier/selection/indices.parquet", "earlier/selection/scores.parquet",
                 "earlier/selection/selection.json")
SELECT = ("select", "--dataset", "pool.jsonl", "--selector", "length")


def _jsonl(rows: list[dict]) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def make_template(folder: Path) -> Path:
    """The inputs every case starts from (an earlier output is made once, through the API)."""
    folder.mkdir(parents=True)
    (folder / "pool.jsonl").write_text(_jsonl(POOL))
    (folder / "target.jsonl").write_text(_jsonl([{"text": "cats"}]))
    (folder / "project").mkdir()
    (folder / "project" / "train.py").write_text("print('my training script')\n")
    (folder / "project" / "notes.txt").write_text("my notes\n")
    for name in ("pool.jsonl", "target.jsonl"):
        (folder / "project" / name).write_bytes((folder / name).read_bytes())
    (folder / "alpaca.jsonl").write_text(_jsonl(ALPACA))
    (folder / "sharegpt.jsonl").write_text(_jsonl([{"conversations": [
        {"from": "human", "value": "what do cats do"}, {"from": "gpt", "value": "cats purr"}]}]))
    (folder / "custom.jsonl").write_text(_jsonl([{"q": r["input"], "a": " " + r["output"]} for r in ALPACA]))
    out = run_in_process(folder, [*SELECT, "--k", "3", "--output", "earlier"])
    assert out.code == 0, out.err
    return folder


# -- helpers ---------------------------------------------------------------------------------------------------------
def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def cli(*argv: Any, cwd: str = ".", setup: Callable[[Path], None] | None = None,
        extra_env: dict[str, str] | None = None) -> Callable[[Path, Env], Outcome]:
    def run(folder: Path, env: Env) -> Outcome:
        if setup:
            setup(folder)
        return env.cli(folder / cwd, *argv, extra_env=extra_env)
    return run


def api(fn: Callable[[Path], Any], setup: Callable[[Path], None] | None = None) -> Callable[[Path, Env], Outcome]:
    def run(folder: Path, env: Env) -> Outcome:
        if setup:
            setup(folder)
        here = os.getcwd()
        os.chdir(folder)
        try:
            return run_api(lambda: fn(folder))
        finally:
            os.chdir(here)
    return run


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def fault(exc: BaseException, *argv: Any) -> Callable[[Path, Env], Outcome]:
    """Run the CLI in this process while every parquet write raises ``exc`` (a full disk, a Ctrl-C ...)."""
    def run(folder: Path, env: Env) -> Outcome:
        import pyarrow.parquet as pq

        def fail(*args: Any, **kwargs: Any) -> None:
            raise exc

        with patched(pq, "write_table", fail):
            return run_in_process(folder, [str(a) for a in argv])
    return run


def sigterm_during_write(folder: Path, env: Env) -> Outcome:
    """The real executable, killed with SIGTERM while it writes (a plugin slows the write down)."""
    started = folder / "writing"
    (folder / "slow_plugin.py").write_text(f"""
import time
import hf_select.cli.select as cli_select
_write = cli_select.write_outputs
def slow(res, folder, **kwargs):
    _write(res, folder, **kwargs)
    open({str(started)!r}, "w").close()
    time.sleep(120)
cli_select.write_outputs = slow
""")
    argv = [*SELECT, "--k", "5", "--plugin", "slow_plugin", "--output", "earlier", "--overwrite"]
    proc = subprocess.Popen([*executable(), *argv], cwd=folder, env=subprocess_env({"PYTHONPATH": str(folder)}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Outcome(proc.returncode, out, err)


def selection_edit(**changes: Any) -> Callable[[Path], None]:
    """Edit ``earlier/selection`` by hand (an index, a duplicate, k, the scores)."""
    def setup(folder: Path) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        sel = folder / "earlier" / "selection"
        if "indices" in changes:
            idx = np.asarray(changes["indices"], dtype=np.int64)
            pq.write_table(pa.table({"rank": np.arange(len(idx)), "index": idx}), sel / "indices.parquet")
        if "scores" in changes:
            pq.write_table(pa.table({"score": np.asarray(changes["scores"], dtype=float)}), sel / "scores.parquet")
        if "k" in changes:
            meta = json.loads((sel / "selection.json").read_text())
            meta["k"] = changes["k"]
            (sel / "selection.json").write_text(json.dumps(meta))
        if "json" in changes:
            (sel / "selection.json").write_text(changes["json"])
    return setup


def loaded_k(path: str, k: int) -> Callable[[Path, Outcome], str | None]:
    def check(folder: Path, outcome: Outcome) -> str | None:
        from hf_select.result import SelectionResult

        found = SelectionResult.load(folder / path).k
        return None if found == k else f"expected k={k}, found {found}"
    return check


def indices_are(path: str, expected: list[int]) -> Callable[[Path, Outcome], str | None]:
    def check(folder: Path, outcome: Outcome) -> str | None:
        from hf_select.result import SelectionResult

        found = sorted(SelectionResult.load(folder / path).indices.tolist())
        return None if found == expected else f"selected {found}, expected {expected}"
    return check


def selection(folder: Path):
    import hf_select as hs

    return hs.select(str(folder / "pool.jsonl"), "length", k=3)


def load_earlier(folder: Path):
    from hf_select.result import SelectionResult

    return SelectionResult.load(folder / "earlier" / "selection")


def _cases() -> list[Case]:
    from cases_more import more_cases

    return [*output_cases(), *input_cases(), *option_cases(), *more_cases()]


def output_cases() -> list[Case]:
    dot = ("select", "--dataset", "pool.jsonl", "--target", "target.jsonl", "--k", "3")
    return [
        Case("output: --output . inside a project", cli(*dot, "--output", ".", cwd="project"), keep=PROJECT_FILES),
        Case("output: --output . --overwrite", cli(*dot, "--output", ".", "--overwrite", cwd="project"),
             keep=PROJECT_FILES),
        Case("output: --output .. (holds the cwd)", cli(*dot, "--output", "..", cwd="project"), keep=PROJECT_FILES),
        Case("output: a user's project folder", cli(*SELECT, "--k", "3", "--output", "project"), keep=PROJECT_FILES),
        Case("output: a user's folder --overwrite", cli(*SELECT, "--k", "3", "--output", "project", "--overwrite"),
             keep=PROJECT_FILES),
        Case("output: an existing file", cli(*SELECT, "--k", "3", "--output", "project/notes.txt"),
             keep=PROJECT_FILES),
        Case("output: under a file", cli(*SELECT, "--k", "3", "--output", "project/notes.txt/sub"),
             keep=PROJECT_FILES),
        Case("output: earlier output without --overwrite", cli(*SELECT, "--k", "5", "--output", "earlier"),
             keep=EARLIER_FILES),
        Case("output: earlier output --overwrite", cli(*SELECT, "--k", "5", "--output", "earlier", "--overwrite"),
             expect_error=False, check=loaded_k("earlier/selection", 5)),
        Case("output: an empty folder", cli(*SELECT, "--k", "4", "--output", "empty", setup=lambda f: (
            f / "empty").mkdir()), expect_error=False, check=loaded_k("empty/selection", 4)),
        Case("output: a new nested folder", cli(*SELECT, "--k", "2", "--output", "a/b/c"), expect_error=False,
             check=loaded_k("a/b/c/selection", 2)),
        Case("output: score into a user's folder", cli("score", "--dataset", "pool.jsonl", "--selector", "length",
                                                       "--output", "project"), keep=PROJECT_FILES),
        Case("output: score --output .", cli("score", "--dataset", "pool.jsonl", "--selector", "length", "--output",
                                             ".", cwd="project"), keep=PROJECT_FILES),
        Case("output: demo into a user's folder", cli("demo", "--selectors", "random", "--max-rows", "300",
                                                      "--output", "project"), keep=PROJECT_FILES),
        Case("output: demo --output .", cli("demo", "--selectors", "random", "--output", ".", cwd="project"),
             keep=PROJECT_FILES),
        Case("fault: disk full while replacing an output", fault(OSError(errno.ENOSPC, "No space left on device"),
                                                                  *SELECT, "--k", "5", "--output", "earlier",
                                                                  "--overwrite"), keep=EARLIER_FILES),
        Case("fault: disk full on a new output", fault(OSError(errno.ENOSPC, "No space left on device"), *SELECT,
                                                       "--k", "5", "--output", "fresh")),
        Case("fault: permission denied while writing", fault(PermissionError(errno.EACCES, "Permission denied"),
                                                             *SELECT, "--k", "5", "--output", "fresh")),
        Case("fault: Ctrl-C while replacing an output", fault(KeyboardInterrupt(), *SELECT, "--k", "5", "--output",
                                                              "earlier", "--overwrite"), keep=EARLIER_FILES),
        Case("fault: SIGTERM while replacing an output", sigterm_during_write, keep=EARLIER_FILES),
        Case("api: save() into a user's folder", api(lambda f: selection(f).save(f / "project")),
             keep=PROJECT_FILES),
        Case("api: save() into the cwd", api(lambda f: (os.chdir(f / "project"), selection(f).save("."))),
             keep=PROJECT_FILES),
        Case("api: save() onto a file", api(lambda f: selection(f).save(f / "project" / "notes.txt")),
             keep=PROJECT_FILES),
        Case("api: save() twice (replaces its own output)", api(lambda f: [selection(f).save(f / "s")
                                                                           for _ in range(2)]),
             expect_error=False, check=loaded_k("s", 3)),
        Case("api: save(overwrite=False) on an earlier save", api(lambda f: selection(f).save(
            f / "earlier" / "selection", overwrite=False)), keep=EARLIER_FILES),
    ]


def input_cases() -> list[Case]:
    one = ("--selector", "length", "--k", "1", "--output", "o")
    files = [
        ("missing dataset file", None, None),
        ("empty jsonl", "p.jsonl", ""),
        ("jsonl of blank lines", "p.jsonl", "\n\n\n"),
        ("malformed jsonl line 3", "p.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": "c"\n'),
        ("jsonl line not an object", "p.jsonl", '{"text": "a"}\n[1, 2]\n'),
        ("json that is not JSON", "p.json", "not json"),
        ("json array cut short", "p.json", '[{"text": "a"}, {"text": '),
        ("ragged csv", "p.csv", "text,n\na,1\nb,2,3\n"),
        ("empty csv", "p.csv", ""),
        ("parquet that is not parquet", "p.parquet", "PAR1 not really"),
        ("empty txt", "p.txt", ""),
        ("unknown extension", "p.xml", "<rows/>"),
        ("binary garbage jsonl", "p.jsonl", bytes(range(256)) * 4),
        ("utf-16 jsonl", "p.jsonl", '{"text": "a"}\n'.encode("utf-16")),
        ("row with null text", "p.jsonl", _jsonl([{"text": "a"}, {"text": None}])),
        ("messages not a list", "p.jsonl", _jsonl([{"messages": "hi"}])),
        ("message without a role", "p.jsonl", _jsonl([{"messages": [{"content": "hi"}]}])),
        ("no text column", "p.jsonl", _jsonl([{"a": 1, "b": 2}])),
        ("rows of different schemas", "p.jsonl", _jsonl([{"text": "a"}, {"prompt": "p", "completion": " c"}])),
        ("ShareGPT with an unknown role", "p.jsonl", _jsonl([{"conversations": [{"from": "robot", "value": "x"}]}])),
        ("Alpaca with a null output", "p.jsonl", _jsonl([{"instruction": "do", "output": None}])),
        ("Alpaca history not pairs", "p.jsonl", _jsonl([{"instruction": "do", "output": "x", "history": [["a"]]}])),
    ]
    cases = [Case("input: missing dataset file", cli("select", "--dataset", "nope.jsonl", *one))]
    for name, path, content in files[1:]:
        cases.append(Case(f"input: {name}", cli("select", "--dataset", path, *one, setup=write(path, content))))
    cases += [
        Case("input: a folder that is not a dataset", cli("select", "--dataset", "project", *one)),
        Case("input: missing target file", cli("select", "--dataset", "pool.jsonl", "--target", "nope.jsonl", *one)),
        Case("input: empty target file", cli("select", "--dataset", "pool.jsonl", "--target", "t.jsonl", "--selector",
                                             "bm25", "--k", "1", "--output", "o", setup=write("t.jsonl", ""))),
        Case("input: malformed target", cli("select", "--dataset", "pool.jsonl", "--target", "t.jsonl", "--selector",
                                            "bm25", "--k", "1", "--output", "o", setup=write("t.jsonl", "{oops\n"))),
        Case("input: made-up Hub id while offline", cli("select", "--dataset", "someone/made-up-xyz", *one)),
    ]
    return cases


def option_cases() -> list[Case]:
    out = ("--output", "o")
    bad = {
        "--k 0": ["--k", "0"], "--k -1": ["--k", "-1"], "--k larger than the pool": ["--k", "999"],
        "--k 2.5": ["--k", "2.5"], "--fraction 0": ["--fraction", "0"], "--fraction 1.5": ["--fraction", "1.5"],
        "--fraction nan": ["--fraction", "nan"], "--k with --fraction": ["--k", "2", "--fraction", "0.1"],
        "no size": [], "--strategy nope": ["--k", "2", "--strategy", "nope"],
        "band low > high": ["--k", "2", "--strategy", "band", "--strategy-arg", "low=0.9", "--strategy-arg",
                            "high=0.1"],
        "threshold without a threshold": ["--k", "2", "--strategy", "threshold"],
        "unknown strategy option": ["--k", "2", "--strategy-arg", "bogus=1"],
        "strategy option without =": ["--k", "2", "--strategy-arg", "bogus"],
        "--budget-flops without --train-model": ["--budget-flops", "1e15"],
        "--budget-flops -5": ["--budget-flops", "-5", "--train-model", "1e8"],
        "--train-model nonsense": ["--budget-flops", "1e15", "--train-model", "big"],
        "--subset-format xml": ["--k", "2", "--subset-format", "xml"],
        "--plugin missing": ["--k", "2", "--plugin", "no_such_plugin_module"],
        "--text-field not a column": ["--k", "2", "--text-field", "body"],
        "--columns not a column": ["--k", "2", "--columns", "body=text"],
        "--columns to a non-TRL name": ["--k", "2", "--columns", "prompt=question"],
        "--columns without =": ["--k", "2", "--columns", "prompt"],
        "--seed not a number": ["--k", "2", "--seed", "abc"],
        "unknown argument": ["--k", "2", "--bogus", "1"],
        "-o text_view=side": ["--k", "2", "-o", "text_view=side"],
        "-o unknown option": ["--k", "2", "-o", "nope=1"],
        "-o without =": ["--k", "2", "-o", "nope"],
    }
    cases = [Case(f"option: {name}", cli(*SELECT, *args, *out)) for name, args in bad.items()]
    target = ("select", "--dataset", "pool.jsonl", "--target", "target.jsonl", "--k", "2")
    cases += [
        Case("option: unknown selector", cli("select", "--dataset", "pool.jsonl", "--selector", "nope", "--k", "2",
                                             *out)),
        Case("option: selector typo", cli("select", "--dataset", "pool.jsonl", "--selector", "bm52", "--k", "2",
                                          *out)),
        Case("option: bm25 without a target", cli("select", "--dataset", "pool.jsonl", "--selector", "bm25", "--k",
                                                  "2", *out)),
        Case("option: bm25 k1=-1", cli(*target, "--selector", "bm25", "-o", "k1=-1", *out)),
        Case("option: bm25 punctuation=weird", cli(*target, "--selector", "bm25", "-o", "punctuation=weird", *out)),
        Case("option: --target-columns not a column", cli(*target, "--selector", "bm25", "--target-columns",
                                                          "q=text", *out)),
        Case("option: unknown command", cli("selekt", "--dataset", "pool.jsonl")),
        Case("option: no command", cli()),
    ]
    return cases


def all_cases() -> list[Case]:
    return _cases()
