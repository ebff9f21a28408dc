import csv
import re

import numpy as np
import pytest

from hf_select.cli.main import main
from hf_select.cost.planner import MethodProfile, plan
from hf_select.import_utils import is_matplotlib_available

SIZES = ["--train-params", "7e9", "--selector-params", "1.35e8", "--pool-size", "270000", "--tokens-per-example", "512"]


def run_cli(capsys, *argv):
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not is_matplotlib_available(), reason="needs matplotlib")
def test_plan_prints_table_and_writes_png(capsys, tmp_path):
    png = tmp_path / "plan.png"
    code, out, err = run_cli(capsys, "--budget-flops", "1e18", *SIZES, "--output", str(png))
    assert code == 0, err
    for method in ("random", "bm25", "embedding", "perplexity", "less"):
        assert method in out
    assert "recommended:" in out and png.read_bytes()[:4] == b"\x89PNG"
    # The recommendation is what the library's planner says for the same costs (6N: train_full = 6 N D).
    full = 6 * 7e9 * 270000 * 512
    ppl = 2 * 1.35e8 * 270000 * 512
    rec = out.split("recommended: ")[1].split()[0]
    assert rec in ("perplexity", "less")
    small = plan(3e16, [MethodProfile("bm25", 0, lam=10), MethodProfile("perplexity", ppl, lam=40)],
                 train_flops_full=full)
    code, out, _ = run_cli(capsys, "--budget-flops", "3e16", *SIZES, "--no-plot")
    assert code == 0 and out.split("recommended: ")[1].split()[0] == small.method == "bm25"
    assert "excluded" in out  # LESS's selection alone exceeds 3e16


def test_gpu_hours_and_lam_override(capsys):
    code, out, _ = run_cli(capsys, "--gpu-hours", "2", "--gpu", "a100", "--mfu", "0.5", *SIZES, "--no-plot",
                           "--lam", "bm25=100", "--methods", "random,bm25")
    assert code == 0
    assert "budget 1.123e+18 FLOPs" in out  # 2 h * 3600 s * 312e12 * 0.5
    assert "recommended: bm25" in out


@pytest.mark.parametrize("argv,match", [
    (["--budget-flops", "-5", *SIZES], "--budget-flops must be a positive"),
    (["--budget-flops", "1e18", "--train-params", "0", "--pool-size", "10", "--tokens-per-example", "5"],
     "--train-params must be a positive"),
    (["--budget-flops", "1e18", "--train-params", "7e9", "--pool-size", "0", "--tokens-per-example", "5"],
     "--pool-size must be a positive"),
    (["--gpu-hours", "1", "--gpu", "GTX480", *SIZES], "Known GPUs: A100, H100"),
    (["--gpu-hours", "1", *SIZES], "--gpu NAME"),
    (["--budget-flops", "1e18", *SIZES, "--methods", "magic"], "No gain rate"),
    (["--budget-flops", "1e10", *SIZES, "--methods", "perplexity"], "smallest workable budget"),
    (["--budget-flops", "1e18"], "--train-params"),
])
def test_bad_inputs_error_clearly(capsys, argv, match):
    code, _, err = run_cli(capsys, *argv, "--no-plot")
    assert code == 2 and match in err and "Traceback" not in err


def write_runs(path, rows, columns):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in columns})


@pytest.mark.skipif(not is_matplotlib_available(), reason="needs matplotlib")
def test_runs_file_fits_and_plans(capsys, tmp_path):
    full = 1e18
    rows = []
    for method, lam, p0, sel in (("bm25", 10.0, 20.0, 0.0), ("perplexity", 40.0, 15.0, 0.05 * full)):
        for frac in (0.02, 0.05, 0.1, 0.3):
            total = sel + frac * full
            rows.append({"method": method, "selection_flops": sel, "train_flops": frac * full,
                         "total_flops": total, "performance": (60 - p0) * (1 - np.exp(-lam * total / full)) + p0})
    runs = tmp_path / "runs.csv"
    write_runs(runs, rows, ["method", "selection_flops", "train_flops", "performance"])
    png = tmp_path / "plan.png"
    code, out, err = run_cli(capsys, "--runs", str(runs), "--budget-flops", "3e17", "--train-flops-full", "1e18",
                             "--ceiling", "60", "--output", str(png))
    assert code == 0, err
    assert "fit bm25: p0=20 lam=10" in out and "fit perplexity: p0=15 lam=40" in out
    assert "recommended: perplexity" in out
    assert png.exists() and (tmp_path / "plan_runs.png").exists()

    bad = tmp_path / "bad.csv"
    write_runs(bad, rows, ["method", "performance"])
    code, _, err = run_cli(capsys, "--runs", str(bad), "--budget-flops", "3e17", "--train-flops-full", "1e18")
    assert code == 2 and "lacks the column(s) total_flops" in err
    code, _, err = run_cli(capsys, "--runs", str(tmp_path / "nope.csv"), "--budget-flops", "3e17",
                           "--train-flops-full", "1e18")
    assert code == 2 and "does not exist" in err


def test_budget_covering_the_whole_pool_recommends_no_selection(capsys):
    # Issue 11 bug 4, verbatim: 100 H100-hours is ~25x full training of this pool.
    code, out, err = run_cli(capsys, "--gpu-hours", "100", "--gpu", "H100", *SIZES, "--no-plot")
    assert code == 0, err
    assert "recommended: train on everything, no selection" in out
    assert "recommended: less" not in out
    assert "no selection *" in out and "pays" in out


def test_plan_prints_and_uses_the_training_convention(capsys):
    _, full_out, _ = run_cli(capsys, "--budget-flops", "3e17", *SIZES, "--no-plot")
    _, lora_out, _ = run_cli(capsys, "--budget-flops", "3e17", *SIZES, "--no-plot", "--train-convention", "lora")
    assert "training FLOPs: full (6N" in full_out and "training FLOPs: lora (4N + 6L" in lora_out
    train_full = 6 * 7e9 * 270000 * 512
    train_lora = (4 * 7e9 + 6 * 0.02 * 7e9) * 270000 * 512
    assert f"full-pool training {train_full:.4g} FLOPs" in full_out
    assert f"full-pool training {train_lora:.4g} FLOPs" in lora_out


def sweep_csv(path, convention="full"):
    """A runs file as examples/sweep.py writes it: a base row (P0), a full row (P-bar, F), method runs."""
    full, base, ceiling = 1e13, 2.28, 3.6
    cols = ["method", "fraction", "k", "selection_flops", "train_flops", "total_flops", "metric", "performance",
            "train_convention"]
    rows = [{"method": "base", "fraction": 0.0, "selection_flops": 0.0, "train_flops": 0.0, "performance": base},
            {"method": "full", "fraction": 1.0, "selection_flops": 0.0, "train_flops": full, "performance": 3.5}]
    for method, lam, sel in (("bm25", 4.0, 0.0), ("random", 2.0, 0.0), ("perplexity", 6.0, 0.85 * full)):
        for frac in (0.025, 0.05, 0.1, 0.25, 0.5):
            rows.append({"method": method, "fraction": frac, "selection_flops": sel, "train_flops": frac * full,
                         "performance": ceiling - (ceiling - base) * np.exp(-lam * frac)})
    for r in rows:
        r.update(k=0, total_flops=r["selection_flops"] + r["train_flops"], metric=0.0, train_convention=convention)
    write_runs(path, rows, cols)
    return full


def test_runs_reads_the_sweeps_own_csv(capsys, tmp_path):
    runs = tmp_path / "sweep.csv"
    full = sweep_csv(runs)
    code, out, err = run_cli(capsys, "--runs", str(runs), "--budget-flops", str(0.3 * full), "--no-plot",
                             "--size-ratios")
    assert code == 0, err
    assert "base model (no training, P0): 2.28" in out
    assert "fit base" not in out and "fit full" not in out  # reference rows, not methods
    p0 = {m: float(v) for m, v in re.findall(r"fit (\w+): p0=([0-9.e+-]+)", out)}
    assert set(p0) == {"bm25", "random", "perplexity"}
    assert all(v == pytest.approx(2.28, rel=1e-3) for v in p0.values())  # bounded by the base score: no collapse
    assert f"full-pool training {full:.4g} FLOPs" in out  # F from the full row
    assert "ceiling (full-data performance) 3.5" in out and "training FLOPs: full" in out
    assert "recommended: bm25" in out  # perplexity's 0.85 F selection does not fit in 0.3 F
    assert "perplexity (full)" in out and "assumptions:" in out and "fits to" in out
    code, _, err = run_cli(capsys, "--runs", str(runs), "--budget-flops", "1e12", "--train-convention", "lora",
                           "--no-plot")
    assert code == 2 and "measured under the 'full' training convention" in err


def test_runs_file_with_mixed_conventions_is_refused(capsys, tmp_path):
    runs = tmp_path / "mixed.csv"
    sweep_csv(runs)
    text = runs.read_text().splitlines()
    text[-1] = text[-1].replace(",full", ",lora")
    runs.write_text("\n".join(text) + "\n")
    code, _, err = run_cli(capsys, "--runs", str(runs), "--budget-flops", "1e12", "--no-plot")
    assert code == 2 and "mixes training-FLOP conventions" in err
