import json
import os

from hf_select.cli.main import main


def test_demo_compares_selectors_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--selectors", "bm25", "dsir", "random", "--max-rows", "6000", "--fraction", "0.1",
                 "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "numpy share" in printed and "overlap (Jaccard)" in printed and "bm25~dsir" in printed
    assert sorted(os.listdir(out)) == [".hf_select", "bm25", "dsir", "random", "summary.json"]
    for name in ("bm25", "dsir", "random"):
        assert sorted(os.listdir(out / name)) == ["cost.json", "selection", "subset.parquet"]
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["selector"]: r for r in summary["selectors"]}
    assert rows["bm25"]["k"] == rows["random"]["k"] == 600
    assert rows["bm25"]["target_share"] > 2 * rows["random"]["target_share"]
    assert rows["dsir"]["target_share"] > 2 * rows["random"]["target_share"]
    assert 0 <= summary["overlap_jaccard"]["bm25~random"] < 0.5
    # a rerun replaces its own earlier output only with --overwrite
    again = ["demo", "--selectors", "random", "--max-rows", "2000", "--output", str(out)]
    assert main(again) == 2
    assert "pass --overwrite" in capsys.readouterr().err and (out / "bm25").exists()
    assert main(again + ["--overwrite"]) == 0
    assert sorted(os.listdir(out)) == [".hf_select", "random", "summary.json"]


def test_demo_unknown_selector_writes_nothing(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--selectors", "bm25", "nope", "--max-rows", "2000", "--output", str(out)]) == 2
    assert "Unknown selector 'nope'" in capsys.readouterr().err
    assert not out.exists()


def test_demo_runs_on_a_documented_subset_by_default(tmp_path):
    from hf_select.cli.demo import DEFAULT_MAX_ROWS
    from hf_select.data.builtin import load_builtin_pool

    assert main(["demo", "--selectors", "random", "--output", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["pool_rows"] == DEFAULT_MAX_ROWS == 10_000
    assert main(["demo", "--selectors", "random", "--max-rows", "0", "--output", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["pool_rows"] == load_builtin_pool().num_rows
