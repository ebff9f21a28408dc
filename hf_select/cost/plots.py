"""Plots of the cost model: measured runs with their Pareto front, fitted utility curves, and a plan over budgets.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend change) and saved as PNG; each
function returns the path written. matplotlib is optional: ``pip install "hf-select[plots]"``. A fitted curve is drawn
only over the FLOPs its runs spanned (``UtilityModel.flops_range``): outside them, and in particular below a method's
selection cost, the fit says nothing. PNGs are written atomically and carry ``Software: hf_select``; an existing file
without that mark (not ours) is never replaced.

Example:
    >>> import os, tempfile
    >>> from hf_select.cost.planner import MethodProfile
    >>> from hf_select.cost.plots import plot_plan
    >>> path = plot_plan([MethodProfile("random", 0, lam=5), MethodProfile("ppl", 1e17, lam=40)],
    ...                  os.path.join(tempfile.mkdtemp(), "plan.png"), train_flops_full=1e18, budget_flops=3e17)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..import_utils import require
from .planner import MethodProfile, pareto_frontier

# Number of budgets on a plotted curve, and the span (in units of the full training FLOPs) plotted by default.
CURVE_POINTS = 200
DEFAULT_BUDGET_SPAN = (1e-3, 2.0)
SOFTWARE_TAG = "hf_select"   # PNG tEXt "Software" of every plot written here
FIGSIZE = (7.0, 4.5)
DPI = 120


def _figure() -> Any:
    require("matplotlib", "hf_select.cost.plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _ours(path: str) -> bool:
    """Whether ``path`` is a PNG written by these functions (its tEXt "Software" chunk is ours)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and b"Software\x00" + SOFTWARE_TAG.encode() in head


def _save(fig: Any, path: str | os.PathLike) -> str:
    from ..atomic import OutputExistsError, atomic_file

    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isdir(path) and not _ours(path):
        raise OutputExistsError(f"plot {path!r} exists and was not written by hf_select; it is never replaced. "
                                "Choose another file name.")
    with atomic_file(path, argument="plot") as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": SOFTWARE_TAG})
    return path


def _fit_grid(model: Any, fallback: np.ndarray) -> np.ndarray:
    """The total FLOPs a fitted curve is drawn over: the span of its runs (``fallback``'s span if unknown)."""
    lo, hi = model.flops_range if getattr(model, "flops_range", None) else (fallback.min(), fallback.max())
    lo = max(float(lo), 1.0)
    return np.geomspace(lo, max(float(hi), lo), CURVE_POINTS)


def _legend(ax: Any) -> None:
    """Legend beside the axes, so it never hides points or curves."""
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _colors(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def plot_frontier(points: Iterable[Mapping[str, Any]], path: str | os.PathLike, *, fits: Mapping[str, Any] | None = None,
                  title: str = "Performance vs compute", method_key: str = "method") -> str:
    """Scatter measured runs (log-x FLOPs vs performance), one series per method, the Pareto front highlighted;
    with ``fits`` (``{method: UtilityModel}``) each fitted curve is drawn over the FLOPs its runs spanned."""
    pts = list(points)
    if not pts:
        raise ValueError("plot_frontier needs at least one point.")
    front = pareto_frontier(pts)
    methods = list(dict.fromkeys(str(p.get(method_key, "runs")) for p in pts))
    colors = _colors(methods + [m for m in (fits or {}) if m not in methods])
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for m in methods:
        sel = [p for p in pts if str(p.get(method_key, "runs")) == m]
        ax.scatter([float(p["flops"]) for p in sel], [float(p["performance"]) for p in sel], label=m,
                   color=colors[m], alpha=0.8, s=24)
    ax.plot([float(p["flops"]) for p in front], [float(p["performance"]) for p in front], "k--", lw=1.5,
            drawstyle="steps-post", label="Pareto front")
    ax.scatter([float(p["flops"]) for p in front], [float(p["performance"]) for p in front], facecolors="none",
               edgecolors="k", s=80, lw=1.2)
    if fits:
        every = np.array([float(p["flops"]) for p in pts])
        for m, model in fits.items():
            own = np.array([float(p["flops"]) for p in pts if str(p.get(method_key, "runs")) == m]) if m in methods \
                else every
            grid = _fit_grid(model, own)
            ax.plot(grid, model.predict(grid), color=colors[m], lw=1.2, alpha=0.9, label=f"{m} fit (lam={model.lam:.3g})")
    ax.set_xscale("log")
    ax.set_xlabel("total FLOPs (selection + training)")
    ax.set_ylabel("performance")
    ax.set_title(title)
    _legend(ax)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def plot_utility(fits: Mapping[str, Any], path: str | os.PathLike, *, flops_range: tuple[float, float] | None = None,
                 title: str = "Fitted utility curves") -> str:
    """Draw ``{method: UtilityModel}`` curves ``P(C)``: each over the FLOPs its runs spanned when it was fitted
    (``model.flops_range``), else over ``flops_range`` (default: 1e-3 to 2 x ``flops_full``)."""
    if not fits:
        raise ValueError("plot_utility needs at least one fitted UtilityModel.")
    full = max(m.flops_full for m in fits.values())
    lo, hi = flops_range or (DEFAULT_BUDGET_SPAN[0] * full, DEFAULT_BUDGET_SPAN[1] * full)
    if not 0 < lo < hi:
        raise ValueError(f"flops_range must be (low, high) with 0 < low < high, got {(lo, hi)!r}.")
    default = np.array([lo, hi])
    colors = _colors(list(fits))
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for m, model in fits.items():
        grid = _fit_grid(model, default) if flops_range is None else np.geomspace(lo, hi, CURVE_POINTS)
        ax.plot(grid, model.predict(grid), color=colors[m], label=f"{m}: p0={model.p0:.3g}, lam={model.lam:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("total FLOPs")
    ax.set_ylabel("predicted performance")
    ax.set_title(title)
    _legend(ax)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def plot_plan(profiles: Iterable[MethodProfile], path: str | os.PathLike, *, train_flops_full: float,
              budget_flops: float | None = None, budgets: Sequence[float] | None = None,
              title: str = "Predicted performance by budget") -> str:
    """Predicted performance of each method over budgets (training gets budget - selection), the budget marked."""
    profiles = list(profiles)
    if not profiles:
        raise ValueError("plot_plan needs at least one MethodProfile.")
    if not train_flops_full > 0:
        raise ValueError(f"train_flops_full must be > 0, got {train_flops_full!r}.")
    if budgets is None:
        lo = DEFAULT_BUDGET_SPAN[0] * train_flops_full
        hi = max(DEFAULT_BUDGET_SPAN[1] * train_flops_full, *(2 * p.selection_flops for p in profiles),
                 2 * (budget_flops or 0))
        budgets = np.geomspace(lo, hi, CURVE_POINTS)
    grid = np.asarray(budgets, dtype=np.float64)
    colors = _colors([p.name for p in profiles])
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    best = np.full(grid.shape, -np.inf)
    for p in profiles:
        perf = np.array([p.predict(float(b), train_flops_full) for b in grid])
        best = np.maximum(best, perf)
        shown = np.where(np.isfinite(perf), perf, np.nan)
        ax.plot(grid, shown, color=colors[p.name], label=f"{p.name} (lam={p.lam:.3g}, sel={p.selection_flops:.2g})")
    ax.plot(grid, np.where(np.isfinite(best), best, np.nan), "k--", lw=1.5, alpha=0.7, label="best method")
    if budget_flops is not None:
        ax.axvline(budget_flops, color="grey", ls=":", lw=1.5, label=f"budget {budget_flops:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("budget FLOPs (selection + training)")
    ax.set_ylabel("predicted performance")
    ax.set_title(title)
    _legend(ax)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)
