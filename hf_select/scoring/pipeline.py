"""Texts in, per-example NLL out: tokenisation, truncation report, shard cache and multi-process sharding.

:func:`nll_for_texts` is what the model-based selectors (perplexity, IFD, CoLoR-Filter) call. The pool is cut into
shards of consecutive rows: with a cache or several processes at least :data:`MIN_SHARDS` by default, so every
process of a small multi-process run has work (:func:`default_shard_size`), otherwise one shard, so batches are not
cut at shard ends. The weights are cast to the compute dtype once; each shard is scored by
:func:`~hf_select.scoring.engine.score_nll`, written to the :class:`~hf_select.scoring.cache.ShardCache` (when a cache
folder is given) and, under ``torch.distributed``, computed by one rank only
(:func:`~hf_select.scoring.distributed.run_sharded`). The cache key covers the scored texts, every knob that changes
the numbers, and the model fingerprint.

Example:
    >>> from hf_select.scoring.pipeline import nll_for_texts
    >>> from hf_select.scoring.engine import NLLConfig
    >>> from hf_select.testing import tiny_llama
    >>> class Chars:  # a toy tokenizer: one id per character
    ...     is_fast = False
    ...     def __call__(self, texts, **kw):
    ...         return {"input_ids": [[ord(c) % 64 for c in t] for t in texts]}
    >>> out = nll_for_texts(tiny_llama(vocab_size=64), Chars(), ["hello", "", "a longer text"],
    ...                     NLLConfig(dtype="float32", show_progress=False), max_length=8)
    >>> out.num_targets.tolist(), out.truncated_rows
    ([4, 0, 7], [2])
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cache import ShardCache, cache_key, concat_shards, fingerprint_texts
from .distributed import dist_info, run_sharded
from .encoding import TokenizedExamples, encode
from .engine import NLLConfig, mean_nll, prepare_model, score_nll, weights_in
from .loading import dtype_name

DEFAULT_SHARD_SIZE = 1024
# Fewest shards a pool is cut into by default: up to this many processes all get work on a small pool. It does not
# depend on the number of processes, so runs with 1 or 8 processes share the same cache.
MIN_SHARDS = 8
# Engine knobs that change the numbers (the others only change speed): part of the cache key.
_KEY_FIELDS = ("cast_weights", "nll_backend", "attn_implementation", "compile")


@dataclass
class TextNLL:
    """Per-example NLL of a list of texts plus what the run did (for the cost record and the card)."""

    sum_nll: np.ndarray
    num_targets: np.ndarray
    lengths: np.ndarray
    truncated_rows: list[int] = field(default_factory=list)
    forward_tokens: int = 0
    seconds: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_nll(self) -> np.ndarray:
        """Mean NLL per scored token; NaN where nothing was scored."""
        return mean_nll(self.sum_nll, self.num_targets)

    @property
    def empty_rows(self) -> list[int]:
        """Rows without any scored token (empty text, a single token, or an empty completion)."""
        return np.flatnonzero(self.num_targets == 0).tolist()

    def report(self) -> dict[str, Any]:
        """Counts for the cost record: truncated and unscored rows, tokens."""
        return {"num_truncated": len(self.truncated_rows), "truncated_rows": self.truncated_rows[:20],
                "num_unscored": len(self.empty_rows), "unscored_rows": self.empty_rows[:20],
                "scored_tokens": int(self.num_targets.sum()), "forward_tokens": int(self.forward_tokens),
                **({"cache": self.cache} if self.cache else {}), **({"plan": self.plan} if self.plan else {})}


def default_max_length(model: Any, tokenizer: Any = None) -> int | None:
    """Longest input the model accepts: ``config.max_position_embeddings`` (else the tokenizer's limit)."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if limit is None and tokenizer is not None:
        tok_limit = getattr(tokenizer, "model_max_length", None)
        limit = tok_limit if tok_limit is not None and tok_limit < 10**9 else None
    return int(limit) if limit is not None else None


def default_shard_size(n_rows: int, world_size: int = 1) -> int:
    """Rows per shard when none is given: at most :data:`DEFAULT_SHARD_SIZE`, and small enough that the pool has
    ``max(MIN_SHARDS, world_size)`` shards (every process gets at least one shard when the pool has a row for it)."""
    shards = max(MIN_SHARDS, world_size)
    return max(1, min(DEFAULT_SHARD_SIZE, -(-n_rows // shards)))


def nll_for_texts(model: Any, tokenizer: Any, items: Sequence[str] | Sequence[tuple[str, str]],
                  config: NLLConfig | None = None, *, completion_only: bool = False, max_length: int | None = None,
                  add_special_tokens: bool = True, append_eos: bool = False,
                  cache_dir: str | os.PathLike | None = None, shard_size: int | None = None,
                  model_id: str | None = None, key_extra: dict[str, Any] | None = None) -> TextNLL:
    """Summed NLL and scored-token counts of ``items`` (texts, ``(prompt, completion)`` pairs, or already tokenised
    :class:`~.encoding.TokenizedExamples`, scored as they are).

    Args:
        model: a loaded causal LM (see :func:`~hf_select.scoring.models.load_causal_lm`).
        tokenizer: its tokenizer.
        items: what to score; pairs are needed for ``completion_only``.
        config: engine knobs.
        completion_only: score only completion tokens of each pair.
        max_length: cut longer examples (default: the model's maximum); cut rows are reported.
        add_special_tokens / append_eos: the special-token and end-token rules of :mod:`.encoding`.
        cache_dir: folder of the shard cache (``None``: no cache).
        shard_size: rows per shard (unit of caching and of work across processes); default
            :func:`default_shard_size` with a cache or several processes, else the whole pool.
        model_id: identity of the model for the cache key (default: :func:`~.models.model_fingerprint`).
        key_extra: more things the numbers depend on (e.g. a fine-tuning recipe), added to the cache key.
    """
    config = config or NLLConfig()
    if shard_size is not None and shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}.")
    max_length = max_length if max_length is not None else default_max_length(model, tokenizer)
    start = time.perf_counter()
    if isinstance(items, TokenizedExamples):  # already encoded (e.g. IFD's answers after a fixed prefix)
        examples = items
        content = fingerprint_texts([(" ".join(map(str, ids)), "".join("1" if m else "0" for m in mask))
                                     for ids, mask in zip(items.input_ids, items.target_mask)])
    else:
        examples = encode(items, tokenizer, max_length=max_length, completion_only=completion_only,
                          add_special_tokens=add_special_tokens, append_eos=append_eos)
        content = fingerprint_texts(items)
    n = len(examples)
    info = dist_info()
    if shard_size is None:  # without a cache or other processes, shards only cut batches short: one shard
        shard_size = default_shard_size(n, info.world_size) if cache_dir is not None or info.world_size > 1 \
            else max(n, 1)
    cache = None
    if cache_dir is not None:
        from .fingerprint import model_fingerprint

        key_config = {k: getattr(config, k) for k in _KEY_FIELDS}
        key_config.update(dtype=dtype_name(config.dtype, config.device), completion_only=completion_only,
                          max_length=max_length, add_special_tokens=add_special_tokens, append_eos=append_eos,
                          shard_size=shard_size, extra=key_extra or {})
        mid = model_id or model_fingerprint(model)
        key = cache_key(content=content, config=key_config, model=mid, kind="nll")
        cache = ShardCache(cache_dir, key, n, shard_size, info={"config": key_config, "model": mid})
    ranges = [(s * shard_size, min((s + 1) * shard_size, n)) for s in range(-(-n // shard_size))]
    runs: list[Any] = []

    def compute(shard: int) -> dict[str, np.ndarray]:
        lo, hi = ranges[shard]
        res = score_nll(model, examples, config, rows=range(lo, hi), plan=plan)
        runs.append(res)
        return {"sum_nll": res.sum_nll[lo:hi], "num_targets": res.num_targets[lo:hi]}

    plan = prepare_model(model, config)
    # weights cast to the compute dtype once for all shards (score_nll's own cast then finds them cast)
    with weights_in(model, dtype_name(config.dtype, plan.device), all_parameters=config.cast_weights):
        parts, stats = run_sharded(len(ranges), compute, cache=cache)
    columns = concat_shards(parts) if parts else {"sum_nll": np.zeros(0), "num_targets": np.zeros(0, dtype=np.int64)}
    forward_tokens = sum(r.forward_tokens for r in runs)
    if info.world_size > 1:
        forward_tokens = _sum_over_ranks(forward_tokens)
    cache_report = {}
    if cache is not None:
        cache_report = {"dir": str(cache.root), "key": cache.key, "shards": len(ranges),
                        "computed": stats["computed"], "loaded": stats["cached"], "corrupted": stats["corrupted"]}
    elif info.world_size > 1:
        cache_report = {"world_size": info.world_size}
    return TextNLL(np.asarray(columns["sum_nll"], dtype=np.float64), np.asarray(columns["num_targets"], dtype=np.int64),
                   examples.lengths, list(examples.truncated_rows), forward_tokens, time.perf_counter() - start,
                   cache_report, runs[0].plan if runs else {})


def _sum_over_ranks(value: int) -> int:
    import torch
    import torch.distributed as tdist

    t = torch.tensor([int(value)], dtype=torch.int64)
    tdist.all_reduce(t)
    return int(t.item())
