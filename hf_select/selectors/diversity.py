"""Diversity selectors on sentence embeddings: ``kcenter`` (greedy k-center / core-set) and ``facility_location``.

- ``kcenter``: Sener & Savarese 2018, "Active Learning for Convolutional Neural Networks: A Core-Set Approach"
  (greedy 2-approximation of k-center, Gonzalez 1985). Repeatedly pick the point farthest from the chosen centers
  (Euclidean distance of the embeddings; on L2-normalised embeddings ``d^2 = 2 - 2 cos``). Target examples, when
  given, are the initial centers (cover what the target does not already cover), else the first center is a seeded
  random point.
- ``facility_location``: greedy maximisation of the monotone submodular ``F(S) = sum_i max_{j in S} s_ij`` with
  ``s_ij = (1 + cos_ij) / 2`` (Mirzasoleiman et al. 2020, "Coresets for Data-efficient Training of Machine Learning
  Models" / CRAIG; Bhatt et al. 2024, "An Experimental Design Framework for Label-Efficient Supervised Finetuning of
  LLMs"), with lazy evaluation of the gains (Minoux 1978); ``1 - 1/e`` approximation.

Scores encode the greedy order: the i-th pick scores ``n - i``, so strategy ``"top"`` returns the greedy order. With
``max_selected`` set, the greedy stops early and the remaining rows score in ``[0, 1)`` by their distance to the
chosen centers (k-center) or their last marginal gain (facility location).

Embeddings come from the ``embedding`` selector's encoder (default all-MiniLM-L6-v2, offline) or from a column of
precomputed vectors (``embedding_column``).

Example:
    >>> import numpy as np, hf_select as hs
    >>> rows = [{"text": "a", "vec": [0.0, 0.0]}, {"text": "b", "vec": [0.1, 0.0]}, {"text": "c", "vec": [5.0, 5.0]}]
    >>> sel = hs.get_selector("kcenter", embedding_column="vec", normalize=False, seed=0)
    >>> order = np.argsort(-sel.score(rows))
    >>> sorted(order[:2].tolist()) in ([0, 2], [1, 2])
    True
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Selector, SelectorConfig, _num_rows, register_selector


@dataclass
class DiversityConfig(SelectorConfig):
    """Knobs of the embedding-diversity selectors."""

    embedding_column: str | None = field(default=None,
                                         metadata={"help": "Column of precomputed embedding vectors (skips encoding)."})
    model: Any = field(default=None, metadata={"help": "Encoder for the embedding selector (default all-MiniLM-L6-v2)."})
    tokenizer: Any = field(default=None, metadata={"help": "Tokenizer of the encoder (default: the model's)."})
    dtype: str = field(default="float32", metadata={
        "help": "Encoder compute dtype, any name of hf_select.scoring.loading.DTYPES ('auto', 'float32', 'bfloat16', "
                "'float16'). Default float32: a greedy order follows near-ties, which reduced precision moves with "
                "batch_size (see the embedding selector)."})
    batch_size: int = field(default=64, metadata={"help": "Texts per encoder forward pass."})
    device: str | None = field(default=None, metadata={"help": "Encoder device (default: cuda if available)."})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise the embeddings (cosine geometry)."})
    max_selected: int | None = field(default=None,
                                     metadata={"help": "Greedy steps; None orders every row (O(n^2 d) for kcenter)."})
    use_target_as_centers: bool = field(default=True,
                                        metadata={"help": "kcenter: start from the target examples when given."})
    block_size: int = field(default=2048, metadata={"help": "Rows per block of the similarity products."})

    def __post_init__(self) -> None:
        if self.max_selected is not None and self.max_selected < 1:
            raise ValueError(f"max_selected must be a positive integer or None, got {self.max_selected}.")
        if self.block_size < 1 or self.batch_size < 1:
            raise ValueError("block_size and batch_size must be positive integers.")


class _DiversitySelector(Selector):
    config_class = DiversityConfig
    default_view = "query"

    def _vectors(self, data: Any, stage_name: str) -> np.ndarray:
        c = self.config
        if c.embedding_column is not None:
            with self.cost.stage(stage_name) as st:
                if hasattr(data, "column_names"):
                    if c.embedding_column not in data.column_names:
                        raise ValueError(f"embedding_column={c.embedding_column!r} is not a column; columns: "
                                         f"{data.column_names}.")
                    values = data[c.embedding_column]
                else:
                    try:
                        values = [row[c.embedding_column] for row in data]
                    except (KeyError, TypeError):
                        raise ValueError(f"embedding_column={c.embedding_column!r}: every row must be a dict with "
                                         "that key.") from None
                try:
                    vecs = np.asarray(values, dtype=np.float32)
                except ValueError:
                    vecs = np.empty(0, dtype=np.float32)
                st.detail["source"] = "column"
            if vecs.ndim != 2 or len(vecs) != _num_rows(data, "data"):
                raise ValueError(f"embedding_column={c.embedding_column!r} must hold one equal-length vector per row.")
        else:
            from ..cost.flops import embedding_selection_flops
            from .embedding import EmbeddingSelector

            if getattr(self, "_encoder", None) is None:
                with self.cost.stage("load"):
                    self._encoder = EmbeddingSelector(model=c.model, tokenizer=c.tokenizer, dtype=c.dtype,
                                                      batch_size=c.batch_size, device=c.device, show_progress=False)
                    self._encoder._load()
            with self.cost.stage(stage_name) as st:
                vecs = self._encoder.encode(self.texts(data), normalize=False, _stage=st)
                st.flops = embedding_selection_flops(self._encoder.model.config, self._encoder.last_lengths)[0].flops
        if not np.isfinite(vecs).all():
            raise ValueError("Embeddings contain NaN or inf values.")
        if c.normalize:
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs

    def _ranked_scores(self, order: list[int], rest: np.ndarray, n: int) -> np.ndarray:
        """Picks score ``n - rank``; the other rows ``rest`` (any non-negative values) scaled into ``[0, 1)``."""
        scores = np.asarray(rest, dtype=np.float64).copy()
        top = scores.max() if scores.size else 0.0
        scores = 0.999 * scores / top if top > 0 else np.zeros(n)
        scores[order] = n - np.arange(len(order), dtype=np.float64)
        return scores


@register_selector("kcenter")
class KCenterSelector(_DiversitySelector):
    """Greedy k-center (core-set) order of the pool; see the module docstring."""

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        pool = self._vectors(dataset, "encode_pool")
        n, dim = pool.shape
        steps = n if c.max_selected is None else min(c.max_selected, n)
        sq = (pool.astype(np.float64) ** 2).sum(1)
        centers_used = 0
        with self.cost.stage("kcenter") as st:
            min_d = np.full(n, np.inf)
            if target is not None and c.use_target_as_centers:
                tvec = self._vectors(target, "encode_target").astype(np.float64)
                if tvec.shape[1] != dim:
                    raise ValueError(f"target embeddings have dimension {tvec.shape[1]}, pool {dim}.")
                for s in range(0, len(tvec), c.block_size):
                    block = tvec[s:s + c.block_size]
                    d = sq[:, None] + (block ** 2).sum(1)[None, :] - 2 * pool @ block.T
                    min_d = np.minimum(min_d, d.min(axis=1))
                centers_used = len(tvec)
            order: list[int] = []
            chosen = np.zeros(n, dtype=bool)
            if centers_used == 0:
                first = int(np.random.default_rng(c.seed).integers(n))
            else:
                first = int(np.argmax(min_d))
            nxt = first
            for _ in range(steps):
                order.append(nxt)
                chosen[nxt] = True
                d = sq + sq[nxt] - 2.0 * (pool @ pool[nxt]).astype(np.float64)
                np.minimum(min_d, np.maximum(d, 0.0), out=min_d)
                if len(order) == steps:
                    break
                cand = np.where(chosen, -np.inf, min_d)
                nxt = int(np.argmax(cand))
            st.flops = 2.0 * n * dim * (len(order) + centers_used)
            st.detail.update(selected=len(order), initial_centers=centers_used,
                             covering_radius=float(np.sqrt(np.max(np.where(chosen, 0.0, min_d), initial=0.0))))
        rest = np.sqrt(np.maximum(np.where(chosen, 0.0, min_d), 0.0))
        return self._ranked_scores(order, rest, n)


@register_selector("facility_location")
class FacilityLocationSelector(_DiversitySelector):
    """Lazy-greedy facility-location order of the pool; see the module docstring."""

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        c = self.config
        emb = self._vectors(dataset, "encode_pool").astype(np.float32)
        n, dim = emb.shape
        steps = n if c.max_selected is None else min(c.max_selected, n)
        if not c.normalize:
            raise ValueError("facility_location needs normalize=True (similarities (1 + cos) / 2 in [0, 1]).")
        with self.cost.stage("facility_location") as st:
            cover = np.zeros(n, dtype=np.float64)  # current max similarity of each row to the chosen set
            gains = np.zeros(n, dtype=np.float64)
            for s in range(0, n, c.block_size):  # initial gains: column sums of the similarity matrix
                block = (1.0 + emb @ emb[s:s + c.block_size].T) / 2.0
                gains[s:s + c.block_size] = block.sum(axis=0)
            heap = [(-g, j) for j, g in enumerate(gains)]
            heapq.heapify(heap)
            order: list[int] = []
            evaluations = 0
            while heap and len(order) < steps:
                neg, j = heapq.heappop(heap)
                col = (1.0 + emb @ emb[j]) / 2.0
                gain = float(np.maximum(col - cover, 0.0).sum())
                evaluations += 1
                gains[j] = gain
                if not heap or gain >= -heap[0][0] - 1e-12:
                    order.append(j)
                    np.maximum(cover, col, out=cover)
                else:
                    heapq.heappush(heap, (-gain, j))
            st.flops = 2.0 * n * n * dim + 2.0 * n * dim * evaluations
            st.detail.update(selected=len(order), gain_evaluations=evaluations, objective=float(cover.sum()))
        rest = gains.copy()
        rest[order] = 0.0
        return self._ranked_scores(order, np.maximum(rest, 0.0), n)
