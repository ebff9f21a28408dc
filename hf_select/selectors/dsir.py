"""``dsir``: Data Selection with Importance Resampling (Xie et al. 2023, arXiv:2302.03169), hashed n-gram features.

Each text is lowercased, split with the wordpunct pattern ``\\w+|[^\\w\\s]+`` and its unigrams and bigrams (joined by
a space) are hashed into ``num_buckets`` buckets with ``sha256(ngram) mod num_buckets`` (the hash of the reference
implementation, stable across processes). Two bag-of-n-grams distributions are fitted over the buckets, one on the
target examples and one on the raw pool, with add-``smoothing`` (Laplace) smoothing:

    p(j) = (count(j) + smoothing) / (sum_j count(j) + smoothing * num_buckets)

and the log importance weight of a pool example with bucket counts ``x`` is ``sum_j x_j (log p_target(j) -
log p_raw(j))``. (The reference code adds 1e-8 to unsmoothed probabilities instead; add-one keeps the weights of
n-grams never seen in a small target set bounded.)

Resampling: with ``sampling="gumbel"`` (the default, DSIR's resampling step) the returned score is the perturbed key
``log_w / temperature + G``, ``G ~ Gumbel(0, 1)`` drawn from ``numpy.random.default_rng(seed)``, so the default
``strategy="top"`` of :func:`hf_select.select` *is* importance resampling without replacement (identical to
``sampling="top"`` + ``strategy="gumbel"`` with the same seed and temperature; do not combine ``"gumbel"`` with
``strategy="gumbel"``, that adds noise twice). ``sampling="top"`` returns the log importance weights themselves
(deterministic top-k). The unperturbed weights are kept in :attr:`DSIRSelector.log_importance_weights` either way.

Default view: ``"full"``. DSIR models the distribution of whole documents (the reference fits on the ``text`` of
each example), and the n-gram statistics of a domain live mostly in its answers, not in short templated questions.

A ``datasets.Dataset`` pool is featurised with ``Dataset.map(batched=True)`` (``batch_size``, optional
``num_proc``), in memory; plain lists are featurised in the same batches in-process.

Cost: no model FLOPs (0 recorded); measured seconds and hashed n-gram counts (as ``tokens``) for the stages
``featurize_target``, ``featurize_pool``, ``fit`` and ``score``.

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

from ._text import WORDPUNCT_PATTERN, check_positive, hashed_ngram_ids, simple_tokenizer
from .base import Selector, SelectorConfig, register_selector

SAMPLINGS = ("gumbel", "top")
_IDS_COLUMN = "hf_select_dsir_ids"


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
    smoothing: float = field(default=1.0, metadata={"help": "Additive (Laplace) smoothing of both bucket "
                                                            "distributions; 1.0 = add-one."})
    sampling: str = field(
        default="gumbel",
        metadata={"help": "'gumbel': scores are log_w / temperature + Gumbel noise (seeded), so top-k = importance "
                          "resampling; 'top': scores are the log importance weights (deterministic top-k)."},
    )
    temperature: float = field(default=1.0, metadata={"help": "Divides the log weights before Gumbel noise."})
    batch_size: int = field(default=1000, metadata={"help": "Rows per Dataset.map batch."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for Dataset.map (None = in-process)."})


class HashedNgramFeaturizer:
    """Texts (or raw rows through a text view) -> lists of hashed n-gram bucket ids. Picklable (for ``num_proc``).

    Example:
        >>> f = HashedNgramFeaturizer(num_buckets=10, ngrams=2)
        >>> f.tokenize("Hello, world")
        ['hello', ',', 'world']
        >>> len(f(["Hello, world"])[0])  # 3 unigrams + 2 bigrams
        5
    """

    def __init__(self, *, num_buckets: int, ngrams: int, lowercase: bool = True, tokenizer: Any = None,
                 view: str = "full", text_field: str | None = None) -> None:
        self.num_buckets, self.ngrams = int(num_buckets), int(ngrams)
        self.tokenize = simple_tokenizer(lowercase, "keep", WORDPUNCT_PATTERN if tokenizer is None else tokenizer)
        self.view, self.text_field = view, text_field
        self.memo: dict[str, int] = {}

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return [hashed_ngram_ids(self.tokenize(t), self.num_buckets, self.ngrams, self.memo) for t in texts]

    def map_batch(self, batch: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
        """``Dataset.map(batched=True)`` function: a batch of rows -> ``{ids column: bucket ids per row}``."""
        from ..data.formats import text_view

        columns = list(batch)
        rows = [dict(zip(columns, values)) for values in zip(*batch.values())]
        return {_IDS_COLUMN: self(text_view(rows, self.view, text_field=self.text_field))}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["memo"] = {}  # workers rebuild their own cache
        return state


def _flatten(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    values = np.fromiter((j for x in ids for j in x), dtype=np.int64, count=int(lengths.sum()))
    return values, lengths


@register_selector("dsir")
class DSIRSelector(Selector):
    """Hashed-n-gram DSIR importance weights of the pool towards the target; see the module docstring."""

    config_class = DSIRConfig
    requires_target = True
    default_view = "full"

    def __init__(self, config: DSIRConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        check_positive(c.num_buckets, "num_buckets", integer=True)
        check_positive(c.ngrams, "ngrams", integer=True)
        check_positive(c.smoothing, "smoothing")
        check_positive(c.temperature, "temperature")
        check_positive(c.batch_size, "batch_size", integer=True)
        if c.num_proc is not None:
            check_positive(c.num_proc, "num_proc", integer=True)
        if c.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={c.sampling!r} is not known; use one of {SAMPLINGS}.")
        self.log_importance_weights: np.ndarray | None = None
        self.log_diff: np.ndarray | None = None
        self.target_probs: np.ndarray | None = None
        self.raw_probs: np.ndarray | None = None

    def featurizer(self, view: str | None = None) -> HashedNgramFeaturizer:
        c = self.config
        return HashedNgramFeaturizer(num_buckets=c.num_buckets, ngrams=c.ngrams, lowercase=c.lowercase,
                                     tokenizer=c.tokenizer, view=view or self.view, text_field=c.text_field)

    def _pool_ids(self, dataset: Any, feat: HashedNgramFeaturizer) -> tuple[np.ndarray, np.ndarray]:
        """Bucket ids of every pool row, flattened: ``(values, lengths)``."""
        c = self.config
        if hasattr(dataset, "map") and hasattr(dataset, "column_names"):
            import datasets
            import pyarrow.compute as pc

            # Sequence (not List) keeps datasets 3.x working; datasets >= 4 turns it into List.
            features = datasets.Features({_IDS_COLUMN: datasets.Sequence(datasets.Value("int32"))})
            fingerprint = f"{getattr(dataset, '_fingerprint', 'x')}-hf_select-dsir"
            quiet = not c.show_progress and not datasets.utils.are_progress_bars_disabled()
            if quiet:
                datasets.utils.disable_progress_bars()
            try:
                mapped = dataset.map(
                    feat.map_batch, batched=True, batch_size=c.batch_size, num_proc=c.num_proc,
                    remove_columns=dataset.column_names, features=features, keep_in_memory=True,
                    load_from_cache_file=False, new_fingerprint=fingerprint,
                    desc="dsir: hashing n-grams",
                )
            finally:
                if quiet:
                    datasets.utils.enable_progress_bars()
            column = mapped.data.column(_IDS_COLUMN).combine_chunks()
            lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
            values = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
            return values, lengths
        texts = self.texts(dataset)
        ids: list[list[int]] = []
        for start in range(0, len(texts), c.batch_size):
            ids.extend(feat(texts[start:start + c.batch_size]))
        return _flatten(ids)

    def _probs(self, values: np.ndarray) -> np.ndarray:
        counts = np.bincount(values, minlength=self.config.num_buckets).astype(np.float64)
        alpha = float(self.config.smoothing)
        return (counts + alpha) / (counts.sum() + alpha * self.config.num_buckets)

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        feat = self.featurizer()
        with self.cost.stage("featurize_target") as stage:
            t_values, t_lengths = _flatten(feat(self.target_texts(target)))
            stage.tokens = int(t_lengths.sum())  # n-gram occurrences
            stage.detail["unit"] = "hashed n-grams"
        with self.cost.stage("featurize_pool") as stage:
            values, lengths = self._pool_ids(dataset, feat)
            stage.tokens = int(lengths.sum())
            stage.detail.update(num_proc=c.num_proc or 1, batch_size=c.batch_size, unit="hashed n-grams")
        with self.cost.stage("fit"):
            self.target_probs = self._probs(t_values)
            self.raw_probs = self._probs(values)
            self.log_diff = np.log(self.target_probs) - np.log(self.raw_probs)
        with self.cost.stage("score") as stage:
            rows = np.repeat(np.arange(len(lengths)), lengths)
            logw = np.bincount(rows, weights=self.log_diff[values], minlength=len(lengths))
            self.log_importance_weights = logw
            if c.sampling == "gumbel":
                noise = np.random.default_rng(c.seed).gumbel(size=len(logw))
                scores = logw / c.temperature + noise
            else:
                scores = logw.copy()
            stage.detail.update(sampling=c.sampling, temperature=c.temperature, seed=c.seed)
        return scores
