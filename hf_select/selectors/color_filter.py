"""``color_filter``: CoLoR-Filter, conditional loss reduction (Brandfonbrener et al. 2024, "CoLoR-Filter: Conditional
Loss Reduction Filtering for Targeted Language Model Pre-training").

Two models score every pool example ``x``: a *prior* model ``theta_prior`` and a *conditional* model
``theta_cond`` = the prior fine-tuned on the target examples (here: a LoRA fine-tune, counted as a cost stage)::

    score(x) = NLL_prior(x) - NLL_cond(x)          (mean token NLL)

High scores are examples the target made much more likely: the ones to select (strategy ``"top"``). Source of the
fine-tune: :func:`hf_select.scoring.finetune.lora_finetune`; scoring: the engine of :mod:`hf_select.scoring` (cost
stages ``forward_prior`` and ``forward_conditional``). The paper tunes the conditional model with full fine-tuning on
the downstream data; LoRA is this implementation's cheaper stand-in (rank and epochs are options).

Example:
    >>> import hf_select as hs
    >>> from hf_select.testing import tiny_llama, toy_tokenizer
    >>> sel = hs.get_selector("color_filter", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
    ...                       dtype="float32", show_progress=False, finetune_epochs=2, finetune_learning_rate=1e-2)
    >>> s = sel.score(["abab abab", "zzqx yy"], target=["abab ab abab"] * 4)
    >>> bool(s[0] > s[1]), [st.name for st in sel.last_cost.stages][1:4]
    (True, ['forward_prior', 'finetune_target', 'forward_conditional'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import register_selector
from .perplexity import ModelScoringConfig, ModelScoringSelector


@dataclass
class ColorFilterConfig(ModelScoringConfig):
    """Options of the ``color_filter`` selector."""

    completion_only: bool = field(default=False, metadata={"help": "Score and tune on completion tokens only."})
    finetune_epochs: float = field(default=1.0, metadata={"help": "Epochs of the LoRA fine-tune on the target."})
    finetune_learning_rate: float = field(default=2e-4, metadata={"help": "Learning rate of that fine-tune."})
    finetune_lora_r: int = field(default=8, metadata={"help": "LoRA rank of that fine-tune."})


@register_selector("color_filter")
class ColorFilterSelector(ModelScoringSelector):
    """NLL under the prior minus NLL under the target-tuned model; see the module docstring."""

    config_class = ColorFilterConfig
    requires_target = True
    default_view = "full"

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        if c.finetune_epochs <= 0:
            raise ValueError(f"finetune_epochs must be > 0 (the conditional model is tuned on the target), "
                             f"got {c.finetune_epochs}.")
        model, tokenizer = self.load()
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        prior = self.nll(model, tokenizer, items, stage="forward_prior", completion_only=c.completion_only)
        tuned, key_extra = self.finetuned(model, tokenizer, target, epochs=c.finetune_epochs,
                                          learning_rate=c.finetune_learning_rate, lora_r=c.finetune_lora_r,
                                          completion_only=c.completion_only)
        cond = self.nll(tuned, tokenizer, items, stage="forward_conditional", completion_only=c.completion_only,
                        key_extra=key_extra)
        valid = (prior.num_targets > 0) & (cond.num_targets > 0)
        self.last_nll = prior.mean_nll
        return self.finish(prior.mean_nll - cond.mean_nll, valid)
