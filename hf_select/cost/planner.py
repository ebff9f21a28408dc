"""Compute-optimal planning: which selector, and how much training, for a FLOP budget.

A method ``m`` (a :class:`MethodProfile`) spends ``s_m`` FLOPs on selection whatever the subset size; training gets
the rest, ``t = B - s_m``, i.e. a fraction ``f = min(1, t / F)`` of the full pool's training FLOPs ``F``, and is
predicted to reach ``P_m(B) = c_m - (c_m - p0_m) * exp(-lam_m * f)`` (the paper's theory model, Yin & Rush 2025).
A method with ``s_m > B`` is infeasible.

At the edge ``B >= F`` the budget pays for training on the whole pool. Then every method that reaches ``f = 1`` trains
on the same data as no selection at all, so its selection is pure cost, and one that stops below ``f = 1`` trains on
less: the plan is :data:`NO_SELECTION` (train on everything), predicted at the full-data performance ``P-bar`` (the
ceiling: the paper defines it as the performance of training on the full data).

Example:
    >>> from hf_select.cost.planner import MethodProfile, plan, crossover
    >>> F = 1e18
    >>> random, ppl = MethodProfile("random", 0.0, lam=5), MethodProfile("perplexity", 0.1 * F, lam=40)
    >>> plan(0.05 * F, [random, ppl], train_flops_full=F).method       # too small to pay for perplexity
    'random'
    >>> plan(0.5 * F, [random, ppl], train_flops_full=F).method
    'perplexity'
    >>> round(crossover(random, ppl, train_flops_full=F) / F, 6)        # lam_b * s_b / (lam_b - lam_a) / F
    0.114286
    >>> plan(2 * F, [random, ppl], train_flops_full=F).method           # the budget covers the whole pool
    'no selection'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Gain rates of the paper's theory figure (Yin & Rush 2025): random 5, lexicon (BM25) 10, perplexity 40, gradient
# (LESS) 80. DSIR (n-gram, lexicon-like) and embedding are not in that figure: we set them to the lexicon rate, since the
# paper's experiments find embedding and BM25 selection close; override them from measured runs.
THEORY_GAIN_RATES: dict[str, float] = {"random": 5.0, "bm25": 10.0, "dsir": 10.0, "embedding": 10.0,
                                       "perplexity": 40.0, "less": 80.0}

# Points per interval used to bracket a crossing where no closed form applies (different ceilings).
_BRACKET_POINTS = 513
# The plan's answer when the budget covers training on the whole pool: train on everything, select nothing.
NO_SELECTION = "no selection"


@dataclass(frozen=True)
class MethodProfile:
    """A selection method as the planner sees it: its selection FLOPs and its utility curve over training FLOPs."""

    name: str
    selection_flops: float
    lam: float
    p0: float = 0.0
    ceiling: float = 100.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"MethodProfile.name must be a non-empty string, got {self.name!r}.")
        for attr in ("selection_flops", "lam", "p0", "ceiling"):
            value = getattr(self, attr)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise ValueError(f"MethodProfile {self.name!r}: {attr} must be a finite number, got {value!r}.")
            object.__setattr__(self, attr, float(value))
        if self.selection_flops < 0 or self.lam < 0:
            raise ValueError(f"MethodProfile {self.name!r}: selection_flops and lam must be >= 0.")
        if self.ceiling <= 0 or not 0 <= self.p0 <= self.ceiling:
            raise ValueError(f"MethodProfile {self.name!r}: need ceiling > 0 and 0 <= p0 <= ceiling "
                             f"(got p0={self.p0}, ceiling={self.ceiling}).")

    @classmethod
    def from_utility(cls, name: str, model: Any, selection_flops: float) -> MethodProfile:
        """Profile from a :class:`~hf_select.cost.utility.UtilityModel` fitted over *total* FLOPs.

        ``P(s + t) = c - (c - P(s)) * exp(-lam * t / F)``: the same curve over training FLOPs with ``p0 = P(s)``.
        """
        return cls(name, selection_flops, lam=model.lam, p0=min(float(model.predict(selection_flops)), model.ceiling),
                   ceiling=model.ceiling)

    def predict(self, budget_flops: float, train_flops_full: float) -> float:
        """Predicted performance at ``budget_flops`` (``-inf`` when selection alone exceeds the budget)."""
        if budget_flops < self.selection_flops:
            return -math.inf
        fraction = min(1.0, (budget_flops - self.selection_flops) / train_flops_full)
        return self.ceiling - (self.ceiling - self.p0) * math.exp(-self.lam * fraction)

    def log_deficit(self, budget_flops: float, train_flops_full: float) -> float:
        """``ln(ceiling - P)`` at ``budget_flops``, exact where ``P`` rounds to the ceiling (``inf`` if infeasible)."""
        if budget_flops < self.selection_flops:
            return math.inf
        if self.ceiling == self.p0:
            return -math.inf
        fraction = min(1.0, (budget_flops - self.selection_flops) / train_flops_full)
        return math.log(self.ceiling - self.p0) - self.lam * fraction


def _beats(b: MethodProfile, a: MethodProfile, budget: float, full: float) -> bool:
    """Whether ``b`` is predicted strictly better than ``a`` at ``budget`` (an infeasible method always loses)."""
    pb, pa = b.predict(budget, full), a.predict(budget, full)
    if math.isinf(pb) or math.isinf(pa):
        return pb > pa
    if a.ceiling == b.ceiling:  # compare the distances to the common ceiling: no saturation at large gain rates
        return b.log_deficit(budget, full) < a.log_deficit(budget, full)
    return pb > pa


@dataclass
class PlanRow:
    """One method under a budget: what it would spend, what it would get, or why it is excluded."""

    method: str
    selection_flops: float
    train_flops: float
    fraction: float
    predicted: float
    feasible: bool
    reason: str = ""     # why an infeasible method is excluded
    note: str = ""       # a remark on a feasible one (e.g. selection that buys nothing at full-pool budgets)


@dataclass
class Plan:
    """The best method for a budget, and the full table (excluded methods included, with their reason).

    ``method`` is :data:`NO_SELECTION` when the budget covers training on the whole pool; ``verdict`` says why.
    """

    method: str
    fraction: float
    predicted: float
    budget_flops: float
    train_flops_full: float
    selection_flops: float
    train_flops: float
    table: list[PlanRow] = field(default_factory=list)
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_positive(value: Any, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of FLOPs, got {value!r}.")
    return float(value)


def _check_profiles(profiles: Iterable[MethodProfile]) -> list[MethodProfile]:
    out = list(profiles)
    if not out:
        raise ValueError("profiles is empty: give at least one MethodProfile.")
    for p in out:
        if not isinstance(p, MethodProfile):
            raise TypeError(f"profiles must hold MethodProfile objects, got {type(p).__name__}.")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ValueError(f"Method names must be unique, got {names}.")
    return out


def plan(budget_flops: float, profiles: Iterable[MethodProfile], *, train_flops_full: float,
         full_data_performance: float | None = None) -> Plan:
    """The method and training fraction with the best predicted performance under ``budget_flops``.

    Training gets ``budget - selection``; the fraction is capped at 1 (the whole pool, one epoch of ``F``). Ties go to
    the cheaper selection, then to the earlier profile. When ``budget_flops >= train_flops_full`` the answer is
    :data:`NO_SELECTION` (a row of its own, predicted at ``full_data_performance``, default the highest ceiling):
    training on the whole pool needs no selection; a method that also reaches the whole pool is predicted the same
    full-data performance (same data), and every method's row notes what selecting would cost instead.

    Raises:
        ValueError: the budget is below every method's selection cost (the message names the smallest workable
            budget), or arguments are invalid.
    """
    budget = _check_positive(budget_flops, "budget_flops")
    full = _check_positive(train_flops_full, "train_flops_full")
    profiles = _check_profiles(profiles)
    rows: list[PlanRow] = []
    for p in profiles:
        if p.selection_flops > budget:
            rows.append(PlanRow(p.name, p.selection_flops, 0.0, 0.0, -math.inf, False,
                                f"selection needs {p.selection_flops:.3g} FLOPs > budget {budget:.3g}"))
            continue
        train = min(budget - p.selection_flops, full)
        rows.append(PlanRow(p.name, p.selection_flops, train, train / full, p.predict(budget, full), True))
    feasible = [(r, i) for i, r in enumerate(rows) if r.feasible]
    if not feasible:
        smallest = min(p.selection_flops for p in profiles)
        raise ValueError(f"budget_flops={budget:.4g} is below the selection cost of every method; the smallest "
                         f"workable budget is {smallest:.4g} FLOPs ({min(profiles, key=lambda q: q.selection_flops).name}"
                         f" selection alone).")
    if budget >= full:
        return _no_selection_plan(budget, full, profiles, rows, full_data_performance)
    by_name = {p.name: p for p in profiles}
    best, _ = max(feasible, key=lambda ri: (ri[0].predicted, -by_name[ri[0].method].log_deficit(budget, full),
                                            -ri[0].selection_flops, -ri[1]))
    verdict = (f"{best.method}: selection {best.selection_flops:.3g} FLOPs, training on {best.fraction:.2%} of the "
               f"pool")
    return Plan(best.method, best.fraction, best.predicted, budget, full, best.selection_flops, best.train_flops, rows,
                verdict)


def _no_selection_plan(budget: float, full: float, profiles: list[MethodProfile], rows: list[PlanRow],
                       full_data_performance: float | None) -> Plan:
    """The edge case ``B >= F``: train on the whole pool; each method row notes what selecting would change."""
    p_full = max(p.ceiling for p in profiles) if full_data_performance is None else float(full_data_performance)
    if not math.isfinite(p_full):
        raise ValueError(f"full_data_performance must be a finite number, got {full_data_performance!r}.")
    for r in rows:
        if not r.feasible:
            continue
        if r.fraction >= 1.0:  # the same data as no selection: the same (full-data) performance
            r.predicted = p_full
            r.note = (f"trains on the whole pool, the same data as no selection, and pays {r.selection_flops:.3g} "
                      "FLOPs of selection for it" if r.selection_flops > 0 else "trains on the whole pool: the same "
                      "data as no selection")
        else:
            r.note = f"its selection leaves {r.fraction:.2%} of the pool to train on; no selection trains on all of it"
    row = PlanRow(NO_SELECTION, 0.0, full, 1.0, p_full, True,
                  note="the budget covers training on the whole pool: selection cannot add data, only cost")
    rows.append(row)
    verdict = (f"train on everything, no selection: the budget ({budget:.3g} FLOPs) covers training on the whole "
               f"pool ({full:.3g} FLOPs), so every method would train on the same data and selection would only add "
               "cost")
    return Plan(NO_SELECTION, 1.0, p_full, budget, full, 0.0, full, rows, verdict)


def _pieces(a: MethodProfile, b: MethodProfile, full: float) -> list[float]:
    return sorted({0.0, a.selection_flops, b.selection_flops, a.selection_flops + full, b.selection_flops + full})


def _solve_piece(a: MethodProfile, b: MethodProfile, full: float, lo: float, hi: float) -> float | None:
    """The B in (lo, hi) where P_b(B) = P_a(B) with both feasible, or None (at most one crossing per piece)."""
    mid = lo + full if math.isinf(hi) else (lo + hi) / 2
    if mid < a.selection_flops or mid < b.selection_flops:
        return None  # one side infeasible on the whole piece: no crossing of finite values
    capped_a = lo >= a.selection_flops + full
    capped_b = lo >= b.selection_flops + full

    def diff(x: float) -> float:
        return b.predict(x, full) - a.predict(x, full)

    if capped_a and capped_b:
        return None  # both constant on this piece
    if capped_a != capped_b:
        # One side constant K, the other c - A exp(-lam (B - s) / F), increasing: one crossing at most, closed form.
        free, fixed = (b, a) if capped_a else (a, b)
        amp = free.ceiling - free.p0
        if free.lam == 0 or amp <= 0:
            return None
        if free.ceiling == fixed.ceiling:  # in log-deficits: ln A - lam (B - s) / F = ln(c - K), exact near c
            log_gap = fixed.log_deficit(mid, full)
        else:
            gap = free.ceiling - fixed.predict(mid, full)
            if gap <= 0:
                return None
            log_gap = math.log(gap)
        if math.isinf(log_gap) or log_gap >= math.log(amp):
            return None
        x = free.selection_flops + full / free.lam * (math.log(amp) - log_gap)
        return x if lo < x < hi else None
    if a.ceiling == b.ceiling:
        # Both free and equal ceilings: ln A_b - lam_b (B - s_b)/F = ln A_a - lam_a (B - s_a)/F, linear in B.
        amp_a, amp_b = a.ceiling - a.p0, b.ceiling - b.p0
        if a.lam == b.lam or amp_a <= 0 or amp_b <= 0:
            return None
        x = (full * math.log(amp_b / amp_a) + b.lam * b.selection_flops - a.lam * a.selection_flops) / (b.lam - a.lam)
        return x if lo < x < hi else None
    top = hi if math.isfinite(hi) else lo + full
    grid = np.linspace(lo, top, _BRACKET_POINTS)[1:-1]
    signs = np.sign([diff(float(x)) for x in grid])
    changes = np.flatnonzero(signs[:-1] != signs[1:])
    if changes.size == 0:
        return None
    from scipy.optimize import brentq

    i = int(changes[-1])
    return float(brentq(diff, grid[i], grid[i + 1]))


def crossover(a: MethodProfile, b: MethodProfile, *, train_flops_full: float) -> float | None:
    """The budget above which ``b`` is predicted to beat ``a`` (``P_b(B) > P_a(B)`` for every larger ``B``).

    Closed form (equal ceilings, both training fractions below 1): with ``A = c - p0``,
    ``B* = [F * ln(A_b / A_a) + lam_b * s_b - lam_a * s_a] / (lam_b - lam_a)``. For the theory figure (``p0 = 0``,
    ``s_a = 0``): ``B* = lam_b * s_b / (lam_b - lam_a)``, and ``b`` can win only if ``lam_b > lam_a``. Where one
    fraction has reached 1 its curve is a constant ``K`` and the crossing is ``s + F / lam * ln(A / (c - K))``.
    A method whose selection exceeds the budget counts as losing. Returns ``None`` when ``b`` does not beat ``a`` at
    large budgets, and ``s_b`` when ``b`` wins as soon as it is affordable.
    """
    full = _check_positive(train_flops_full, "train_flops_full")
    for p in (a, b):
        if not isinstance(p, MethodProfile):
            raise TypeError(f"crossover takes MethodProfile objects, got {type(p).__name__}.")
    cuts = _pieces(a, b, full) + [math.inf]
    for lo, hi in zip(reversed(cuts[:-1]), reversed(cuts[1:])):
        x = _solve_piece(a, b, full, lo, hi)
        if x is not None:
            return x
        mid = lo + full if math.isinf(hi) else (lo + hi) / 2
        if not _beats(b, a, mid, full):
            return None if math.isinf(hi) else hi  # b loses on this whole piece and wins just above it
    return 0.0


def pareto_frontier(points: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The non-dominated points (no other point has fewer-or-equal FLOPs and higher-or-equal performance, one strictly).

    Sorted by FLOPs; points with the same ``(flops, performance)`` appear once (the first given). Other keys are kept.

    Example:
        >>> pts = [{"flops": 2, "performance": 5}, {"flops": 1, "performance": 5}, {"flops": 1, "performance": 5},
        ...        {"flops": 3, "performance": 7, "method": "ppl"}]
        >>> pareto_frontier(pts)
        [{'flops': 1, 'performance': 5}, {'flops': 3, 'performance': 7, 'method': 'ppl'}]
    """
    items = list(points)
    for i, p in enumerate(items):
        if not isinstance(p, Mapping) or "flops" not in p or "performance" not in p:
            raise ValueError(f"point {i} must be a mapping with 'flops' and 'performance' keys, got {p!r}.")
        if not (math.isfinite(float(p["flops"])) and math.isfinite(float(p["performance"]))):
            raise ValueError(f"point {i} has a non-finite flops or performance: {p!r}.")
    order = sorted(range(len(items)), key=lambda i: (float(items[i]["flops"]), -float(items[i]["performance"]), i))
    front: list[Mapping[str, Any]] = []
    best = -math.inf
    for i in order:
        perf = float(items[i]["performance"])
        if perf > best:
            front.append(items[i])
            best = perf
    return front


def profiles_from_runs(runs: Sequence[Mapping[str, Any]], *, ceiling: float, flops_full: float,
                       selection_flops: Mapping[str, float] | None = None,
                       base_performance: float | None = None) -> dict[str, tuple[MethodProfile, Any]]:
    """Fit a utility per method from measured runs (mappings with ``method``, ``flops`` (total), ``performance``).

    The selection cost of each method is ``selection_flops[method]`` when given, else the median of the runs'
    ``selection_flops`` values when present, else 0. With ``base_performance`` (the base model's score: no training,
    the paper's ``P0``) each curve runs over training FLOPs from the end of selection, and its ``p0`` is bounded by the
    base score (at most the base score, at least the lower of it and the method's worst run), so a costly selector's
    fit cannot collapse ``p0`` to ~0. Without it, the paper's fit over total FLOPs with ``p0`` in ``[0, ceiling]``.
    Returns ``{method: (MethodProfile, UtilityModel)}``.
    """
    from .utility import fit_utility

    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        by_method.setdefault(str(r["method"]), []).append(r)
    out: dict[str, tuple[MethodProfile, Any]] = {}
    for name, rs in by_method.items():
        if selection_flops and name in selection_flops:
            sel = float(selection_flops[name])
        else:
            given = [float(r["selection_flops"]) for r in rs if r.get("selection_flops") is not None]
            sel = float(np.median(given)) if given else 0.0
        perf = [float(r["performance"]) for r in rs]
        anchored = base_performance is not None
        if anchored:
            high = min(max(float(base_performance), 0.0), float(ceiling))
            bounds = (min(max(min(perf), 0.0), high), high)
        else:
            bounds = None
        try:
            model = fit_utility([r["flops"] for r in rs], perf, ceiling=ceiling, flops_full=flops_full,
                                selection_flops=sel if anchored else 0.0, p0_bounds=bounds)
        except ValueError as err:
            raise ValueError(f"method {name!r}: {err}") from None
        out[name] = (MethodProfile.from_utility(name, model, sel), model)
    return out
