"""The model card of a selective run, full and LoRA training: title and model_name as a plain SFTTrainer writes them,
the hf-select tag kept after PEFT saves, the public base model id (never a local path), the FLOP convention used."""

import json
import logging
import os

import pytest

from trainer_helpers import pc_pool, sft_config

from hf_select import SelectionConfig
from hf_select.cost.flops import lora_train_flops, train_flops
from hf_select.trainer import SelectiveSFTTrainer

PUBLIC_ID = "test-org/tiny-llama"


@pytest.fixture
def hub_cached_model(tmp_path, tokenizer):
    """A tiny model saved as a snapshot of the Hugging Face cache (its public id is known), loaded from there."""
    from transformers import AutoModelForCausalLM

    from hf_select.testing import tiny_llama

    path = tmp_path / "hub" / f"models--{PUBLIC_ID.replace('/', '--')}" / "snapshots" / "0123abcd"
    tiny_llama(seed=0).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return AutoModelForCausalLM.from_pretrained(path), str(path)


def _trainer(tmp_path, model, tokenizer, name, train_convention="full", **extra):
    return SelectiveSFTTrainer(model=model, args=sft_config(tmp_path, output_dir=str(tmp_path / name), max_steps=2),
                               train_dataset=pc_pool(12), processing_class=tokenizer, selector="bm25",
                               selection=SelectionConfig(target=["cats and rain"], k=4,
                                                         train_convention=train_convention), **extra)


def _card(folder):
    from huggingface_hub import ModelCard

    return ModelCard.load(os.path.join(folder, "README.md"))


def test_full_training_card_matches_a_plain_sft_trainer(tmp_path, tokenizer, hub_cached_model, caplog):
    from trl import SFTTrainer

    model, local = hub_cached_model
    with caplog.at_level(logging.INFO, logger="hf_select"):
        trainer = _trainer(tmp_path, model, tokenizer, "full-run")
    assert any("kept 4 of 12 rows, bm25" in r.getMessage() and "FLOPs" in r.getMessage() for r in caplog.records)
    trainer.train()
    trainer.save_model(trainer.args.output_dir)
    card = _card(trainer.args.output_dir)
    assert card.data.model_name == "full-run" and "# Model Card for full-run" in card.text
    assert {"hf-select", "trl", "sft"} <= set(card.data.tags)
    assert card.data.base_model == PUBLIC_ID and f"[{PUBLIC_ID}](" in card.text
    assert "| training FLOP convention | full (6N FLOPs per training token" in card.text
    summary = trainer.cost_summary()
    assert summary.train_flops_measured == pytest.approx(train_flops(model.config, summary.train_tokens))
    assert summary.transformers_total_flos > 0 and "total_flos" in card.text
    assert model.config._name_or_path == local  # the user's model is left as it was

    plain = SFTTrainer(model=model, args=sft_config(tmp_path, output_dir=str(tmp_path / "plain")),
                       train_dataset=pc_pool(4), processing_class=tokenizer)
    plain.create_model_card(model_name="full-run")  # the name SFTTrainer gives its own checkpoint cards
    theirs = _card(plain.args.output_dir)
    assert card.data.model_name == theirs.data.model_name and card.text.splitlines()[0] == theirs.text.splitlines()[0]


@pytest.mark.parametrize("train_convention", ["full", "lora"])
def test_lora_card_keeps_tag_and_public_base_and_states_its_convention(tmp_path, tokenizer, hub_cached_model,
                                                                       train_convention):
    from peft import LoraConfig

    model, local = hub_cached_model
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = _trainer(tmp_path, model, tokenizer, "lora-run", peft_config=lora, train_convention=train_convention)
    trainer.train()
    out = trainer.args.output_dir
    trainer.save_model(out)  # PEFT's save rewrites README.md tags and base_model
    card = _card(out)
    assert "hf-select" in card.data.tags and card.data.library_name == "peft"
    assert f"base_model:adapter:{PUBLIC_ID}" in card.data.tags and local not in str(card.data.to_dict())
    assert card.data.base_model == PUBLIC_ID and card.data.model_name == "lora-run"
    adapter = json.load(open(os.path.join(out, "adapter_config.json")))
    assert adapter["base_model_name_or_path"] == PUBLIC_ID
    summary = trainer.cost_summary()
    lora_params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    if train_convention == "lora":  # the card states the convention the FLOPs were counted with
        assert "| training FLOP convention | lora (4N + 6L" in card.text
        expected = lora_train_flops(model.config, summary.train_tokens, lora_params=lora_params)
    else:  # the paper's 6N, also for LoRA runs (the default)
        assert "| training FLOP convention | full (6N FLOPs per training token" in card.text
        expected = train_flops(model.config, summary.train_tokens)
    assert summary.train_convention == train_convention and summary.train_flops_measured == pytest.approx(expected)
    assert trainer.model.peft_config["default"].base_model_name_or_path == local  # the model itself is unchanged
    assert trainer.model.get_base_model().name_or_path == local


def test_local_model_of_unknown_origin_gets_no_base_model_path(tmp_path, tokenizer, tiny_model):
    tiny_model.save_pretrained(tmp_path / "my-local-model")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "my-local-model")
    trainer = _trainer(tmp_path, model, tokenizer, "local-run")
    trainer.train()
    trainer.save_model(trainer.args.output_dir)
    card = _card(trainer.args.output_dir)
    assert not card.data.base_model and str(tmp_path) not in str(card.data.to_dict())
    assert "hf-select" in card.data.tags and card.data.model_name == "local-run"


def test_init_line_is_shown_without_any_logging_setup(tmp_path):
    import subprocess
    import sys

    code = ("from hf_select.trainer.reporting import announce\n"
            "announce('kept 15 of 300 rows, bm25, 2.1 s, 0 FLOPs')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "[hf_select] kept 15 of 300 rows, bm25" in proc.stderr
    quiet = subprocess.run([sys.executable, "-c", "import logging; logging.getLogger('hf_select').setLevel("
                            "logging.WARNING)\n" + code], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "kept 15" not in quiet.stderr
