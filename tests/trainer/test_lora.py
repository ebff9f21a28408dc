import copy

import pytest

pytest.importorskip("peft")
from peft import LoraConfig, get_peft_model  # noqa: E402

from hf_select.testing import tiny_llama  # noqa: E402
from hf_select.trainer.lora import trainable_lora_params  # noqa: E402


def real_count(model, config):
    wrapped = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    return sum(p.numel() for p in wrapped.parameters() if p.requires_grad)


@pytest.mark.parametrize("config", [
    LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"),
    LoraConfig(r=4, target_modules=["q_proj", "o_proj"], rank_pattern={"o_proj": 8}, task_type="CAUSAL_LM"),
    LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"], task_type="CAUSAL_LM"),
])
def test_count_equals_what_peft_trains(config):
    model = tiny_llama(vocab_size=64)
    assert trainable_lora_params(model, config) == real_count(model, config)


def test_peft_model_none_and_config_path(tmp_path):
    model = tiny_llama(vocab_size=64)
    config = LoraConfig(r=4, target_modules=["k_proj"], task_type="CAUSAL_LM")
    assert trainable_lora_params(model) is None  # full fine-tuning
    wrapped = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    assert trainable_lora_params(wrapped) == real_count(model, config)
    model.config.save_pretrained(tmp_path)
    assert trainable_lora_params(str(tmp_path), config) == real_count(model, config)
    assert trainable_lora_params(model.config, config) == real_count(model, config)
