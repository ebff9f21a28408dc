"""The example scripts run end to end (tiny settings) and their outputs hold together."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script, *args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_smoke_and_resume(tmp_path):
    out = tmp_path / "sweep"
    args = ["--pool-rows", "60", "--methods", "random", "bm25", "--fractions", "0.1", "0.5", "--max-steps", "2",
            "--eval-rows", "4", "--max-length", "48", "--output-dir", str(out)]
    run("sweep.py", *args, cwd=tmp_path)
    runs = rows(out / "sweep.csv")
    assert [(r["method"], float(r["fraction"])) for r in runs] == [
        ("base", 0.0), ("random", 0.1), ("random", 0.5), ("bm25", 0.1), ("bm25", 0.5)]
    for r in runs[1:]:
        assert int(r["k"]) == round(60 * float(r["fraction"]))
        assert float(r["total_flops"]) == pytest.approx(float(r["selection_flops"]) + float(r["train_flops"]))
        assert float(r["train_flops"]) > 0
        assert float(r["performance"]) == pytest.approx(100 * math.exp(-float(r["metric"])))
    assert (out / "sweep_frontier.png").stat().st_size > 0
    meta = json.loads((out / "sweep_meta.json").read_text())
    assert meta["config"]["pool_rows"] == 60 and meta["flops_full"] > 0
    run("sweep.py", *args, cwd=tmp_path)  # finished runs are skipped, not repeated
    assert rows(out / "sweep.csv") == runs


def test_select_then_sft(tmp_path):
    out = tmp_path / "sts"
    stdout = run("select_then_sft.py", "--pool-rows", "200", "--max-steps", "2", "--eval-rows", "4",
                 "--max-length", "64", "--output-dir", str(out), cwd=tmp_path)
    import re

    picked = re.search(r"selected (\d+) of 200 rows with bm25", stdout)
    assert picked and 0 < int(picked.group(1)) <= 10  # 5% of the pool, after the malformed / dedup filters
    summary = json.loads((out / "hf_select_cost.json").read_text())
    assert summary["global_step"] == 2 and summary["train_flops_measured"] > 0


def test_budgeted_sft_stays_within_budget(tmp_path):
    out = tmp_path / "bsft"
    stdout = run("budgeted_sft.py", "--pool-rows", "100", "--selector", "bm25", "--budget-flops", "1e12",
                 "--max-length", "64", "--output-dir", str(out), cwd=tmp_path)
    plan = json.loads(stdout.split("plan: ", 1)[1].splitlines()[0])
    assert plan["selector"] == "bm25" and 0 < plan["num_selected"] < 100
    summary = json.loads((out / "hf_select_cost.json").read_text())
    assert summary["selection_flops"] + summary["train_flops_measured"] <= 1e12
