"""The runs CSV: written one row at a time (atomically), read back with its base and full reference rows."""

import pytest

from hf_select.cost.runs import RUN_FIELDS, append_run, csv_rows, read_runs


def test_append_then_read(tmp_path):
    path = tmp_path / "sweep.csv"
    assert csv_rows(path) == []
    append_run(path, {"method": "base", "fraction": 0.0, "selection_flops": 0, "train_flops": 0, "total_flops": 0,
                      "performance": 2.0, "train_convention": "full"})
    append_run(path, {"method": "full", "fraction": 1.0, "selection_flops": 0, "train_flops": 1e13,
                      "total_flops": 1e13, "performance": 3.0, "train_convention": "full"})
    for frac in (0.1, 0.5):
        append_run(path, {"method": "ppl", "fraction": frac, "selection_flops": 5e12, "train_flops": frac * 1e13,
                          "total_flops": 5e12 + frac * 1e13, "performance": 2.5, "train_convention": "full",
                          "not_a_column": "dropped"})
    rows = csv_rows(path)
    assert list(rows[0]) == list(RUN_FIELDS) and [r["method"] for r in rows] == ["base", "full", "ppl", "ppl"]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]  # no temporaries left
    table = read_runs(path)
    assert (table.base_performance, table.full_performance, table.full_train_flops) == (2.0, 3.0, 1e13)
    assert table.train_convention == "full"
    assert [(r["method"], r["flops"], r["selection_flops"]) for r in table.runs] == [
        ("ppl", 6e12, 5e12), ("ppl", 1e13, 5e12)]


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_runs(tmp_path / "nope.csv")
    only_refs = tmp_path / "refs.csv"
    only_refs.write_text("method,total_flops,performance\nbase,0,2\n")
    with pytest.raises(ValueError, match="no method runs"):
        read_runs(only_refs)
    bad = tmp_path / "bad.csv"
    bad.write_text("method,total_flops,performance,train_convention\nbm25,1e12,2,6N\n")
    with pytest.raises(ValueError, match="train_convention='6N'"):
        read_runs(bad)
