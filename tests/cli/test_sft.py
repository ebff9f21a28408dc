"""``hf-select sft --config sft.yaml`` runs two steps of selective SFT on a tiny model."""

import json
import os

import pytest

from hf_select.import_utils import is_transformers_available, is_trl_available

pytestmark = pytest.mark.skipif(not (is_transformers_available() and is_trl_available()),
                                reason="transformers and trl are needed")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path
    from hf_select.testing import tiny_llama

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
    assert "does not exist" in capsys.readouterr().err


def test_sft_parser_uses_selection_config_with_one_seed(tmp_path):
    from hf_select import SelectionConfig
    from hf_select.cli.sft import parse_args

    config = _write_yaml(tmp_path / "c.yaml", {
        "model_name_or_path": "smollm2", "output_dir": str(tmp_path / "o"), "use_cpu": True, "selector": "embedding",
        "fraction": 0.1, "selector_kwargs": {"aggregate": "max"}, "filters": [{"name": "malformed"}], "seed": 7})
    sel, training, model, script = parse_args(["--config", config, "--strategy_kwargs", '{"temperature": 2}'])
    assert isinstance(sel, SelectionConfig) and (sel.selector, sel.fraction) == ("embedding", 0.1)
    assert sel.selector_kwargs == {"aggregate": "max"} and sel.filters == [{"name": "malformed"}]
    assert sel.strategy_kwargs == {"temperature": 2}
    assert sel.seed == training.seed == 7 and script.dataset == "builtin"
    sel, training, _, _ = parse_args(["--config", config, "--seed", "3"])
    assert sel.seed == training.seed == 3


def test_cli_sft_without_a_size_is_plain_sft(tmp_path, model_dir, capsys):
    from hf_select.cli.main import main

    config = _setup(tmp_path, model_dir, fraction=None)
    assert main(["sft", "--config", config]) == 0
    assert "trained on all 20 rows" in capsys.readouterr().out


def test_a_users_selection_folder_in_output_dir_is_refused_before_training(tmp_path, capsys):
    from hf_select.cli.main import main

    mine = tmp_path / "out" / "selection"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    config = _setup(tmp_path, str(tmp_path / "no-model-here"))  # loading it would fail with another message
    assert main(["sft", "--config", config]) == 2
    assert "did not write" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep"


def test_strategy_help_is_the_one_strategy_table():
    """The sft --strategy help is SelectionConfig's (strategies.STRATEGY_HELP: every strategy, which rows come first)."""
    import dataclasses

    from hf_select.cli.sft import make_parser
    from hf_select.config import SelectionConfig
    from hf_select.strategies import STRATEGY_HELP

    config_help = next(f.metadata["help"] for f in dataclasses.fields(SelectionConfig) if f.name == "strategy")
    assert make_parser()._option_string_actions["--strategy"].help == config_help
    assert all(f"{name}: {text}" in config_help for name, text in STRATEGY_HELP.items())
