"""How many parameters LoRA will train, for pricing a FLOP budget before the trainer wraps the model with peft.

``SelectiveSFTTrainer`` selects before ``SFTTrainer.__init__`` applies ``peft_config``, so the LoRA size is not visible
on the model yet. The count is exact (the ``peft_config`` applied to a ``meta``-device skeleton); it lives with the one
LoRA trainer of the package in :mod:`hf_select.scoring.finetune` (importable without TRL, so selectors price their
LoRA stages with the same function), and is re-exported here for the trainer.

Example:
    >>> from peft import LoraConfig
    >>> from hf_select.testing import tiny_llama
    >>> lora = LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM")
    >>> trainable_lora_params(tiny_llama(vocab_size=64), lora)
    512
"""

from __future__ import annotations

from ..scoring.finetune import is_peft_model, trainable_lora_params

__all__ = ["is_peft_model", "trainable_lora_params"]
