"""The paper's utility model: performance as a saturating function of compute, and its fit.

``P(C) = (ceiling - p0) * (1 - exp(-lam * C / flops_full)) + p0`` where ``C`` is the total FLOPs spent (selection
included), ``flops_full`` the training FLOPs of the whole pool, ``ceiling`` the full-data performance (fixed, not
fitted) and ``p0`` (in ``[0, ceiling]``) and ``lam`` (``>= 0``) fitted by least squares (``scipy.optimize.curve_fit``).

Example:
    >>> import numpy as np
    >>> from hf_select.cost.utility import fit_utility
    >>> c = np.array([0.05, 0.1, 0.2, 0.5, 1.0]) * 1e18
    >>> p = 60 * (1 - np.exp(-8 * c / 1e18)) + 20       # ceiling 80, p0 20, lam 8
    >>> m = fit_utility(c, p, ceiling=80, flops_full=1e18)
    >>> round(m.p0, 4), round(m.lam, 4)
    (20.0, 8.0)
    >>> round(float(m.predict(1e18)), 3)
    79.98
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Initial gain rates tried before the least-squares refinement (log-spaced, in units of 1 / flops_full).
_LAM_GRID = np.logspace(-2, 3, 41)


@dataclass(frozen=True)
class UtilityModel:
    """A fitted (or given) utility curve. ``residual`` is the root-mean-square error of the fit in performance units."""

    p0: float
    lam: float
    ceiling: float
    flops_full: float
    residual: float = 0.0
    n_points: int = 0

    def predict(self, flops: Any) -> Any:
        """Predicted performance at total FLOPs ``flops`` (a number or an array)."""
        c = np.asarray(flops, dtype=np.float64)
        out = (self.ceiling - self.p0) * (1.0 - np.exp(-self.lam * c / self.flops_full)) + self.p0
        return float(out) if out.ndim == 0 else out

    def flops_for(self, performance: float) -> float:
        """Total FLOPs needed to reach ``performance`` (``inf`` at or above the ceiling, 0 at or below ``p0``)."""
        if performance <= self.p0:
            return 0.0
        if performance >= self.ceiling or self.lam == 0:
            return math.inf
        return -self.flops_full / self.lam * math.log1p(-(performance - self.p0) / (self.ceiling - self.p0))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _curve(x: np.ndarray, p0: float, lam: float, ceiling: float) -> np.ndarray:
    return (ceiling - p0) * (1.0 - np.exp(-lam * x)) + p0


def _as_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers.") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds non-finite values (nan or inf); drop those runs before fitting.")
    return arr


def fit_utility(flops: Any, performance: Any, *, ceiling: float, flops_full: float) -> UtilityModel:
    """Fit ``p0`` and ``lam`` of the utility model to measured ``(flops, performance)`` runs.

    Args:
        flops: total FLOPs of each run (selection + training).
        performance: the measured performance of each run (same units as ``ceiling``).
        ceiling: full-data performance, ``> 0``; held fixed.
        flops_full: training FLOPs of the whole pool, ``> 0``; the unit of compute in the exponent.

    Raises:
        ValueError: fewer than 3 runs, mismatched lengths, non-finite or negative values, non-positive
            ``ceiling`` / ``flops_full``.
    """
    from scipy.optimize import curve_fit

    if not (isinstance(ceiling, (int, float)) and math.isfinite(ceiling) and ceiling > 0):
        raise ValueError(f"ceiling (the full-data performance) must be a positive finite number, got {ceiling!r}.")
    if not (isinstance(flops_full, (int, float)) and math.isfinite(flops_full) and flops_full > 0):
        raise ValueError(f"flops_full (training FLOPs of the whole pool) must be positive and finite, got "
                         f"{flops_full!r}.")
    c = _as_array(flops, "flops")
    p = _as_array(performance, "performance")
    if c.size != p.size:
        raise ValueError(f"flops and performance must have the same length, got {c.size} and {p.size}.")
    if c.size < 3:
        raise ValueError(f"fit_utility needs at least 3 runs to fit 2 parameters, got {c.size}.")
    if c.min() < 0:
        raise ValueError("flops must be non-negative.")
    x = c / float(flops_full)
    ceil = float(ceiling)

    def model(xs: np.ndarray, p0: float, lam: float) -> np.ndarray:
        return _curve(xs, p0, lam, ceil)

    # Initial values: for each lam on a grid, the best p0 is a clipped linear least-squares solution; keep the best.
    best = (math.inf, 0.0, 1.0)
    for lam in _LAM_GRID:
        e = np.exp(-lam * x)                  # P = ceil - (ceil - p0) * e  ->  linear in p0
        denom = float(np.dot(e, e))
        p0 = ceil - float(np.dot(e, ceil - p)) / denom if denom > 0 else 0.0
        p0 = min(max(p0, 0.0), ceil)
        sse = float(np.sum((model(x, p0, lam) - p) ** 2))
        if sse < best[0]:
            best = (sse, p0, float(lam))
    _, p0_init, lam_init = best
    p0_init = min(max(p0_init, ceil * 1e-9), ceil * (1 - 1e-9))
    try:
        params, _ = curve_fit(model, x, p, p0=[p0_init, lam_init], bounds=([0.0, 0.0], [ceil, np.inf]),
                              method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=10_000)
        p0_fit, lam_fit = float(params[0]), float(params[1])
    except RuntimeError:  # no convergence: keep the grid solution
        p0_fit, lam_fit = best[1], best[2]
    if np.sum((model(x, p0_fit, lam_fit) - p) ** 2) > best[0]:
        p0_fit, lam_fit = best[1], best[2]
    residual = float(np.sqrt(np.mean((model(x, p0_fit, lam_fit) - p) ** 2)))
    return UtilityModel(p0=p0_fit, lam=lam_fit, ceiling=ceil, flops_full=float(flops_full), residual=residual,
                        n_points=int(c.size))
