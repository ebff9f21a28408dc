"""How scores become an ordered selection.

Every strategy returns row indices in *priority order* (first = most wanted). Scores follow one convention for every
selector: **higher = preferred** (a selector whose quantity is better when lower, e.g. perplexity with
``direction="low"``, returns it negated). Ties are broken deterministically by the lower row index; randomised
strategies are reproducible from ``seed``. :data:`STRATEGY_HELP` says, for each strategy, which rows come first.

- ``top``: highest scores first.
- ``bottom``: lowest scores first.
- ``band``: rows whose rank lies in a quantile band (default the middle third); the ``k`` rows closest to the band's
  centre rank are taken, extending symmetrically past the band if ``k`` is larger than it.
- ``threshold``: rows with ``score >= threshold`` (``<=`` with ``below=True``), best first, at most ``k``.
- ``gumbel``: Gumbel top-k sampling, i.e. sampling without replacement with probabilities
  ``softmax(score / temperature)`` (DSIR's resampling step).
- ``top_ppl`` / ``mid_ppl``: the compute-constrained paper's orders (CCDS ``write_selected_data_ppl_top.py`` /
  ``_mid.py``): rank every row best score first, cut the ranking into thirds at ``int(0.333 n)`` and ``int(0.666 n)``,
  shuffle each third (Python's ``random`` seeded with ``seed``, shuffling the middle, first and last third in that
  order, as the scripts do), and lay them out ``[first, middle, last]`` (``top_ppl``) or ``[middle, first, last]``
  (``mid_ppl``); the first ``k`` are kept. With the ``perplexity`` selector (lowest perplexity scores highest) the first
  third is the lowest-perplexity third: Top-PPL and Mid-PPL as in the paper.
- ``thirds``: the former name of ``top_ppl`` (same order).

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

import random
from typing import Any

import numpy as np

STRATEGIES = ("top", "bottom", "band", "threshold", "gumbel", "top_ppl", "mid_ppl", "thirds")
STRATEGY_HELP: dict[str, str] = {
    "top": "highest scores first",
    "bottom": "lowest scores first",
    "band": "ranks nearest the centre of a quantile band of the highest-first ranking (default the middle third)",
    "threshold": "rows with score >= threshold (<= with below=True), best first",
    "gumbel": "sampled without replacement, probabilities softmax(score / temperature)",
    "top_ppl": "highest-score third, then the middle, then the lowest, each shuffled (CCDS Top-PPL with perplexity)",
    "mid_ppl": "middle third, then the highest-score third, then the lowest, each shuffled (CCDS Mid-PPL)",
    "thirds": "same as top_ppl (former name)",
}
# CCDS cut points of the highest-first ranking into thirds (write_selected_data_ppl_*.py).
THIRD_CUTS = (0.333, 0.666)
# Which third comes first, second, last (0 = highest scores) for each thirds order.
THIRD_ORDERS = {"top_ppl": (0, 1, 2), "mid_ppl": (1, 0, 2), "thirds": (0, 1, 2)}


def describe_strategies() -> str:
    """One line naming every strategy and which rows it takes first (for --help texts)."""
    return "; ".join(f"{name}: {text}" for name, text in STRATEGY_HELP.items())


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


def thirds(scores: np.ndarray, k: int, *, seed: int = 0, order: tuple[int, int, int] = (0, 1, 2)) -> np.ndarray:
    """CCDS's thirds: the highest-first ranking cut at ``THIRD_CUTS``, each third shuffled, laid out in ``order``."""
    ranking = _order_desc(scores)
    n = len(ranking)
    cuts = [int(n * c) for c in THIRD_CUTS]
    parts = [list(ranking[:cuts[0]]), list(ranking[cuts[0]:cuts[1]]), list(ranking[cuts[1]:])]
    rng = random.Random(seed)
    for i in (1, 0, 2):  # the scripts shuffle the middle third first, then the first, then the last
        rng.shuffle(parts[i])
    return np.asarray([j for i in order for j in parts[i]], dtype=np.int64)[:k]


def apply_strategy(scores: np.ndarray, k: int | None, strategy: str = "top", *, seed: int = 0,
                   **kwargs: Any) -> np.ndarray:
    """Indices (int64, priority order) of the rows ``strategy`` keeps from ``scores``.

    Args:
        scores: one float per row; ``-inf`` marks rows that must never be chosen (e.g. dropped by a filter).
        k: how many rows (``threshold`` allows ``None``: every passing row).
        strategy: one of ``STRATEGIES``.
        seed: seed of the randomised strategies (``gumbel``, ``top_ppl``, ``mid_ppl``).
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
               "gumbel": {"temperature"}, "top_ppl": set(), "mid_ppl": set(), "thirds": set()}[strategy]
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
        picked = thirds(sub, k, seed=seed, order=THIRD_ORDERS[strategy])
    return eligible[picked].astype(np.int64)
