"""``hf-select sft --config sft.yaml`` runs two steps of selective SFT on a tiny model."""

import json
import os

import pytest

from hf_select.import_utils import is_transformers_available, is_trl_available

pytestmark = pytest.mark.skipif(not (is_transformers_available() and is_trl_available()),
                                reason="transformers and trl are needed")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path, tiny_llama

    try:
        tok = load_tokenizer(smollm2_local_path())
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(str(err))
    path = tmp_path_factory.mktemp("tiny")
    tiny_llama(seed=0).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def _write_yaml(path, data):
    import yaml

    path.write_text(yaml.safe_dump(data))
    return str(path)


def _setup(tmp_path, model_dir, **extra):
    rows = [{"prompt": f"Question {i} about {'cats' if i % 2 else 'stocks'}?", "completion": f" Answer {i}."}
            for i in range(20)]
    with open(tmp_path / "pool.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "target.jsonl").write_text(json.dumps({"prompt": "Tell me about cats?", "completion": " ok"}) + "\n")
    cfg = {"model_name_or_path": model_dir, "dataset": str(tmp_path / "pool.jsonl"),
           "target": str(tmp_path / "target.jsonl"), "selector": "bm25", "fraction": 0.5,
           "filters": json.dumps([{"name": "malformed"}, {"name": "exact_dedup"}]),
           "output_dir": str(tmp_path / "out"), "use_cpu": True, "bf16": False, "report_to": "none", "max_steps": 2,
           "per_device_train_batch_size": 2, "save_strategy": "no", "max_length": 32, "logging_steps": 1,
           "disable_tqdm": True}
    cfg.update(extra)
    return _write_yaml(tmp_path / "sft.yaml", cfg)


def test_cli_sft_two_steps(tmp_path, model_dir, capsys):
    from hf_select.cli.main import main

    config = _setup(tmp_path, model_dir)
    assert main(["sft", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "selected 10 of 20 rows with bm25" in out
    summary = json.load(open(tmp_path / "out" / "hf_select_cost.json"))
    assert summary["global_step"] == 2 and summary["num_selected"] == 10
    assert summary["train_examples"] == 4 and summary["train_flops_measured"] > 0
    assert os.path.exists(tmp_path / "out" / "selection" / "selection.json")
    assert os.path.exists(tmp_path / "out" / "model.safetensors")


def test_cli_sft_overrides_and_lora(tmp_path, model_dir):
    from hf_select.cli.main import main

    config = _setup(tmp_path, model_dir, use_peft=True, lora_r=4, lora_alpha=8,
                    lora_target_modules=["q_proj", "v_proj"])
    assert main(["sft", "--config", config, "--max_steps", "1"]) == 0   # as `trl sft --config ... --max_steps 1`
    summary = json.load(open(tmp_path / "out" / "hf_select_cost.json"))
    assert summary["global_step"] == 1
    assert main(["sft", "--config", config, "--", "--max_steps", "3"]) == 0   # "--" before overrides also works
    assert json.load(open(tmp_path / "out" / "hf_select_cost.json"))["global_step"] == 3


def test_cli_sft_errors(tmp_path, model_dir, capsys):
    from hf_select.cli.main import main

    config = _setup(tmp_path, model_dir, k=3)  # fraction and k both set
    assert main(["sft", "--config", config]) == 2
    assert "only one of k, fraction" in capsys.readouterr().err
    config = _setup(tmp_path, model_dir, model_name_or_path=str(tmp_path / "missing"))
    assert main(["sft", "--config", config]) == 2
    assert "not a local folder" in capsys.readouterr().err


def test_a_users_selection_folder_in_output_dir_is_refused_before_training(tmp_path, capsys):
    from hf_select.cli.main import main

    mine = tmp_path / "out" / "selection"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    config = _setup(tmp_path, str(tmp_path / "no-model-here"))  # loading it would fail with another message
    assert main(["sft", "--config", config]) == 2
    assert "did not write" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep"
