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
    assert sorted(os.listdir(out)) == [".hf_select", "cost.json", "selection", "subset.parquet"]
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


# -- the real executable: a user's files are never lost, every failure is one line ----------------------------------
def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture()
def project(tmp_path, files):
    pool, target = files
    proj = tmp_path / "myproject"
    proj.mkdir()
    for src in (pool, target):
        (proj / src.name).write_bytes(src.read_bytes())
    (proj / "train.py").write_text("print('my training script')\n")
    return proj


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_output_dot_in_a_project_is_refused_and_nothing_is_lost(run_cli, project):
    # issue 9 item 1: `--output .` removed train.py and the input files (exit 0)
    before = _snapshot(project)
    out = run_cli("select", "--dataset", "pool.jsonl", "--target", "target.jsonl", "--k", "3", "--output", ".",
                  cwd=project)
    assert out.returncode == 2, out.stderr
    assert _lines(out.stderr) == [_lines(out.stderr)[0]] and "current working directory" in out.stderr
    assert "Traceback" not in out.stderr
    assert _snapshot(project) == before


def test_foreign_folder_and_earlier_output(run_cli, project, tmp_path):
    notes = tmp_path / "other"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me")
    args = ["select", "--dataset", project / "pool.jsonl", "--selector", "length", "--k", "3"]
    for extra in ([], ["--overwrite"]):
        out = run_cli(*args, "--output", notes, *extra)
        assert out.returncode == 2 and "did not write" in out.stderr and "Traceback" not in out.stderr
    assert os.listdir(notes) == ["notes.txt"]
    dest = tmp_path / "sel"
    assert run_cli(*args, "--output", dest).returncode == 0
    first = SelectionResult.load(dest / "selection").indices.tolist()
    again = run_cli(*args[:-1], "5", "--output", dest)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert SelectionResult.load(dest / "selection").indices.tolist() == first
    assert run_cli(*args[:-1], "5", "--output", dest, "--overwrite").returncode == 0
    assert SelectionResult.load(dest / "selection").k == 5
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".")) == []  # no temporaries left
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    out = run_cli(*args, "--output", a_file)
    assert out.returncode == 2 and "not a folder" in out.stderr and a_file.read_text() == "x"


def test_malformed_jsonl_names_file_and_line(run_cli, tmp_path):
    bad = tmp_path / "pool.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c"\n{"text": "d"}\n')
    out = run_cli("select", "--dataset", bad, "--selector", "length", "--k", "1", "--output", tmp_path / "o")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pool.jsonl', line 3" in _lines(out.stderr)[-1]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = run_cli("select", "--dataset", empty, "--selector", "length", "--k", "1", "--output", tmp_path / "o")
    assert out.returncode == 2 and "is empty" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists()


ALPACA = [{"instruction": "Answer the question.", "input": f"Question {i}?",
           "output": "cats purr" if i % 5 == 0 else "stocks fell"} for i in range(20)]


def test_alpaca_pool_is_scored_on_its_answers_and_columns_map_anything_else(tmp_path):
    # issue 9 item 4: Alpaca rows were scored on `instruction` alone (every row looked the same)
    pool = tmp_path / "alpaca.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in ALPACA) + "\n")
    target = tmp_path / "sharegpt.jsonl"
    target.write_text(json.dumps({"conversations": [{"from": "human", "value": "what do cats do"},
                                                    {"from": "gpt", "value": "cats purr"}]}) + "\n")
    out = tmp_path / "o"
    assert main(["select", "--dataset", str(pool), "--target", str(target), "--selector", "bm25", "-o",
                 "text_view=full", "--k", "4", "--output", str(out)]) == 0
    assert sorted(SelectionResult.load(out / "selection").indices.tolist()) == [0, 5, 10, 15]
    custom = tmp_path / "custom.jsonl"
    custom.write_text("\n".join(json.dumps({"q": r["input"], "a": r["output"]}) for r in ALPACA) + "\n")
    out2 = tmp_path / "o2"
    assert main(["select", "--dataset", str(custom), "--target", str(target), "--selector", "bm25", "-o",
                 "text_view=full", "--columns", "q=prompt", "--columns", "a=completion", "--k", "4",
                 "--output", str(out2)]) == 0
    assert sorted(SelectionResult.load(out2 / "selection").indices.tolist()) == [0, 5, 10, 15]
    import datasets

    subset = datasets.load_dataset("parquet", data_files=str(out2 / "subset.parquet"), split="train")
    assert set(subset.column_names) == {"q", "a", "hf_select_score"}  # the subset keeps the user's own columns
