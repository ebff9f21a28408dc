import csv
import doctest
import importlib.util
from pathlib import Path

import pytest

RESULTS_MODULE = Path(__file__).resolve().parents[2] / "examples" / "benchmarks" / "_results.py"


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("_bench_results", RESULTS_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_example(results):
    assert doctest.testmod(results).failed == 0


def test_append_keeps_old_rows_and_widens_columns(results, tmp_path):
    path = tmp_path / "sub" / "bench.csv"
    results.append_rows(path, [{"method": "baseline", "seconds": 2.0}])
    results.append_rows(path, [{"method": "ours", "seconds": 0.5, "speedup": 4.0}, {"method": "ours2", "seconds": 1}])
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["baseline", "ours", "ours2"]
    assert rows[0]["speedup"] == "" and rows[1]["speedup"] == "4.0"


def test_run_info_names_machine_and_versions(results):
    info = results.run_info("numpy", "no-such-distribution-xyz")
    assert info["cpu_count"] and info["timestamp"]
    assert info["numpy_version"][0].isdigit()
    assert info["hf_select_version"][0].isdigit()
    assert info["no_such_distribution_xyz_version"] == "not installed"


def test_benchmarks_write_a_csv_only_with_out(results, tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    results.add_out_argument(parser, "bench_x")
    assert parser.parse_args([]).out is None
    assert results.save_rows(None, [{"a": 1}]) is None and "not saved" in capsys.readouterr().out
    out = tmp_path / "x.csv"
    assert results.save_rows(parser.parse_args(["--out", str(out)]).out, [{"a": 1}]) == out and out.exists()


def test_every_benchmark_uses_the_out_option():
    bench = (RESULTS_MODULE.parent / "_bench.py").read_text()
    assert "save_rows(" in bench.split("def write_csv", 1)[1].split("\ndef ", 1)[0]  # write_csv = save_rows + columns
    for script in RESULTS_MODULE.parent.glob("bench_*.py"):
        text = script.read_text()
        assert "add_out_argument(" in text and ("save_rows(" in text or "write_csv(args.out" in text), script.name
        assert "append_rows(" not in text and '"results" /' not in text, script.name
