"""``color_filter``: CoLoR-Filter, conditional loss reduction (Brandfonbrener et al. 2024, "CoLoR-Filter: Conditional
Loss Reduction Filtering for Targeted Language Model Pre-training").

Two models score every pool example ``x``: a *prior* model ``theta_prior`` and a *conditional* model
``theta_cond`` = the prior fine-tuned on the target examples (here: a LoRA fine-tune, counted as a cost stage)::

    score(x) = NLL_prior(x) - NLL_cond(x)          (mean token NLL)

High scores are examples the target made much more likely: the ones to select (strategy ``"top"``). The fine-tune
runs on the one LoRA trainer (:func:`hf_select.scoring.finetune.lora_finetune`; recipe ``finetune_*``, e.g.
``finetune_epochs``, ``finetune_learning_rate``, ``finetune_lora_r``); scoring: the engine of
:mod:`hf_select.scoring` (cost stages ``forward_prior`` and ``forward_conditional``). The paper tunes the conditional
model with full fine-tuning on the downstream data; LoRA is this implementation's cheaper stand-in.

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

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import register_selector
from .model_scoring import ModelScoringConfig, ModelScoringSelector


@dataclass
class ColorFilterConfig(ModelScoringConfig):
    """Options of the ``color_filter`` selector."""

    completion_only: bool = field(default=False, metadata={"help": "Score and tune on completion tokens only."})


@register_selector("color_filter")
class ColorFilterSelector(ModelScoringSelector):
    """NLL under the prior minus NLL under the target-tuned model; see the module docstring."""

    config_class = ColorFilterConfig
    requires_target = True
    default_view = "full"

    def estimate_cost(self, dataset: Any, target: Any = None) -> Any:
        """Analytic cost (tokenises, runs nothing): the prior's forward, the fine-tune, the tuned model's forward."""
        if target is None:
            raise ValueError("color_filter needs target examples to estimate its cost: pass target=...")
        c = self.config
        model, tokenizer = self.load()
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        forward = self.forward_cost("forward_prior", model, tokenizer, items, completion_only=c.completion_only)
        conditional = dataclasses.replace(forward, name="forward_conditional")
        return self.estimated([forward, self.finetune_cost(model, tokenizer, target, c.completion_only), conditional])

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        model, tokenizer = self.load()
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        prior = self.nll(model, tokenizer, items, stage="forward_prior", completion_only=c.completion_only)
        tuned, key_extra = self.finetuned(model, tokenizer, target, completion_only=c.completion_only)
        cond = self.nll(tuned, tokenizer, items, stage="forward_conditional", completion_only=c.completion_only,
                        key_extra=key_extra)
        valid = (prior.num_targets > 0) & (cond.num_targets > 0)
        self.last_nll = prior.mean_nll
        return self.finish(prior.mean_nll - cond.mean_nll, valid)
