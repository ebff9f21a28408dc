"""``perplexity``: per-example perplexity under a reference causal LM (the compute-constrained paper's Top-PPL /
Mid-PPL; Ankner et al. 2024, "Perplexed by Perplexity"; Marion et al. 2023, "When Less is More"; Yin & Rush 2024,
"Compute-Constrained Data Selection").

The quantity is the mean token NLL of each example (``score="perplexity"`` gives its exp; same order). Its sign
follows ``direction`` so that, as for every selector, a higher score is kept first:

- ``direction="low"`` (default): lowest perplexity first (score = -NLL, or -perplexity). With the reference model
  tuned on the target (``finetune_on_target=True``, the paper's setting) these are the most target-like rows, which
  CCDS keeps first; without tuning, the most fluent / typical rows, as perplexity quality filters keep.
- ``direction="high"``: highest perplexity first (score = NLL): the rows the reference model finds hardest, as
  Ankner et al.'s high-perplexity pruning keeps.

The strategy then orders the rows: ``top`` takes the best scores first, ``top_ppl`` / ``mid_ppl`` reorder in thirds
as the paper does (see :mod:`hf_select.strategies`).

``preset="ccds"`` (CLI: ``--option preset=ccds``) reproduces the CCDS scripts (github.com/oseyosey/CCDS); options
given beside it win (e.g. ``finetune_epochs=3``; on a ``PerplexityConfig`` object the preset fills the fields left at
their defaults):

- the reference model is LoRA-tuned on the target first: 25 epochs (``ccds_scripts/calculate_ppl_score.sh``:
  ``epochs=25``), r=128, alpha=512, dropout 0.1 on q,k,v,o, lr 2e-5, linear schedule with warm-up ratio 0.03,
  AdamW without weight decay, 32 examples per optimizer step (1 per device x 32 accumulation), loss on the answer
  tokens only (``ccds/training/train_scripts/train/base_training_args.sh``; ``train.py --val_only``);
- each row is scored as raw text ``prompt + " A:" + answer`` without a chat template, over all its tokens, and the
  score is the perplexity (``ccds/training/data_selection/ppl/matching_ppl.py``);
- lowest perplexity first (``write_selected_data_ppl_top.py`` / ``_mid.py``: ``torch.topk(..., largest=False)``),
  then ``strategy="top_ppl"`` or ``"mid_ppl"`` for the paper's two orders.

Where the preset differs from the scripts: rows longer than ``max_length`` (default: the model's limit) are cut,
CCDS scores them in 2048-token windows with stride 512; the target is fine-tuned in the same raw format as it is
scored (CCDS trains on LESS's chat-formatted validation prompts); the fine-tune's learning rate is the base script's
2e-5 (the scripts pass the perplexity model's rate as an argument that is not recorded).

Scoring runs on the fast engine of :mod:`hf_select.scoring` (length-bucketed or packed batches, chunked LM head, bf16
autocast), with a per-shard cache (``cache_dir``) and multi-process sharding under ``accelerate launch``; the target
fine-tune runs on the one LoRA trainer (:func:`hf_select.scoring.finetune.train_lora`) and is a cost stage.

Rows with no scored token (empty text, one token, empty completion with ``completion_only``) have no perplexity:
``on_empty="error"`` (default) raises naming them, ``"lowest"`` / ``"highest"`` gives them a score just below / above
every real score (``min - 1`` / ``max + 1``).

Example:
    >>> import hf_select as hs
    >>> from hf_select.testing import tiny_llama, toy_tokenizer
    >>> sel = hs.get_selector("perplexity", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
    ...                       dtype="float32", show_progress=False)
    >>> scores = sel.score(["a short text", "another, longer piece of text"])
    >>> bool((scores == -sel.last_nll).all()), sel.last_cost.tokens > 0
    (True, True)
    >>> ccds = hs.get_selector("perplexity", preset="ccds", show_progress=False)
    >>> ccds.config.finetune.epochs, ccds.config.text_format, ccds.config.direction
    (25, 'qa', 'low')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import register_selector
from .model_scoring import FINETUNE_PREFIX, ModelScoringConfig, ModelScoringSelector

SCORES = ("nll", "perplexity")
DIRECTIONS = ("low", "high")
TEXT_FORMATS = ("view", "qa")
# Options each preset sets (nested dicts set fields of the nested configs); see the module docstring for sources.
PRESETS: dict[str, dict[str, Any]] = {
    "ccds": {
        "finetune_on_target": True, "direction": "low", "text_format": "qa", "completion_only": False,
        "score": "perplexity", "finetune_completion_only": True,
        "finetune": {"epochs": 25, "learning_rate": 2e-5, "lr_scheduler_type": "linear", "warmup_ratio": 0.03,
                     "lora_r": 128, "lora_alpha": 512, "lora_dropout": 0.1, "batch_size": 32, "weight_decay": 0.0},
    },
}


@dataclass
class PerplexityConfig(ModelScoringConfig):
    """Options of the ``perplexity`` selector."""

    preset: str | None = field(default=None, metadata={
        "help": f"A paper's recipe, one of {sorted(PRESETS)}: 'ccds' = Yin & Rush's perplexity selector (target-tuned "
                "LoRA reference, raw 'prompt A:answer' text, lowest perplexity first); options given beside it win."})
    direction: str = field(default="low", metadata={
        "help": "'low': lowest perplexity first (score = -NLL; with a target-tuned reference = most target-like); "
                "'high': highest first (score = NLL)."})
    text_format: str = field(default="view", metadata={
        "help": "'view': the text view (conversations through the chat template); 'qa': raw prompt + ' A:' + "
                "answer, no template (CCDS)."})
    completion_only: bool = field(default=False, metadata={
        "help": "Score only completion / assistant tokens (prompt tokens are context)."})
    score: str = field(default="nll", metadata={"help": "'nll' (mean token NLL) or 'perplexity' (its exp)."})
    finetune_on_target: bool = field(default=False, metadata={
        "help": "LoRA-tune the reference model on the target first (recipe: finetune_*; needs peft). The option "
                "finetune_on_target_epochs=E (E > 0) is short for finetune_on_target=True, finetune_epochs=E."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r} is not known; use one of {sorted(PRESETS)} or None.")
        for name, allowed in (("direction", DIRECTIONS), ("text_format", TEXT_FORMATS), ("score", SCORES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not known; use one of {allowed}.")


def preset_options(preset: str) -> dict[str, Any]:
    """The options ``preset`` sets, as flat selector options (``finetune_<name>`` for the fine-tune recipe)."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not known; use one of {sorted(PRESETS)} or None.")
    out = {k: v for k, v in PRESETS[preset].items() if k != "finetune"}
    out.update({FINETUNE_PREFIX + k: v for k, v in PRESETS[preset].get("finetune", {}).items()})
    return out


def _at_defaults(config: PerplexityConfig, options: dict[str, Any]) -> dict[str, Any]:
    """The preset ``options`` whose field ``config`` still holds at its default value."""
    reference = PerplexityConfig()
    out = {}
    for key, value in options.items():
        if key.startswith(FINETUNE_PREFIX) and not hasattr(reference, key):
            name = key[len(FINETUNE_PREFIX):]
            unchanged = getattr(config.finetune, name) == getattr(reference.finetune, name)
        else:
            unchanged = getattr(config, key) == getattr(reference, key)
        if unchanged:
            out[key] = value
    return out


@register_selector("perplexity")
class PerplexitySelector(ModelScoringSelector):
    """Mean token NLL (or perplexity) of each example under a reference LM, signed by ``direction``; see the module
    docstring."""

    config_class = PerplexityConfig
    requires_target = False
    default_view = "full"

    @classmethod
    def option_names(cls) -> set[str]:
        return super().option_names() | {"finetune_on_target_epochs"}

    def __init__(self, config: PerplexityConfig | None = None, **kwargs: Any) -> None:
        if kwargs.get("preset") is not None:  # explicit options win over the preset's
            kwargs = {**preset_options(kwargs["preset"]), **kwargs}
        elif isinstance(config, PerplexityConfig) and config.preset is not None and "preset" not in kwargs:
            kwargs = {**_at_defaults(config, preset_options(config.preset)), **kwargs}
        if "finetune_on_target_epochs" in kwargs:  # short form: on/off and epochs in one option
            epochs = kwargs.pop("finetune_on_target_epochs")
            if not isinstance(epochs, (int, float)) or isinstance(epochs, bool) or epochs < 0:
                raise ValueError(f"finetune_on_target_epochs must be a number >= 0, got {epochs!r}.")
            kwargs["finetune_on_target"] = epochs > 0
            if epochs > 0:
                kwargs["finetune_epochs"] = epochs
        super().__init__(config, **kwargs)

    def items(self, dataset: Any, tokenizer: Any, *, pairs: bool) -> list[Any]:
        """``text_format="qa"``: raw ``(prompt + " A:", answer)`` pairs or their concatenation; else the text view."""
        if self.config.text_format != "qa":
            return super().items(dataset, tokenizer, pairs=pairs)
        from ..data.formats import query_answer_texts

        raw = query_answer_texts(dataset, text_field=self.config.text_field)
        pairs_qa = [(f"{q} A:" if q else "", a) for q, a in raw]
        return pairs_qa if pairs else [p + a for p, a in pairs_qa]

    def estimate_cost(self, dataset: Any, target: Any = None) -> Any:
        """Analytic cost without running the model: tokenises the pool (and target) and counts 2N FLOPs per token
        of the forward pass, plus the LoRA fine-tune (exact adapter size) when ``finetune_on_target``."""
        from ..cost.flops import perplexity_selection_flops

        c = self.config
        model, tokenizer = self.load()
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        ex = self.encode(model, tokenizer, items, completion_only=c.completion_only)
        lengths = [int(n) for n, t in zip(ex.lengths, ex.num_targets) if t > 0]
        stages = perplexity_selection_flops(model.config.to_dict(), lengths)
        if c.finetune_on_target and target is not None:
            stages.insert(0, self.finetune_cost(model, tokenizer, target, c.completion_only))
        return self.estimated(stages)

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        model, tokenizer = self.load()
        key_extra = None
        if c.finetune_on_target:
            if target is None:
                raise ValueError("finetune_on_target needs target examples: pass target=...")
            model, key_extra = self.finetuned(model, tokenizer, target, completion_only=c.completion_only)
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        out = self.nll(model, tokenizer, items, stage="forward_pool", completion_only=c.completion_only,
                       key_extra=key_extra)
        self.last_nll = out.mean_nll
        values = np.exp(out.mean_nll) if c.score == "perplexity" else out.mean_nll
        return self.finish(-values if c.direction == "low" else values, out.num_targets > 0)

