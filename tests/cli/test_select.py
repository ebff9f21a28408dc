import json
import os
import subprocess
import sys

import pytest

from hf_select.cli.main import main
from hf_select.selection import SelectionResult

POOL = [{"prompt": f"question {i} about " + ("cats" if i % 4 == 0 else "stocks"), "completion": f" answer {i}"}
        for i in range(40)]


@pytest.fixture()
def files(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in POOL) + "\n")
    target = tmp_path / "target.jsonl"
    target.write_text(json.dumps({"text": "cats"}) + "\n")
    return pool, target


PLUGIN = '''
import numpy as np
import hf_select as hs

@hs.register_selector("plugin_cats")
class PluginCats(hs.Selector):
    default_view = "query"
    def _score(self, dataset, target):
        return np.array([float("cats" in t) for t in self.texts(dataset)])
'''


def test_select_with_plugin_selector_writes_outputs(files, tmp_path, monkeypatch, capsys):
    pool, target = files
    (tmp_path / "my_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    code = main(["select", "--dataset", str(pool), "--target", str(target), "--selector", "plugin_cats",
                 "--plugin", "my_plugin", "--k", "10", "--output", str(out)])
    assert code == 0
    assert sorted(os.listdir(out)) == ["cost.json", "selection", "subset.parquet"]
    res = SelectionResult.load(out / "selection")
    assert all(i % 4 == 0 for i in res.indices)
    assert "selected 10 of 40 rows" in capsys.readouterr().out
    import datasets

    subset = datasets.load_dataset("parquet", data_files=str(out / "subset.parquet"), split="train")
    assert subset.num_rows == 10 and "hf_select_score" in subset.column_names


def test_jsonl_subset_and_fraction(files, tmp_path):
    pool, _ = files
    out = tmp_path / "o"
    assert main(["select", "--dataset", str(pool), "--selector", "length", "--fraction", "0.25",
                 "--subset-format", "jsonl", "--output", str(out)]) == 0
    lines = (out / "subset.jsonl").read_text().strip().splitlines()
    assert len(lines) == 10


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--selector", "nope", "--k", "1"], "Unknown selector 'nope'"),
        (["--selector", "random", "--k", "0"], "at least 1"),
        (["--selector", "random", "--k", "999"], "larger than"),
        (["--selector", "random", "--fraction", "2"], "in (0, 1]"),
        (["--selector", "random", "--k", "1", "--option", "oops"], "KEY=VALUE"),
    ],
)
def test_bad_input_exits_2_without_traceback_and_writes_nothing(files, tmp_path, capsys, extra, message):
    pool, _ = files
    out = tmp_path / "out"
    assert main(["select", "--dataset", str(pool), "--output", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and [p for p in os.listdir(tmp_path) if p.startswith(".hf_select")] == []


def test_missing_file(tmp_path, capsys):
    assert main(["select", "--dataset", str(tmp_path / "none.jsonl"), "--k", "1", "--output", str(tmp_path / "o")]) == 2
    assert "no file or folder" in capsys.readouterr().err


def test_console_script_help():
    exe = os.path.join(os.path.dirname(sys.executable), "hf-select")
    out = subprocess.run([exe, "select", "--help"], capture_output=True, text=True, check=True)
    assert "--dataset" in out.stdout and "--fraction" in out.stdout


def test_cli_budget_prices_lora_when_told(files, tmp_path):
    pool, target = files
    ks = {}
    for name, extra in (("full", []), ("lora", ["--train-lora-params", "1000", "--train-convention", "lora"])):
        out = tmp_path / name
        assert main(["select", "--dataset", str(pool), "--target", str(target), "--selector", "bm25",
                     "--budget-flops", "1e9", "--train-model", "1e6", "--output", str(out), *extra]) == 0
        res = SelectionResult.load(str(out / "selection"))
        assert 0 < res.cost.train_flops <= 1e9
        ks[name] = res.k
    assert res.config["train_lora_params"] == 1000 and res.config["train_convention"] == "lora"
    assert res.cost.notes["train_convention"] == "lora"
    assert ks["full"] < ks["lora"] < 40  # 6N vs 4N + 6 * lora per token
    # LoRA parameters without the lora convention would be silently ignored: refused instead.
    assert main(["select", "--dataset", str(pool), "--target", str(target), "--selector", "bm25", "--budget-flops",
                 "1e9", "--train-model", "1e6", "--output", str(tmp_path / "x"), "--train-lora-params", "1000"]) == 2
