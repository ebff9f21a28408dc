"""``perplexity``: per-example mean token NLL under a reference causal LM (the paper's Top-PPL / Mid-PPL).

Score = mean NLL per scored token of each example (``score="perplexity"`` gives ``exp`` of it; same order). Higher =
less likely under the reference model, so strategy ``"top"`` keeps the highest-perplexity examples (Top-PPL),
``"band"`` the middle (Mid-PPL), ``"bottom"`` the lowest. Source: Ankner et al. 2024, "Perplexed by Perplexity:
Perplexity-Based Data Pruning With Small Reference Models"; Marion et al. 2023, "When Less is More"; the compute-
constrained study (Yin & Rush 2024) that compares Top-/Mid-PPL under a FLOP budget.

Optionally (``finetune_on_target_epochs > 0``, needs ``peft``) the reference model is first LoRA-tuned on the target
examples, as in the paper; that training is counted as a cost stage. Scoring runs on the fast engine of
:mod:`hf_select.scoring` (length-bucketed or packed batches, chunked LM head, bf16 autocast), with a per-shard cache
(``cache_dir``) and multi-process sharding under ``accelerate launch``.

Rows with no scored token (empty text, one token, empty completion with ``completion_only``) have no perplexity:
``on_empty="error"`` (default) raises naming them, ``"lowest"`` / ``"highest"`` gives them a score just below / above
every real score (``min - 1`` / ``max + 1``).

Example:
    >>> import hf_select as hs
    >>> from hf_select.scoring.models import tiny_llama
    >>> from hf_select.selectors.perplexity import toy_tokenizer
    >>> sel = hs.get_selector("perplexity", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
    ...                       dtype="float32", show_progress=False)
    >>> scores = sel.score(["a short text", "another, longer piece of text"])
    >>> scores.shape, sel.last_cost.tokens > 0
    ((2,), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scoring.compiled import DEFAULT_COMPILE_MIN_TOKENS
from .base import Selector, SelectorConfig, register_selector

ON_EMPTY = ("error", "lowest", "highest")
SCORES = ("nll", "perplexity")


@dataclass
class ModelScoringConfig(SelectorConfig):
    """Knobs shared by the NLL-based selectors (perplexity, IFD, CoLoR-Filter)."""

    model: Any = field(default=None, metadata={
        "help": "Reference causal LM: a local folder or a model object (default: SmolLM2-135M-Instruct, offline)."})
    tokenizer: Any = field(default=None, metadata={"help": "Tokenizer (object or folder); default: the model's."})
    dtype: str = field(default="bfloat16", metadata={
        "help": "Compute dtype: 'bfloat16' (autocast; fast path on CPU and GPU) or 'float32' (exact)."})
    max_tokens_per_batch: int = field(default=8192, metadata={"help": "Token budget of one forward pass."})
    max_length: int | None = field(default=None, metadata={
        "help": "Cut examples to this many tokens (default: the model's maximum); cut rows are counted in the cost."})
    batching: str = field(default="auto", metadata={"help": "'auto', 'bucketed', 'packed' or 'single'."})
    attn_implementation: str = field(default="auto", metadata={"help": "'auto', 'sdpa', 'eager', 'flash_attention_2'."})
    nll_backend: str = field(default="auto", metadata={"help": "'auto', 'torch' (chunked), 'triton' or 'full'."})
    lm_head_chunk: int = field(default=256, metadata={"help": "Tokens per LM-head chunk (memory ~ chunk x vocab)."})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    compile: str = field(default="auto", metadata={
        "help": "torch.compile the scoring forward: 'auto' (CPU, pools >= compile_min_tokens), 'on' or 'off'."})
    compile_min_tokens: int = field(default=DEFAULT_COMPILE_MIN_TOKENS, metadata={
        "help": "With compile='auto': compile only for pools of at least this many tokens (compiling takes ~1 min)."})
    on_empty: str = field(default="error", metadata={
        "help": "Rows with no scored token: 'error', 'lowest' (below every score) or 'highest'."})
    cache_dir: str | None = field(default=None, metadata={
        "help": "Folder of the per-shard score cache (resume after a kill); None disables it."})
    shard_size: int = field(default=1024, metadata={"help": "Rows per cache shard / per unit of multi-process work."})


@dataclass
class PerplexityConfig(ModelScoringConfig):
    """Options of the ``perplexity`` selector."""

    completion_only: bool = field(default=False, metadata={
        "help": "Score only completion / assistant tokens (prompt tokens are context)."})
    score: str = field(default="nll", metadata={"help": "'nll' (mean token NLL) or 'perplexity' (its exp)."})
    finetune_on_target_epochs: float = field(default=0.0, metadata={
        "help": "LoRA-tune the reference model on the target for this many epochs first (0 = off; needs peft)."})
    finetune_learning_rate: float = field(default=2e-4, metadata={"help": "Learning rate of that LoRA fine-tune."})
    finetune_lora_r: int = field(default=8, metadata={"help": "LoRA rank of that fine-tune."})


class ModelScoringSelector(Selector):
    """Shared machinery: lazy model loading, text items, NLL through the engine with cache, cost stages."""

    config_class = ModelScoringConfig
    default_view = "full"
    uses_causal_lm = True

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        if c.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty={c.on_empty!r} is not known; use one of {ON_EMPTY}.")
        for name in ("max_tokens_per_batch", "lm_head_chunk", "shard_size"):
            if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(c, name)!r}.")
        if c.max_length is not None and (not isinstance(c.max_length, int) or c.max_length < 2):
            raise ValueError(f"max_length must be an integer >= 2 or None, got {c.max_length!r}.")
        from ..scoring.models import resolve_dtype

        resolve_dtype(c.dtype)
        self._loaded: tuple[Any, Any] | None = None

    # -- pieces ---------------------------------------------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """``(model, tokenizer)``, loaded once per selector (a model object is used as is)."""
        if self._loaded is None:
            from ..scoring.dispatch import resolve_device
            from ..scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path

            with self.cost.stage("load_model"):
                source = self.config.model if self.config.model is not None else smollm2_local_path()
                device = resolve_device(self.config.device)
                model = load_causal_lm(source, device=device)
                tokenizer = load_tokenizer(source, self.config.tokenizer)
            self._loaded = (model, tokenizer)
        return self._loaded

    def engine_config(self) -> Any:
        from ..scoring.engine import NLLConfig

        c = self.config
        return NLLConfig(dtype=c.dtype, max_tokens_per_batch=c.max_tokens_per_batch, batching=c.batching,
                         attn_implementation=c.attn_implementation, nll_backend=c.nll_backend,
                         lm_head_chunk=c.lm_head_chunk, device=c.device, show_progress=c.show_progress,
                         compile=c.compile, compile_min_tokens=c.compile_min_tokens)

    def items(self, dataset: Any, tokenizer: Any, *, pairs: bool) -> list[Any]:
        """``(prompt, completion)`` pairs of the full view, or plain texts of the configured view."""
        from ..data.formats import prompt_completion_texts

        if pairs:
            if self.view != "full":
                raise ValueError(f"completion-only scoring needs text_view='full' (or 'auto'), got {self.view!r}.")
            return prompt_completion_texts(dataset, text_field=self.config.text_field, tokenizer=tokenizer)
        return self.texts(dataset, tokenizer=tokenizer)

    def nll(self, model: Any, tokenizer: Any, items: list[Any], *, stage: str, completion_only: bool = False,
            key_extra: dict[str, Any] | None = None) -> Any:
        """Run the engine on ``items`` as a cost stage named ``stage`` (FLOPs: 2N per forward token)."""
        from ..scoring.pipeline import default_max_length, nll_for_texts

        c = self.config
        max_length = c.max_length if c.max_length is not None else default_max_length(model, tokenizer)
        with self.cost.stage(stage) as record:
            out = nll_for_texts(model, tokenizer, items, self.engine_config(), completion_only=completion_only,
                                max_length=max_length, cache_dir=c.cache_dir, shard_size=c.shard_size,
                                key_extra=key_extra)
            record.tokens = int(out.forward_tokens)
            record.flops = _forward_flops(model, out)
            record.detail.update(out.report())
        if out.truncated_rows:
            self.cost.notes["num_truncated"] = self.cost.notes.get("num_truncated", 0) + len(out.truncated_rows)
        return out

    def finetuned(self, model: Any, tokenizer: Any, target: Any, *, epochs: float, learning_rate: float,
                  lora_r: int, completion_only: bool) -> tuple[Any, dict[str, Any]]:
        """LoRA-tune a copy of ``model`` on the target (cost stage ``finetune_target``); returns (model, recipe)."""
        from ..cost.flops import lora_train_flops
        from ..scoring.batching import tokenize_examples
        from ..scoring.finetune import LoraFinetuneConfig, lora_finetune
        from ..scoring.pipeline import default_max_length

        c = self.config
        recipe = LoraFinetuneConfig(epochs=epochs, learning_rate=learning_rate, lora_r=lora_r, lora_alpha=2 * lora_r,
                                    dtype=c.dtype, lm_head_chunk=c.lm_head_chunk, seed=c.seed)
        items = self.items(target, tokenizer, pairs=completion_only)
        max_length = c.max_length if c.max_length is not None else default_max_length(model, tokenizer)
        examples = tokenize_examples(items, tokenizer, max_length=max_length, completion_only=completion_only)
        with self.cost.stage("finetune_target") as record:
            tuned, info = lora_finetune(model, examples, recipe)
            record.tokens = int(info["tokens"])
            record.flops = lora_train_flops(model.config, info["example_tokens"], lora_params=info["lora_params"])
            record.detail.update(steps=info["steps"], losses=info["losses"], lora_params=info["lora_params"],
                                 recipe=recipe.to_dict())
        return tuned, {"recipe": recipe.to_dict(), "target": _fingerprint(items)}

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


def _fingerprint(items: list[Any]) -> str:
    from ..scoring.cache import fingerprint_texts

    return fingerprint_texts(items)


def _forward_flops(model: Any, out: Any) -> float:
    """2N FLOPs per forward token (the paper's convention) over the examples really run (cached ones cost 0)."""
    from ..cost.flops import forward_flops

    if out.forward_tokens == 0:
        return 0.0
    return float(forward_flops(model.config.to_dict(), int(out.forward_tokens)))


@register_selector("perplexity")
class PerplexitySelector(ModelScoringSelector):
    """Mean token NLL (or perplexity) of each example under a reference LM; see the module docstring."""

    config_class = PerplexityConfig
    requires_target = False
    default_view = "full"

    def __init__(self, config: PerplexityConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        if c.score not in SCORES:
            raise ValueError(f"score={c.score!r} is not known; use one of {SCORES}.")
        if c.finetune_on_target_epochs < 0:
            raise ValueError(f"finetune_on_target_epochs must be >= 0, got {c.finetune_on_target_epochs}.")

    def estimate_cost(self, dataset: Any, target: Any = None) -> Any:
        """Analytic cost without running the model: tokenises the pool (and target) and counts 2N FLOPs per token
        of the forward pass, plus the LoRA fine-tune when ``finetune_on_target_epochs > 0``."""
        from ..cost.flops import lora_train_flops, perplexity_selection_flops
        from ..cost.record import SelectionCost, hardware_info
        from ..scoring.batching import tokenize_examples
        from ..scoring.pipeline import default_max_length

        c = self.config
        model, tokenizer = self.load()
        max_length = c.max_length if c.max_length is not None else default_max_length(model, tokenizer)

        def lengths(data: Any) -> list[int]:
            items = self.items(data, tokenizer, pairs=c.completion_only)
            ex = tokenize_examples(items, tokenizer, max_length=max_length, completion_only=c.completion_only)
            return [int(n) for n, t in zip(ex.lengths, ex.num_targets) if t > 0]

        config = model.config.to_dict()
        stages = perplexity_selection_flops(config, lengths(dataset))
        if c.finetune_on_target_epochs > 0 and target is not None:
            from ..cost.record import StageCost

            lora_params = 4 * c.finetune_lora_r * config["hidden_size"] * 2 * config["num_hidden_layers"]
            tokens = lengths(target)
            stages.insert(0, StageCost("finetune_target", flops=lora_train_flops(
                config, tokens, lora_params=lora_params, epochs=c.finetune_on_target_epochs),
                tokens=int(sum(tokens) * c.finetune_on_target_epochs), detail={"lora_params_approx": lora_params}))
        return SelectionCost(stages=stages, hardware=hardware_info(), notes={"selector": self.name, "estimated": True})

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        model, tokenizer = self.load()
        key_extra = None
        if c.finetune_on_target_epochs > 0:
            if target is None:
                raise ValueError("finetune_on_target_epochs > 0 needs target examples: pass target=...")
            model, key_extra = self.finetuned(model, tokenizer, target, epochs=c.finetune_on_target_epochs,
                                              learning_rate=c.finetune_learning_rate, lora_r=c.finetune_lora_r,
                                              completion_only=c.completion_only)
        items = self.items(dataset, tokenizer, pairs=c.completion_only)
        out = self.nll(model, tokenizer, items, stage="forward_pool", completion_only=c.completion_only,
                       key_extra=key_extra)
        mean = out.mean_nll
        self.last_nll = mean
        values = np.exp(mean) if c.score == "perplexity" else mean
        return self.finish(values, out.num_targets > 0)


def toy_tokenizer() -> Any:
    """A tiny byte-level fast tokenizer (ids 0..127, no special tokens) for examples and tests without downloads."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {chr(i) if chr(i).isprintable() else f"<{i}>": i for i in range(128)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<0>"))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<0>", eos_token="<1>")

