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
