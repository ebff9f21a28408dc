"""How many parameters LoRA will train: for pricing a FLOP budget before the trainer wraps the model with peft.

``SelectiveSFTTrainer`` selects before ``SFTTrainer.__init__`` applies ``peft_config``, so the LoRA size is not visible
on the model yet. :func:`trainable_lora_params` applies the same ``peft_config`` to a skeleton of the model on the
``meta`` device (no memory, no weights) and counts what peft makes trainable, so every peft option (``r``,
``target_modules`` incl. ``"all-linear"``, ``rank_pattern``, ``modules_to_save``, ``bias``) is honoured exactly.

Example:
    >>> from peft import LoraConfig
    >>> from hf_select.testing import tiny_llama
    >>> model = tiny_llama(vocab_size=64)           # hidden 32, 2 layers
    >>> trainable_lora_params(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    896
"""

from __future__ import annotations

import copy
from typing import Any


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "get_base_model") and hasattr(model, "peft_config")


def trainable_lora_params(model: Any, peft_config: Any = None) -> int | None:
    """Trainable parameters of ``model`` once ``peft_config`` is applied; ``None`` when training is not LoRA.

    ``model`` is a transformers model, a peft model (its trainable parameters are counted as they are), or a local
    path / config holding ``config.json``.
    """
    if is_peft_model(model):
        return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    if peft_config is None:
        return None
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from ..scoring.loading import load_config

    config = load_config(model)
    with torch.device("meta"):
        try:
            skeleton = type(model)(copy.deepcopy(config)) if hasattr(model, "config") else None
        except TypeError:
            skeleton = None
        if skeleton is None:
            skeleton = AutoModelForCausalLM.from_config(copy.deepcopy(config))
    wrapped = get_peft_model(skeleton, copy.deepcopy(peft_config))
    return int(sum(p.numel() for p in wrapped.parameters() if p.requires_grad))
