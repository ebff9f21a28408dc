"""``dsir``: Data Selection with Importance Resampling (Xie et al. 2023, arXiv:2302.03169), hashed n-gram features.

Each text is lowercased, split with the wordpunct pattern ``\\w+|[^\\w\\s]+`` and its unigrams and bigrams (joined by
a space) are hashed into ``num_buckets`` buckets with ``sha256(ngram) mod num_buckets``: the features of the reference
implementation (``data-selection``'s ``HashedNgramDSIR``), stable across processes. Two bag-of-n-grams
distributions are fitted over the buckets, one on the target examples and one on the raw pool, and the log importance
weight of a pool example with bucket counts ``x`` is ``sum_j x_j (log(p_target(j) + floor) - log(p_raw(j) + floor))``.

Defaults are the reference's: raw frequencies ``p(j) = count(j) / sum_j count(j)`` and ``floor = 1e-8`` (Spearman
>= 0.99 against ``HashedNgramDSIR`` is tested). ``smoothing = alpha > 0`` adds Laplace smoothing instead,
``p(j) = (count(j) + alpha) / (sum_j count(j) + alpha * num_buckets)``, which bounds the weight of n-grams a small
target set never shows (with the floor only, each such n-gram in a pool row adds ``log(1e-8 / p_raw)``).

Resampling: with ``sampling="gumbel"`` (the default, DSIR's resampling step) the returned score is the perturbed key
``log_w / temperature + G``, ``G ~ Gumbel(0, 1)`` drawn from ``numpy.random.default_rng(seed)``, so the default
``strategy="top"`` of :func:`hf_select.select` *is* importance resampling without replacement (identical to
``sampling="top"`` + ``strategy="gumbel"`` with the same seed and temperature; do not combine ``"gumbel"`` with
``strategy="gumbel"``, that adds noise twice). ``sampling="top"`` returns the log importance weights themselves
(deterministic top-k). In memory, the unperturbed weights are kept in :attr:`DSIRSelector.log_importance_weights`.

Default view: ``"full"``. DSIR models the distribution of whole documents (the reference fits on the ``text`` of
each example), and the n-gram statistics of a domain live mostly in its answers, not in short templated questions.

Two passes, any sharding: bucket counts of the pool are merged over shards of ``batch_size`` rows, then each shard
is scored from its hashed n-grams, so a pool streamed shard by shard (:mod:`hf_select.streaming`) gets exactly the
scores of the in-memory path. Each distinct n-gram of a shard is hashed once (and remembered across shards).

Cost: no model FLOPs (0 recorded); measured seconds and hashed n-gram counts (as ``tokens``) for the stages
``prepare_target``, ``featurize_pool``, ``fit`` and ``score``.

Example:
    >>> import hf_select as hs
    >>> pool = ["the cat sat on the mat", "stock prices fell", "bond yields rose", "markets fell again", "a cat sat"]
    >>> sel = hs.get_selector("dsir", sampling="top", num_buckets=64)
    >>> scores = sel.score(pool, target=["the cat sat", "a cat on a mat"])
    >>> sorted(scores.argsort()[::-1][:2].tolist())
    [0, 4]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._text import (
    WORDPUNCT_PATTERN,
    NgramMemo,
    check_positive,
    flat_ngram_coo,
    hashed_ngram_coo,
    regex_tokens,
    simple_tokenizer,
)
from .base import Selector, SelectorConfig, ShardFeatures, register_selector, row_chunks

SAMPLINGS = ("gumbel", "top")


@dataclass
class DSIRConfig(SelectorConfig):
    text_view: str = field(
        default="auto",
        metadata={"help": "Side of each example to featurise; 'auto' = 'full' (DSIR models whole documents)."},
    )
    num_buckets: int = field(default=10_000, metadata={"help": "Hash buckets of the n-gram features."})
    ngrams: int = field(default=2, metadata={"help": "Largest n-gram order (2 = unigrams + bigrams)."})
    lowercase: bool = field(default=True, metadata={"help": "Lowercase texts before tokenising."})
    tokenizer: Any = field(
        default=None,
        metadata={"help": "None = wordpunct regex \\w+|[^\\w\\s]+; or a regex string (re.findall), or a callable "
                          "str -> list[str]."},
    )
    smoothing: float = field(
        default=0.0,
        metadata={"help": "Additive (Laplace) smoothing of both bucket distributions. 0 (default) = the reference's "
                          "raw frequencies; 1.0 = add-one."},
    )
    floor: float = field(
        default=1e-8,
        metadata={"help": "Added to each bucket probability before the log, as the reference does (1e-8); keeps "
                          "empty buckets finite. smoothing + floor must be > 0."},
    )
    sampling: str = field(
        default="gumbel",
        metadata={"help": "'gumbel': scores are log_w / temperature + Gumbel noise (seeded), so top-k = importance "
                          "resampling; 'top': scores are the log importance weights (deterministic top-k)."},
    )
    temperature: float = field(default=1.0, metadata={"help": "Divides the log weights before Gumbel noise."})
    batch_size: int = field(default=10_000, metadata={"help": "Rows featurised per batch (in-memory path)."})
    hash_cache_size: int = field(
        default=1_000_000,
        metadata={"help": "Distinct words and n-grams whose bucket is remembered across batches (memory ~16 bytes "
                          "per bigram, ~100 per word; the cache restarts when it holds more)."},
    )


class HashedNgramFeaturizer:
    """Texts -> hashed n-gram bucket ids (the reference's features), per text or as COO ``(rows, buckets)``.

    Example:
        >>> f = HashedNgramFeaturizer(num_buckets=10, ngrams=2)
        >>> f.tokenize("Hello, world")
        ['hello', ',', 'world']
        >>> len(f(["Hello, world"])[0])  # 3 unigrams + 2 bigrams
        5
    """

    def __init__(self, *, num_buckets: int, ngrams: int, lowercase: bool = True, tokenizer: Any = None,
                 hash_cache_size: int = 1_000_000) -> None:
        self.num_buckets, self.ngrams, self.hash_cache_size = int(num_buckets), int(ngrams), int(hash_cache_size)
        self.tokenize = simple_tokenizer(lowercase, "keep", WORDPUNCT_PATTERN if tokenizer is None else tokenizer)
        self.pattern = WORDPUNCT_PATTERN if tokenizer is None else tokenizer if isinstance(tokenizer, str) else None
        self.lowercase = lowercase
        self.memo = NgramMemo(hash_cache_size)

    def __getstate__(self) -> dict[str, Any]:
        # The memo is a cache (up to hash_cache_size entries): a copy sent to a worker process starts empty.
        return {**self.__dict__, "memo": NgramMemo(self.hash_cache_size)}

    def coo(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, buckets)`` of every n-gram of ``texts`` (see :func:`hashed_ngram_coo`); a regex tokenizer runs once
        over the joined texts."""
        flat = None if self.pattern is None else regex_tokens(texts, self.pattern, self.lowercase)
        if flat is None:
            return hashed_ngram_coo(list(map(self.tokenize, texts)), self.num_buckets, self.ngrams, self.memo)
        return flat_ngram_coo(flat, None, self.num_buckets, self.ngrams, self.memo)

    def __call__(self, texts: list[str]) -> list[list[int]]:
        """Bucket ids of each text: its unigrams, then its bigrams, ... in order."""
        rows, buckets = self.coo(texts)
        order = np.argsort(rows, kind="stable")
        bounds = np.searchsorted(rows[order], np.arange(len(texts) + 1))
        ordered = buckets[order].tolist()
        return [ordered[bounds[i]:bounds[i + 1]] for i in range(len(texts))]


class DSIRStats:
    """Bucket counts of the raw pool and its number of rows, mergeable across shards."""

    def __init__(self, counts: np.ndarray, num_rows: int) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        self.num_rows = int(num_rows)

    def merge(self, other: "DSIRStats") -> "DSIRStats":
        self.counts = self.counts + other.counts
        self.num_rows += other.num_rows
        return self

    def to_state(self) -> dict[str, Any]:
        return {"counts": self.counts.tolist(), "num_rows": self.num_rows}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "DSIRStats":
        return cls(np.asarray(state["counts"], dtype=np.int64), state["num_rows"])


@register_selector("dsir")
class DSIRSelector(Selector):
    """Hashed-n-gram DSIR importance weights of the pool towards the target; see the module docstring."""

    config_class = DSIRConfig
    requires_target = True
    default_view = "full"
    streaming = "pool"
    stats_class = DSIRStats

    def __init__(self, config: DSIRConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        check_positive(c.num_buckets, "num_buckets", integer=True)
        if c.num_buckets >= 2**31:
            raise ValueError(f"num_buckets={c.num_buckets} must be below 2**31.")
        check_positive(c.ngrams, "ngrams", integer=True)
        check_positive(c.smoothing, "smoothing", allow_zero=True)
        check_positive(c.floor, "floor", allow_zero=True)
        if c.smoothing + c.floor <= 0:
            raise ValueError("smoothing and floor are both 0: empty buckets would get log(0); set floor=1e-8 (the "
                             "reference's) or smoothing > 0.")
        check_positive(c.temperature, "temperature")
        check_positive(c.batch_size, "batch_size", integer=True)
        check_positive(c.hash_cache_size, "hash_cache_size", integer=True)
        if c.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={c.sampling!r} is not known; use one of {SAMPLINGS}.")
        self.featurize = HashedNgramFeaturizer(num_buckets=c.num_buckets, ngrams=c.ngrams, lowercase=c.lowercase,
                                               tokenizer=c.tokenizer, hash_cache_size=c.hash_cache_size)
        self.log_importance_weights: np.ndarray | None = None
        self.log_diff: np.ndarray | None = None
        self.target_probs: np.ndarray | None = None
        self.raw_probs: np.ndarray | None = None

    def probs(self, counts: np.ndarray) -> np.ndarray:
        """Bucket distribution of ``counts`` with ``smoothing`` (raw frequencies when 0)."""
        alpha = float(self.config.smoothing)
        total = counts.sum() + alpha * self.config.num_buckets
        return (counts + alpha) / total if total > 0 else np.zeros(len(counts))

    def begin(self, target: Any) -> None:
        _, buckets = self.featurize.coo(self.target_texts(target))
        if not len(buckets) and self.config.smoothing == 0:
            raise ValueError("The target examples have no n-gram to fit a distribution on (empty texts?); give target "
                             "texts, or set smoothing > 0.")
        self.target_probs = self.probs(np.bincount(buckets, minlength=self.config.num_buckets).astype(np.float64))
        if self.cost.stages:
            self.cost.stages[-1].tokens = len(buckets)
            self.cost.stages[-1].detail["unit"] = "hashed n-grams"

    def shard_pass(self, texts: list[str]) -> tuple[DSIRStats, ShardFeatures]:
        rows, buckets = self.featurize.coo(texts)
        # int32 halves what a stream stores per n-gram (rows < shard size, buckets < num_buckets <= 2**31 - 1)
        features = ShardFeatures(len(texts), entries={"row": rows.astype(np.int32), "bucket": buckets.astype(np.int32)},
                                 tokens=len(buckets))
        return self.stats_from_features(features), features

    def stats_from_features(self, features: ShardFeatures) -> DSIRStats:
        return DSIRStats(np.bincount(features.entries["bucket"], minlength=self.config.num_buckets),
                         features.num_rows)

    def fit(self, stats: DSIRStats) -> None:
        floor = float(self.config.floor)
        self.raw_probs = self.probs(stats.counts.astype(np.float64))
        self.log_diff = np.log(self.target_probs + floor) - np.log(self.raw_probs + floor)

    def score_features(self, features: ShardFeatures) -> np.ndarray:
        rows, buckets = features.entries["row"], features.entries["bucket"]
        return np.bincount(rows, weights=self.log_diff[buckets], minlength=features.num_rows)

    @property
    def draws_in_row_order(self) -> bool:
        return self.config.sampling == "gumbel"

    def finalize(self, scores: np.ndarray) -> None:
        c = self.config
        # In memory, keep the plain weights; a memory-mapped (streamed) array is not copied.
        self.log_importance_weights = None if isinstance(scores, np.memmap) else np.array(scores)
        if c.sampling != "gumbel":
            return
        rng = np.random.default_rng(c.seed)
        for start, stop in row_chunks(len(scores)):
            scores[start:stop] = scores[start:stop] / c.temperature + rng.gumbel(size=stop - start)
        if self.cost.stages:
            self.cost.stages[-1].detail.update(sampling=c.sampling, temperature=c.temperature, seed=c.seed)
