"""The paper's utility model: performance as a saturating function of compute, and its fit.

``P(C) = (ceiling - p0) * (1 - exp(-lam * (C - s) / flops_full)) + p0`` where ``C`` is the total FLOPs spent
(selection included), ``flops_full`` the training FLOPs of the whole pool, ``ceiling`` the full-data performance (fixed,
not fitted) and ``p0`` (in ``p0_bounds``, default ``[0, ceiling]``) and ``lam`` (``>= 0``) fitted by least squares
(``scipy.optimize.curve_fit``). With ``s = 0`` (the default) this is the paper's form over total compute. With the
method's selection cost as ``s`` the curve runs over *training* compute and ``p0`` is the performance before training,
which a measured base model bounds: fitted over total compute alone, a costly selector's ``p0`` collapses to ~0 (the
curve must be flat at the base model's score until ``C = s``, which the form cannot express), a sign that the model is
used outside its range. ``flops_range`` is the span of total FLOPs the fit saw: plots draw the curve only there.

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
    selection_flops: float = 0.0                      # s: the curve starts (at p0) where selection ends
    flops_range: tuple[float, float] | None = None    # total FLOPs spanned by the fitted runs

    def predict(self, flops: Any) -> Any:
        """Predicted performance at total FLOPs ``flops`` (a number or an array)."""
        c = np.asarray(flops, dtype=np.float64) - self.selection_flops
        out = (self.ceiling - self.p0) * (1.0 - np.exp(-self.lam * c / self.flops_full)) + self.p0
        return float(out) if out.ndim == 0 else out

    def flops_for(self, performance: float) -> float:
        """Total FLOPs needed to reach ``performance`` (``inf`` at or above the ceiling, ``s`` at or below ``p0``)."""
        if performance <= self.p0:
            return self.selection_flops
        if performance >= self.ceiling or self.lam == 0:
            return math.inf
        return self.selection_flops - self.flops_full / self.lam * math.log1p(-(performance - self.p0)
                                                                             / (self.ceiling - self.p0))

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


def fit_utility(flops: Any, performance: Any, *, ceiling: float, flops_full: float, selection_flops: float = 0.0,
                p0_bounds: tuple[float, float] | None = None) -> UtilityModel:
    """Fit ``p0`` and ``lam`` of the utility model to measured ``(flops, performance)`` runs.

    Args:
        flops: total FLOPs of each run (selection + training).
        performance: the measured performance of each run (same units as ``ceiling``).
        ceiling: full-data performance, ``> 0``; held fixed.
        flops_full: training FLOPs of the whole pool, ``> 0``; the unit of compute in the exponent.
        selection_flops: where the curve starts (the method's selection cost); 0 fits over total compute.
        p0_bounds: ``(low, high)`` for ``p0`` within ``[0, ceiling]`` (e.g. pinned by a measured base model);
            ``low == high`` fixes ``p0`` and fits ``lam`` alone.

    Raises:
        ValueError: fewer than 3 runs (2 with ``p0`` fixed), mismatched lengths, non-finite or negative values, a run
            below ``selection_flops``, non-positive ``ceiling`` / ``flops_full``, bounds outside ``[0, ceiling]``.
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
    ceil = float(ceiling)
    lo, hi = (0.0, ceil) if p0_bounds is None else (float(p0_bounds[0]), float(p0_bounds[1]))
    if not 0.0 <= lo <= hi <= ceil:
        raise ValueError(f"p0_bounds={p0_bounds!r} must satisfy 0 <= low <= high <= ceiling ({ceil:g}).")
    fixed = hi - lo <= 1e-12 * max(ceil, 1.0)
    if c.size < (2 if fixed else 3):
        raise ValueError(f"fit_utility needs at least {2 if fixed else 3} runs to fit {1 if fixed else 2} "
                         f"parameter(s), got {c.size}.")
    if c.min() < 0:
        raise ValueError("flops must be non-negative.")
    if c.min() < selection_flops:
        raise ValueError(f"a run has fewer total FLOPs ({c.min():.4g}) than the selection alone ({selection_flops:.4g}).")
    x = (c - float(selection_flops)) / float(flops_full)
    if fixed:
        return _fit_lam(x, p, c, lo, ceil, float(flops_full), float(selection_flops))

    def model(xs: np.ndarray, p0: float, lam: float) -> np.ndarray:
        return _curve(xs, p0, lam, ceil)

    # Initial values: for each lam on a grid, the best p0 is a clipped linear least-squares solution; keep the best.
    best = (math.inf, 0.0, 1.0)
    for lam in _LAM_GRID:
        e = np.exp(-lam * x)                  # P = ceil - (ceil - p0) * e  ->  linear in p0
        denom = float(np.dot(e, e))
        p0 = ceil - float(np.dot(e, ceil - p)) / denom if denom > 0 else 0.0
        p0 = min(max(p0, lo), hi)
        sse = float(np.sum((model(x, p0, lam) - p) ** 2))
        if sse < best[0]:
            best = (sse, p0, float(lam))
    _, p0_init, lam_init = best
    p0_init = min(max(p0_init, lo + (hi - lo) * 1e-9), hi - (hi - lo) * 1e-9)
    try:
        params, _ = curve_fit(model, x, p, p0=[p0_init, lam_init], bounds=([lo, 0.0], [hi, np.inf]),
                              method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=10_000)
        p0_fit, lam_fit = float(params[0]), float(params[1])
    except RuntimeError:  # no convergence: keep the grid solution
        p0_fit, lam_fit = best[1], best[2]
    if np.sum((model(x, p0_fit, lam_fit) - p) ** 2) > best[0]:
        p0_fit, lam_fit = best[1], best[2]
    residual = float(np.sqrt(np.mean((model(x, p0_fit, lam_fit) - p) ** 2)))
    return UtilityModel(p0=p0_fit, lam=lam_fit, ceiling=ceil, flops_full=float(flops_full), residual=residual,
                        n_points=int(c.size), selection_flops=float(selection_flops),
                        flops_range=(float(c.min()), float(c.max())))


def _fit_lam(x: np.ndarray, p: np.ndarray, c: np.ndarray, p0: float, ceil: float, full: float,
             selection: float) -> UtilityModel:
    """The one-parameter fit (``p0`` fixed): grid start, then bounded least squares on ``lam``."""
    from scipy.optimize import curve_fit

    sse = [float(np.sum((_curve(x, p0, lam, ceil) - p) ** 2)) for lam in _LAM_GRID]
    lam = float(_LAM_GRID[int(np.argmin(sse))])
    try:
        params, _ = curve_fit(lambda xs, la: _curve(xs, p0, la, ceil), x, p, p0=[lam], bounds=([0.0], [np.inf]),
                              method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=10_000)
        if np.sum((_curve(x, p0, float(params[0]), ceil) - p) ** 2) <= min(sse):
            lam = float(params[0])
    except RuntimeError:  # no convergence: keep the grid value
        pass
    residual = float(np.sqrt(np.mean((_curve(x, p0, lam, ceil) - p) ** 2)))
    return UtilityModel(p0=p0, lam=lam, ceiling=ceil, flops_full=full, residual=residual, n_points=int(c.size),
                        selection_flops=selection, flops_range=(float(c.min()), float(c.max())))
