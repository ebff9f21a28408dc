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
# A safety net, not a timing check: on a shared 2-core machine one tiny sweep (3 one-step trainings) took > 15 minutes.
SWEEP_TIMEOUT_S = 2400


def run(script, *args, cwd, check=True, timeout=900):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_smoke_resume_and_settings_guard(tmp_path):
    out = tmp_path / "sweep"
    args = ["--pool-rows", "40", "--methods", "random", "bm25", "--fractions", "0.5", "--max-steps", "1",
            "--eval-rows", "2", "--max-length", "48", "--output-dir", str(out)]
    stdout = run("sweep.py", *args, cwd=tmp_path, timeout=SWEEP_TIMEOUT_S)
    runs = rows(out / "sweep.csv")
    assert [(r["method"], float(r["fraction"])) for r in runs] == [
        ("base", 0.0), ("full", 1.0), ("random", 0.5), ("bm25", 0.5)]
    assert int(runs[1]["k"]) == 40 and float(runs[1]["selection_flops"]) == 0  # P-bar: the whole pool, no selection
    for r in runs[1:]:
        assert r["train_convention"] == "full"
        assert float(r["total_flops"]) == pytest.approx(float(r["selection_flops"]) + float(r["train_flops"]))
        assert float(r["train_flops"]) > 0
        assert float(r["performance"]) == pytest.approx(100 * math.exp(-float(r["metric"])))
    for r in runs[2:]:
        assert int(r["k"]) == round(40 * float(r["fraction"]))
    assert (out / "sweep_frontier.png").stat().st_size > 0 and "training FLOPs: full" in stdout
    meta_text = (out / "sweep_meta.json").read_text()
    meta = json.loads(meta_text)
    assert meta["config"]["pool_rows"] == 40 and meta["settings"]["max_length"] == 48 and meta["config_key"]
    run("sweep.py", *args, cwd=tmp_path, timeout=SWEEP_TIMEOUT_S)  # same settings: finished runs are skipped
    assert rows(out / "sweep.csv") == runs
    # Other settings: refused, nothing reused or rewritten.
    other = [a if a != "48" else "40" for a in args]
    proc = run("sweep.py", *other, cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "holds a sweep with other settings" in proc.stderr and "max_length" in proc.stderr
    assert rows(out / "sweep.csv") == runs and (out / "sweep_meta.json").read_text() == meta_text
    # A folder hf_select did not write is never touched.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    proc = run("sweep.py", *args[:-1], str(foreign), cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "did not write" in proc.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_sweep_defaults_outside_the_repository_and_lora_convention(tmp_path):
    stdout = run("sweep.py", "--pool-rows", "40", "--methods", "random", "--fractions", "0.25", "--max-steps", "1",
                 "--eval-rows", "2", "--max-length", "48", "--train-convention", "lora", cwd=tmp_path,
                 timeout=SWEEP_TIMEOUT_S)
    out = tmp_path / "runs" / "sweep"  # the default: under the working directory, not examples/results
    runs = rows(out / "sweep.csv")
    assert {r["train_convention"] for r in runs} == {"lora"} and "training FLOPs: lora" in stdout
    full = next(r for r in runs if r["method"] == "full")
    random = next(r for r in runs if r["method"] == "random")
    # LoRA pricing: 4N + 6L per token, so the same tokens cost less than 6N would.
    n = 134_515_008  # SmolLM2-135M
    assert float(full["train_flops"]) < 6 * n * int(full["train_tokens"])
    assert float(random["train_flops"]) == pytest.approx(float(full["train_flops"]) * int(random["train_tokens"])
                                                         / int(full["train_tokens"]), rel=0.02)


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
