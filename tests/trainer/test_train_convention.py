"""The training-FLOP convention is one setting: the trainer's budget, its FLOP tally and its card use the same one."""

import pytest
from trainer_helpers import sft_config

from hf_select import SelectionConfig, SelectiveSFTTrainer
from hf_select.cost.flops import train_flops


def test_training_convention_is_one_setting_for_budget_tally_and_card(tmp_path, tokenizer, tiny_model):
    # The default prices LoRA training 6N per token (the paper's convention), in the budget AND in the FLOP tally.
    import datasets
    from peft import LoraConfig

    from hf_select.cost.flops import training_flops
    from hf_select.trainer.card import cost_section

    pool = datasets.Dataset.from_list([{"input_ids": [1000 + i] + [5] * 7} for i in range(6)])
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path, max_steps=1), train_dataset=pool,
                                  processing_class=tokenizer, peft_config=lora, selector="random",
                                  selection=SelectionConfig(budget_flops=train_flops(tiny_model.config, [24]), seed=1))
    res = trainer.selection
    chosen = [8] * res.k
    assert res.config["train_convention"] == "full" and res.k == 3  # 24 tokens of 6N fit, no more
    assert res.cost.train_flops == pytest.approx(training_flops(tiny_model.config, chosen))
    trainer.train()
    summary = trainer.cost_summary()
    assert summary.train_convention == "full"
    assert summary.train_flops_measured == pytest.approx(training_flops(tiny_model.config, [8, 8]))  # 1 step x 2
    assert "| training FLOP convention | full (6N FLOPs per training token" in cost_section(summary)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path / "b", max_steps=1), train_dataset=pool,
                            processing_class=tokenizer, selector="random",
                            selection=SelectionConfig(fraction=0.5, train_convention="lora"))
