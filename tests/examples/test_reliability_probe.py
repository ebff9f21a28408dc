"""examples/reliability/probe.py keeps running: its case list stays over 100, and a subset runs clean in seconds."""

import sys
from pathlib import Path

import pytest

PROBE_DIR = Path(__file__).resolve().parents[2] / "examples" / "reliability"


@pytest.fixture(scope="module")
def probe():
    sys.path.insert(0, str(PROBE_DIR))
    try:
        import cases
        import probe

        yield probe, cases
    finally:
        sys.path.remove(str(PROBE_DIR))


def test_the_probe_has_at_least_100_cases_with_unique_names(probe):
    _, cases = probe
    names = [c.name for c in cases.all_cases()]
    assert len(names) >= 100 and len(set(names)) == len(names)


SUBSET = ["output: --output . inside a project", "output: earlier output --overwrite", "fault: disk full while",
          "fault: Ctrl-C", "input: malformed jsonl", "input: rows of different", "option: --k larger",
          "option: band low", "push: edited index -1", "push: k disagreeing", "api: load duplicated",
          "api: to_dataset on another pool", "check: Alpaca pool", "check: jsonl subset"]


def test_a_subset_of_the_probe_runs_clean(probe, capsys):
    run, _ = probe
    code = run.main([arg for name in SUBSET for arg in ("--only", name)])
    out = capsys.readouterr().out
    assert "tracebacks: 0, files lost: 0, silent wrong outputs: 0, unclear errors: 0, valid inputs refused: 0" in out
    assert code == 0
    assert out.count("\n") >= len(SUBSET) + 3


def test_the_verdicts_catch_what_they_are_for(probe, tmp_path):
    run, _ = probe
    case = run.Case("x", lambda folder, env: run.Outcome(0))
    assert run.verdict(case, run.Outcome(0), {}, {}, None) == "SILENT WRONG"  # bad input accepted
    assert run.verdict(case, run.Outcome(2, err="a\nb"), {}, {}, None) == "UNCLEAR"
    assert run.verdict(case, run.Outcome(1, traceback="Traceback ..."), {}, {}, None) == "TRACEBACK"
    assert run.verdict(case, run.Outcome(2, err="hf-select x: error: it is broken"), {"a": b"1"}, {"a": None},
                       None) == "FILES LOST"
    good = run.Case("y", lambda folder, env: run.Outcome(0), expect_error=False)
    assert run.verdict(good, run.Outcome(0), {}, {}, "wrong rows") == "SILENT WRONG"
    assert run.verdict(good, run.Outcome(2, err="x"), {}, {}, None) == "FAILED"
