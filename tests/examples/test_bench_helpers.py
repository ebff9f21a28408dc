"""The shared benchmark helpers: GEMM shapes of a config, the measured matmul peak, the three figures, timing."""

import doctest
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("_bench", BENCH / "_bench.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["_bench"] = module  # dataclasses look their module up while the class is created
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("_bench", None)
        sys.path.remove(str(BENCH))


def test_docstring_example(bench):
    assert doctest.testmod(bench).failed == 0


def test_model_gemms_count_every_weight_matmul(bench):
    cfg = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
           "num_hidden_layers": 30, "vocab_size": 49152}
    gemms = bench.model_gemms(cfg)
    params = sum(k * n * c for k, n, c in gemms)
    # SmolLM2-135M: 30 x (576*576*2 + 576*192*2 + 3*576*1536) + the 49152 x 576 (tied) head = 134.5M
    assert params == 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536) + 49152 * 576
    assert sum(k * n * c for k, n, c in bench.model_gemms(cfg, lm_head=False)) == params - 49152 * 576


def test_matmul_peak_is_a_rate(bench):
    peak = bench.matmul_peak([(64, 32, 2), (32, 64, 1)], "float32", tokens=128, repeats=2)
    assert peak > 1e6  # FLOP/s, any machine


def test_three_figures_and_interleave(bench):
    fig = bench.three_figures(300.0, 100.0, 200.0, 5e9, {"bfloat16": 1e10, "float32": 2.5e9})
    assert fig == {"x_naive": 3.0, "x_competent": 1.5, "peak_bfloat16": 0.5, "peak_float32": 2.0}
    calls = []
    out = bench.interleave({"a": lambda x: calls.append("a") or x, "b": lambda x: calls.append("b") or 2 * x}, 2, 1,
                           log=None)
    assert calls == ["a", "b", "a", "b"]  # round-robin, so both see the same machine load
    assert out["a"].output == 1 and out["b"].output == 2 and len(out["a"].runs) == 2
    assert 0 <= out["a"].wall <= max(out["a"].runs)


def test_write_csv_only_with_out(bench, tmp_path, capsys):
    bench.write_csv(None, [{"method": "x"}])
    assert "results not saved" in capsys.readouterr().out  # _results.save_rows: --out is opt-in
    bench.write_csv(str(tmp_path / "r.csv"), [{"method": "x", "rate": 1.0}], "numpy")
    text = (tmp_path / "r.csv").read_text()
    assert "method" in text and "load_avg_1m" in text and "numpy_version" in text
