import json

import pytest

pytest.importorskip("torch")

from hf_select.cli.main import main  # noqa: E402


@pytest.fixture()
def setup(tmp_path):
    from hf_select.testing import tiny_llama
    from hf_select.testing import toy_tokenizer

    model_dir = tmp_path / "model"
    tiny_llama(vocab_size=128, seed=0).save_pretrained(model_dir)
    toy_tokenizer().save_pretrained(model_dir)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps({"prompt": f"Q{i}: what?", "completion": " answer " * (i + 1)})
                              for i in range(7)) + "\n")
    return tmp_path, model_dir, pool


def test_score_writes_scores_and_resumes(setup, capsys):
    import pyarrow.parquet as pq

    tmp, model_dir, pool = setup
    argv = ["score", "--dataset", str(pool), "--model", str(model_dir), "--dtype", "float32", "--completion-only",
            "--cache-dir", str(tmp / "cache"), "-o", "shard_size=3", "-o", "show_progress=false"]
    assert main(argv + ["--output", str(tmp / "out1")]) == 0
    assert "0 shard(s) reused, 3 computed" in capsys.readouterr().out
    table = pq.read_table(tmp / "out1" / "scores.parquet").to_pydict()
    assert table["row"] == list(range(7)) and len(table["score"]) == 7
    cost = json.loads((tmp / "out1" / "cost.json").read_text())
    assert cost["flops"] > 0 and cost["tokens"] > 0
    assert cost["notes"]["paid_now"]["flops"] == cost["flops"]
    assert main(argv + ["--output", str(tmp / "out2")]) == 0
    assert "3 shard(s) reused, 0 computed" in capsys.readouterr().out
    assert pq.read_table(tmp / "out2" / "scores.parquet").to_pydict()["score"] == table["score"]
    # issue 11 item 5: a cached rerun wrote flops 0 / tokens 0; the scores cost what they cost, this run paid nothing
    rerun = json.loads((tmp / "out2" / "cost.json").read_text())
    assert rerun["flops"] == cost["flops"] and rerun["tokens"] == cost["tokens"]
    assert rerun["notes"]["paid_now"]["flops"] == 0 and rerun["notes"]["paid_now"]["tokens"] == 0


def test_score_errors_are_one_line(setup, capsys):
    tmp, _, pool = setup
    assert main(["score", "--dataset", str(pool), "--model", str(tmp / "missing"), "--output", str(tmp / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--dataset", str(pool), "--selector", "random", "--model", "x",
                 "--output", str(tmp / "o")]) == 2
    assert "does not apply" in capsys.readouterr().err


def test_bad_cache_folder_and_output_fail_before_any_model_loads(setup, capsys):
    tmp, _, pool = setup
    a_file = tmp / "cache-file"
    a_file.write_text("x")
    missing_model = str(tmp / "no-model")  # loading it would fail with another message
    assert main(["score", "--dataset", str(pool), "--model", missing_model, "--cache-dir", str(a_file),
                 "--output", str(tmp / "o")]) == 2
    assert "--cache-dir" in capsys.readouterr().err
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("keep")
    assert main(["score", "--dataset", str(pool), "--model", missing_model, "--output", str(tmp / "mine")]) == 2
    assert "did not write" in capsys.readouterr().err and (tmp / "mine" / "notes.txt").read_text() == "keep"
