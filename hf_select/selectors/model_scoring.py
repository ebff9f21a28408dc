"""What the NLL-based selectors (perplexity, IFD, CoLoR-Filter) share: their config, model loading, NLL passes through
the engine with a cache, the LoRA fine-tune on the target, and the cost stages. Every example they score, train on or
price is encoded once, by :func:`hf_select.scoring.encoding.encode` (:meth:`ModelScoringSelector.encode`), so the
scored tokens, the trained tokens and the counted tokens are the same.

The config holds the engine's :class:`~hf_select.scoring.engine.NLLConfig` (``nll``) and the fine-tune's
:class:`~hf_select.scoring.finetune.LoraTrainingConfig` (``finetune``) instead of copying their fields. Their fields
are also accepted as flat options: ``dtype="float32"`` sets ``nll.dtype``; ``finetune_<name>`` sets
``finetune.<name>`` (e.g. ``finetune_lora_r=16``, ``finetune_lr_scheduler_type="linear"``).

Example:
    >>> import hf_select as hs
    >>> from hf_select.testing import tiny_llama, toy_tokenizer
    >>> sel = hs.get_selector("perplexity", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
    ...                       dtype="float32", finetune_lora_r=4, show_progress=False)
    >>> sel.config.nll.dtype, sel.config.finetune.lora_r
    ('float32', 4)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scoring.engine import NLLConfig
from ..scoring.finetune import LoraTrainingConfig
from .base import Selector, SelectorConfig

ON_EMPTY = ("error", "lowest", "highest")
FINETUNE_PREFIX = "finetune_"


@dataclass
class ModelScoringConfig(SelectorConfig):
    """Knobs shared by the NLL-based selectors (perplexity, IFD, CoLoR-Filter)."""

    model: Any = field(default=None, metadata={
        "help": "Reference causal LM: a local folder or a model object (default: SmolLM2-135M-Instruct, offline)."})
    tokenizer: Any = field(default=None, metadata={"help": "Tokenizer (object or folder); default: the model's."})
    nll: NLLConfig = field(default_factory=NLLConfig, metadata={
        "help": "How the NLL passes run (dtype, batching, attention, backend, device); its fields are also accepted "
                "as flat options, e.g. dtype='float32'."})
    max_length: int | None = field(default=None, metadata={
        "help": "Cut examples to this many tokens (default: the model's maximum); cut rows are counted in the cost."})
    add_special_tokens: bool = field(default=True, metadata={
        "help": "Add the tokenizer's special tokens (e.g. BOS) once, as a plain tokenizer(text) call does; False "
                "scores the bare text (hf_select.scoring.encoding)."})
    on_empty: str = field(default="error", metadata={
        "help": "Rows with no scored token: 'error', 'lowest' (below every score) or 'highest'."})
    cache_dir: str | None = field(default=None, metadata={
        "help": "Folder of the per-shard score cache (resume after a kill); None disables it."})
    shard_size: int | None = field(default=None, metadata={
        "help": "Rows per cache shard / per unit of multi-process work (default with a cache or several processes: "
                "at most 1024, and at least 8 shards so every process of a small multi-process run has work; "
                "otherwise one shard)."})
    finetune: LoraTrainingConfig = field(default_factory=LoraTrainingConfig, metadata={
        "help": "Recipe of the LoRA fine-tune on the target examples (when the selector tunes one); its fields are "
                "also accepted as flat options finetune_<name>, e.g. finetune_epochs=3."})
    finetune_completion_only: bool | None = field(default=None, metadata={
        "help": "Fine-tune on the target's completion tokens only; None = as the selector scores."})

    def __post_init__(self) -> None:
        if isinstance(self.nll, dict):
            self.nll = NLLConfig(**self.nll)
        if isinstance(self.finetune, dict):
            self.finetune = LoraTrainingConfig(**self.finetune)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(nll=self.nll.to_dict(), finetune=self.finetune.to_dict())
        return out


def split_flat_options(config_class: type, kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pop the flat options of the nested configs out of ``kwargs``: ``{"nll": {...}, "finetune": {...}}``."""
    own = {f.name for f in dataclasses.fields(config_class)}
    nll_names = {f.name for f in dataclasses.fields(NLLConfig)}
    ft_names = {f.name for f in dataclasses.fields(LoraTrainingConfig)}
    nested: dict[str, dict[str, Any]] = {"nll": {}, "finetune": {}}
    for key in list(kwargs):
        if key in own:
            continue
        if key in nll_names:
            nested["nll"][key] = kwargs.pop(key)
        elif key.startswith(FINETUNE_PREFIX) and key[len(FINETUNE_PREFIX):] in ft_names:
            nested["finetune"][key[len(FINETUNE_PREFIX):]] = kwargs.pop(key)
    return nested


class ModelScoringSelector(Selector):
    """Shared machinery: lazy model loading, text items, NLL through the engine with cache, fine-tune, cost stages."""

    config_class = ModelScoringConfig
    default_view = "full"
    uses_causal_lm = True
    streaming = "rows"  # hf_select.streaming scores a stream shard by shard (the target-tuned model is reused)

    def stream_mode(self) -> str | None:
        # on_empty='lowest'/'highest' fills unscored rows from the whole pool's min / max: not row-local
        return "rows" if self.config.on_empty == "error" else None

    @classmethod
    def option_names(cls) -> set[str]:
        """Every option name the selector accepts: its config fields plus the flat names of the nested configs."""
        own = {f.name for f in dataclasses.fields(cls.config_class)}
        return own | {f.name for f in dataclasses.fields(NLLConfig)} | \
            {FINETUNE_PREFIX + f.name for f in dataclasses.fields(LoraTrainingConfig)}

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        nested = split_flat_options(self.config_class, kwargs)
        super().__init__(config, **kwargs)
        c = self.config
        if nested["nll"] or nested["finetune"]:
            try:
                c = dataclasses.replace(c, nll=dataclasses.replace(c.nll, **nested["nll"]),
                                        finetune=dataclasses.replace(c.finetune, **nested["finetune"]))
            except ValueError as err:
                given = sorted(nested["nll"]) + [FINETUNE_PREFIX + k for k in sorted(nested["finetune"])]
                raise ValueError(f"{', '.join(given)}: {err}") from None
            self.config = c
        if c.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty={c.on_empty!r} is not known; use one of {ON_EMPTY}.")
        for name, value in (("max_tokens_per_batch", c.nll.max_tokens_per_batch),
                            ("lm_head_chunk", c.nll.lm_head_chunk), ("shard_size", c.shard_size)):
            if name == "shard_size" and value is None:
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if c.max_length is not None and (not isinstance(c.max_length, int) or c.max_length < 2):
            raise ValueError(f"max_length must be an integer >= 2 or None, got {c.max_length!r}.")
        from ..scoring.loading import dtype_name
        from ..scoring.workers import check_cpu_workers

        dtype_name(c.nll.dtype)
        check_cpu_workers(c.nll.cpu_workers)
        self._loaded: tuple[Any, Any] | None = None

    # -- pieces ---------------------------------------------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """``(model, tokenizer)``, loaded once per selector (a model object is used as is)."""
        if self._loaded is None:
            from ..scoring.loading import load_causal_lm, load_tokenizer, resolve_device
            from ..scoring.models import smollm2_local_path

            with self.cost.stage("load_model"):
                source = self.config.model if self.config.model is not None else smollm2_local_path()
                device = resolve_device(self.config.nll.device)
                model = load_causal_lm(source, device=device)
                tokenizer = load_tokenizer(source, self.config.tokenizer)
            self._loaded = (model, tokenizer)
        return self._loaded

    def engine_config(self) -> NLLConfig:
        return dataclasses.replace(self.config.nll, show_progress=self.config.show_progress)

    def max_length(self, model: Any, tokenizer: Any) -> int | None:
        from ..scoring.pipeline import default_max_length

        c = self.config
        return c.max_length if c.max_length is not None else default_max_length(model, tokenizer)

    def encode(self, model: Any, tokenizer: Any, items: Any, *, completion_only: bool = False) -> Any:
        """:func:`~hf_select.scoring.encoding.encode` of ``items`` with this selector's settings (``max_length``,
        ``add_special_tokens``); already encoded examples are returned as they are."""
        from ..scoring.encoding import TokenizedExamples, encode

        if isinstance(items, TokenizedExamples):
            return items
        return encode(items, tokenizer, max_length=self.max_length(model, tokenizer), completion_only=completion_only,
                      add_special_tokens=self.config.add_special_tokens)

    def items(self, dataset: Any, tokenizer: Any, *, pairs: bool) -> list[Any]:
        """``(prompt, completion)`` pairs of the full view, or plain texts of the configured view."""
        from ..data.formats import prompt_completion_texts

        if pairs:
            if self.view != "full":
                raise ValueError(f"completion-only scoring needs text_view='full' (or 'auto'), got {self.view!r}.")
            return prompt_completion_texts(dataset, text_field=self.config.text_field, tokenizer=tokenizer)
        return self.texts(dataset, tokenizer=tokenizer)

    def nll(self, model: Any, tokenizer: Any, items: Any, *, stage: str, completion_only: bool = False,
            key_extra: dict[str, Any] | None = None) -> Any:
        """Run the engine on ``items`` (texts, pairs or tokenised examples) as a cost stage named ``stage``
        (FLOPs: 2N per forward token)."""
        from ..scoring.pipeline import nll_for_texts

        c = self.config
        with self.cost.stage(stage) as record:
            out = nll_for_texts(model, tokenizer, items, self.engine_config(), completion_only=completion_only,
                                max_length=self.max_length(model, tokenizer),
                                add_special_tokens=c.add_special_tokens, cache_dir=c.cache_dir,
                                shard_size=c.shard_size, key_extra=key_extra)
            # What the scores cost, cached shards included (issue 11): the tokens the engine runs for them (rows
            # with a scored token); what this run paid is recorded beside it.
            record.tokens = int(np.sum(out.lengths[out.num_targets > 0]))
            record.flops = _forward_flops(model, record.tokens)
            record.detail.update(out.report())
            record.detail["paid_now"] = {"tokens": int(out.forward_tokens),
                                         "flops": _forward_flops(model, int(out.forward_tokens))}
        if out.truncated_rows:
            self.cost.notes["num_truncated"] = self.cost.notes.get("num_truncated", 0) + len(out.truncated_rows)
        return out

    # -- the fine-tune on the target ------------------------------------------------------------------------------
    def finetune_items(self, target: Any, tokenizer: Any, completion_only: bool) -> list[Any]:
        """The target examples the fine-tune trains on (the scoring items by default)."""
        return self.items(target, tokenizer, pairs=completion_only)

    def finetune_recipe(self) -> LoraTrainingConfig:
        """The fine-tune recipe: ``finetune`` with the selector's seed, under the NLL dtype's autocast unless set."""
        c = self.config
        autocast = c.finetune.autocast_dtype or (None if c.nll.dtype in ("float32", "fp32") else c.nll.dtype)
        return dataclasses.replace(c.finetune, seed=c.seed, autocast_dtype=autocast)

    def finetune_examples(self, model: Any, tokenizer: Any, target: Any, completion_only: bool) -> tuple[list, Any]:
        """``(items, tokenised examples)`` of the fine-tune (completion-only per ``finetune_completion_only``)."""
        ft_completion = completion_only if self.config.finetune_completion_only is None \
            else self.config.finetune_completion_only
        items = self.finetune_items(target, tokenizer, ft_completion)
        return items, self.encode(model, tokenizer, items, completion_only=ft_completion)

    def finetuned(self, model: Any, tokenizer: Any, target: Any, *, completion_only: bool) -> tuple[Any, dict]:
        """LoRA-tune a copy of ``model`` on the target (cost stage ``finetune_target``); returns (model, cache key)."""
        from ..cost.flops import training_flops
        from ..scoring.cache import fingerprint_texts
        from ..scoring.finetune import lora_finetune

        recipe = self.finetune_recipe()
        items, examples = self.finetune_examples(model, tokenizer, target, completion_only)
        memo_key = ("finetuned", fingerprint_texts(items), repr(recipe.to_dict()), completion_only)
        if self.session is not None and memo_key in self.session:  # the shards of a stream: tune once
            self.cost.add_stage("finetune_target", reused=True)
            return self.session[memo_key]
        pad_id = tokenizer.pad_token_id if getattr(tokenizer, "pad_token_id", None) is not None else 0
        with self.cost.stage("finetune_target") as record:
            tuned, run = lora_finetune(model, examples, recipe, pad_token_id=pad_id)
            record.tokens = run.tokens
            record.flops = training_flops(model.config, run.example_tokens, lora_params=run.lora_params)
            record.detail.update(steps=run.steps, losses=run.losses, lora_params=run.lora_params,
                                 skipped_examples=run.skipped_examples, recipe=recipe.to_dict())
        out = (tuned, {"recipe": recipe.to_dict(), "target": fingerprint_texts(items),
                       "finetune_completion_only": self.config.finetune_completion_only})
        if self.session is not None:
            self.session[memo_key] = out
        return out

    def finetune_cost(self, model: Any, tokenizer: Any, target: Any, completion_only: bool) -> Any:
        """Analytic cost stage of :meth:`finetuned` (exact LoRA size, the target's tokens x epochs)."""
        from ..cost.flops import training_flops
        from ..cost.record import StageCost
        from ..scoring.finetune import trainable_lora_params

        recipe = self.finetune_recipe()
        _, examples = self.finetune_examples(model, tokenizer, target, completion_only)
        lengths = [int(n) for n, t in zip(examples.lengths, examples.num_targets) if t > 0]
        lora = trainable_lora_params(model, recipe.peft_config())
        return StageCost("finetune_target", flops=training_flops(model.config, lengths, lora_params=lora,
                                                                 epochs=recipe.epochs),
                         tokens=int(round(sum(lengths) * recipe.epochs)), detail={"lora_params": lora})

    def forward_cost(self, name: str, model: Any, tokenizer: Any, items: Any, *, completion_only: bool = False) -> Any:
        """Analytic cost stage of :meth:`nll` on ``items`` (2N FLOPs per token of every example with a scored
        token, as the engine runs them), without running the model."""
        from ..cost.flops import forward_flops
        from ..cost.record import StageCost
        examples = self.encode(model, tokenizer, items, completion_only=completion_only)
        lengths = [int(n) for n, t in zip(examples.lengths, examples.num_targets) if t > 0]
        flops = float(forward_flops(model.config.to_dict(), lengths)) if lengths else 0.0
        return StageCost(name, flops=flops, tokens=int(sum(lengths)))

    def estimated(self, stages: list[Any]) -> Any:
        """A :class:`~hf_select.cost.record.SelectionCost` of analytic ``stages``."""
        from ..cost.record import SelectionCost, hardware_info

        return SelectionCost(stages=stages, hardware=hardware_info(), notes={"selector": self.name, "estimated": True})

    def finish(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Apply ``on_empty`` to rows where ``valid`` is False."""
        values = np.asarray(values, dtype=np.float64).copy()
        bad = ~valid | ~np.isfinite(values)
        if not bad.any():
            return values
        rows = np.flatnonzero(bad)
        self.cost.notes["num_unscored"] = int(bad.sum())
        if self.config.on_empty == "error":
            raise ValueError(
                f"{int(bad.sum())} row(s) have no token to score (empty text, a single token, or an empty completion): "
                f"rows {rows[:10].tolist()}{'...' if len(rows) > 10 else ''}. Filter them out or pass "
                "on_empty='lowest' / 'highest'."
            )
        good = values[~bad]
        if good.size == 0:
            values[bad] = 0.0
        elif self.config.on_empty == "lowest":
            values[bad] = float(good.min()) - 1.0
        else:
            values[bad] = float(good.max()) + 1.0
        return values


def _forward_flops(model: Any, tokens: int) -> float:
    """2N FLOPs per forward token (the paper's convention)."""
    from ..cost.flops import forward_flops

    if tokens == 0:
        return 0.0
    return float(forward_flops(model.config.to_dict(), int(tokens)))
