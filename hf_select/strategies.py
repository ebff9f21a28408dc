"""How scores become an ordered selection.

Every strategy returns row indices in *priority order* (first = most wanted). Ties are broken deterministically by the
lower row index; randomised strategies are reproducible from ``seed``.

- ``top``: highest scores first.
- ``bottom``: lowest scores first (e.g. lowest perplexity).
- ``band``: rows whose rank lies in a quantile band (default the middle third, the paper's "Mid-PPL"); the ``k`` rows
  closest to the band's centre rank are taken, extending symmetrically past the band if ``k`` is larger than it.
- ``threshold``: rows with ``score >= threshold`` (``<=`` with ``below=True``), best first, at most ``k``.
- ``gumbel``: Gumbel top-k sampling, i.e. sampling without replacement with probabilities ``softmax(score / temperature)``
  (DSIR's resampling step).
- ``thirds``: the paper's ordering: sort by score, split into thirds, shuffle within each third by ``seed``, and take the
  first ``k`` (so the top third comes first, in random order).

Example:
    >>> import numpy as np
    >>> from hf_select.strategies import apply_strategy
    >>> s = np.array([0.1, 0.9, 0.5, 0.9, 0.3])
    >>> apply_strategy(s, 3, "top").tolist()
    [1, 3, 2]
    >>> apply_strategy(s, 2, "bottom").tolist()
    [0, 4]
    >>> apply_strategy(s, 1, "band").tolist()
    [2]
"""

from __future__ import annotations

from typing import Any

import numpy as np

STRATEGIES = ("top", "bottom", "band", "threshold", "gumbel", "thirds")


def _order_desc(scores: np.ndarray) -> np.ndarray:
    """Row indices by descending score, ties by ascending index."""
    return np.lexsort((np.arange(len(scores)), -scores)).astype(np.int64)


def _check_k(k: int | None, n: int, strategy: str) -> int:
    if k is None:
        if strategy == "threshold":
            return n
        raise ValueError(f"strategy={strategy!r} needs k (or fraction / budget_flops in select()).")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}.")
    if k <= 0:
        raise ValueError(f"k={k} must be at least 1.")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of rows ({n}); use k <= {n} or fraction=1.0.")
    return int(k)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    return _order_desc(scores)[:k]


def bottom(scores: np.ndarray, k: int) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), scores)).astype(np.int64)[:k]


def band(scores: np.ndarray, k: int, *, low: float = 1 / 3, high: float = 2 / 3) -> np.ndarray:
    """``k`` rows nearest the centre of the rank band ``[low, high)`` (fractions of the descending order)."""
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"band needs 0 <= low < high <= 1, got low={low}, high={high}.")
    order = _order_desc(scores)
    n = len(order)
    centre = (low + high) / 2 * n - 0.5
    ranks = np.arange(n)
    by_distance = np.lexsort((ranks, np.abs(ranks - centre)))
    return order[by_distance[:k]]


def threshold(scores: np.ndarray, k: int, *, threshold: float, below: bool = False) -> np.ndarray:
    """Rows passing ``threshold``, best first (lowest first with ``below=True``), at most ``k``."""
    if threshold is None or not np.isfinite(threshold):
        raise ValueError("strategy 'threshold' needs a finite threshold=<float> in strategy_kwargs.")
    order = bottom(scores, len(scores)) if below else _order_desc(scores)
    passing = scores[order] <= threshold if below else scores[order] >= threshold
    return order[passing][:k]


def gumbel(scores: np.ndarray, k: int, *, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """Gumbel top-k: ``argsort(score / temperature + G)``, ``G ~ Gumbel(0, 1)`` i.i.d. from ``seed``."""
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0.")
    g = np.random.default_rng(seed).gumbel(size=len(scores))
    return _order_desc(scores / temperature + g)[:k]


def thirds(scores: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    order = _order_desc(scores)
    rng = np.random.default_rng(seed)
    parts = np.array_split(order, 3)
    return np.concatenate([rng.permutation(p) for p in parts]).astype(np.int64)[:k]


def apply_strategy(scores: np.ndarray, k: int | None, strategy: str = "top", *, seed: int = 0,
                   **kwargs: Any) -> np.ndarray:
    """Indices (int64, priority order) of the rows ``strategy`` keeps from ``scores``.

    Args:
        scores: one float per row; ``-inf`` marks rows that must never be chosen (e.g. dropped by a filter).
        k: how many rows (``threshold`` allows ``None``: every passing row).
        strategy: one of ``STRATEGIES``.
        seed: seed of the randomised strategies (``gumbel``, ``thirds``).
        **kwargs: the strategy's options (``low``/``high`` for band, ``threshold``/``below``, ``temperature``).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {scores.shape}.")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise ValueError("scores contain NaN or +inf; a selector must return finite scores.")
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
    eligible = np.flatnonzero(np.isfinite(scores))
    k = _check_k(k, len(eligible), strategy)
    sub = scores[eligible]
    allowed = {"top": set(), "bottom": set(), "band": {"low", "high"}, "threshold": {"threshold", "below"},
               "gumbel": {"temperature"}, "thirds": set()}[strategy]
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"strategy {strategy!r} got unknown option(s) {unknown}; it takes {sorted(allowed) or 'none'}.")
    if strategy == "top":
        picked = top(sub, k)
    elif strategy == "bottom":
        picked = bottom(sub, k)
    elif strategy == "band":
        picked = band(sub, k, **kwargs)
    elif strategy == "threshold":
        if "threshold" not in kwargs:
            raise ValueError("strategy 'threshold' needs strategy_kwargs={'threshold': <float>}.")
        picked = threshold(sub, k, **kwargs)
    elif strategy == "gumbel":
        picked = gumbel(sub, k, seed=seed, **kwargs)
    else:
        picked = thirds(sub, k, seed=seed)
    return eligible[picked].astype(np.int64)
