"""``random``: seeded uniform scores, the baseline every compute-constrained comparison starts from.

The scores are ``numpy.random.default_rng(seed).random(n)``, drawn in row order once the number of rows is known, so a
streamed pool (:mod:`hf_select.streaming`, which only counts its rows) gets the same scores as the in-memory one.

Example:
    >>> import hf_select as hs
    >>> a = hs.get_selector("random", seed=3).score(["x", "y", "z"])
    >>> b = hs.get_selector("random", seed=3).score(["x", "y", "z"])
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Selector, ShardFeatures, _num_rows, register_selector, row_chunks


@register_selector("random")
class RandomSelector(Selector):
    """Uniform random scores from ``numpy.random.default_rng(seed)``; costs no FLOPs."""

    default_view = "full"
    streaming = "pool"
    needs_text = False

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        scores = np.zeros(_num_rows(dataset, "dataset"))
        with self.cost.stage("sample"):
            self.finalize(scores)
        return scores

    def shard_pass(self, texts: list[str]) -> tuple[None, ShardFeatures]:
        return None, ShardFeatures(len(texts))

    def stats_from_features(self, features: ShardFeatures) -> None:
        return None

    def score_features(self, features: ShardFeatures) -> np.ndarray:
        return np.zeros(features.num_rows)

    def finalize(self, scores: np.ndarray) -> None:
        rng = np.random.default_rng(self.config.seed)
        for start, stop in row_chunks(len(scores)):
            scores[start:stop] = rng.random(stop - start)
