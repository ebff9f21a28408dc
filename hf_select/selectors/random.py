"""``random``: seeded uniform scores, the baseline every compute-constrained comparison starts from.

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

from .base import Selector, _num_rows, register_selector


@register_selector("random")
class RandomSelector(Selector):
    """Uniform random scores from ``numpy.random.default_rng(seed)``; costs no FLOPs."""

    default_view = "full"

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        n = _num_rows(dataset, "dataset")
        with self.cost.stage("sample"):
            return np.random.default_rng(self.config.seed).random(n)
