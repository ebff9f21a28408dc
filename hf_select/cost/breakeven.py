"""Break-even analyses on top of the planner: selection shared by several target tasks, and the model-size ratio.

:func:`amortize` spreads a method's selection cost over ``n`` target tasks, :func:`break_even` finds the fewest tasks
for which a selector beats a baseline at a budget (the paper's amortisation analysis), and :func:`min_size_ratio` the
training-to-selector model size ratio above which a model-based selector becomes compute-optimal (the paper's
"5x for perplexity, 10x for gradients").

Example:
    >>> from hf_select.cost.breakeven import amortize, break_even
    >>> from hf_select.cost.planner import MethodProfile
    >>> F = 1e18
    >>> random, ppl = MethodProfile("random", 0.0, lam=5), MethodProfile("perplexity", 0.9 * F, lam=40)
    >>> round(amortize(ppl, 3).selection_flops / F, 6)                  # each of 3 tasks pays a third
    0.3
    >>> break_even(ppl, random, budget_flops=0.35 * F, train_flops_full=F)   # 0.9 F of selection > a 0.35 F budget
    3
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .planner import MethodProfile, _check_positive


def amortize(profile: MethodProfile, n_tasks: int, *, shared_fraction: float = 1.0) -> MethodProfile:
    """``profile`` with its selection cost shared by ``n_tasks`` target tasks.

    Per task: ``s * (shared_fraction / n_tasks + 1 - shared_fraction)``; ``shared_fraction`` is the part of the
    selection that does not depend on the target (e.g. pool perplexities, or LESS's warm-up and pool gradients).
    """
    if not (isinstance(n_tasks, (int, np.integer)) and n_tasks >= 1):
        raise ValueError(f"n_tasks must be a positive integer, got {n_tasks!r}.")
    if not 0 <= shared_fraction <= 1:
        raise ValueError(f"shared_fraction must be in [0, 1], got {shared_fraction!r}.")
    per_task = profile.selection_flops * (shared_fraction / n_tasks + 1.0 - shared_fraction)
    return replace(profile, selection_flops=per_task)


def _max_selection_flops(profile: MethodProfile, baseline: MethodProfile, budget: float, full: float) -> float:
    """Largest selection cost at which ``profile`` still strictly beats ``baseline`` at ``budget`` (may be < 0)."""
    target = baseline.predict(budget, full)
    amp, gap = profile.ceiling - profile.p0, profile.ceiling - target
    if target < profile.p0:
        return budget  # even no training beats the baseline
    if gap <= 0 or profile.lam == 0:
        return -math.inf
    needed = full * math.log(amp / gap) / profile.lam  # training FLOPs that reach the baseline's performance
    return budget - needed if needed <= full else -math.inf


def break_even(profile: MethodProfile, baseline: MethodProfile, *, budget_flops: float, train_flops_full: float,
               shared_fraction: float = 1.0) -> int | None:
    """Fewest target tasks that must share ``profile``'s selection for it to beat ``baseline`` at ``budget_flops``.

    The paper's amortisation analysis: selecting once for ``n`` tasks charges each ``s / n``. With
    ``s_max = B - F / lam * ln((c - p0) / (c - P_base(B)))`` the largest per-task selection cost that still wins,
    ``n = ceil(shared * s / (s_max - (1 - shared) * s))`` (strictly beating: the next integer on equality).
    Returns 1 if it wins already, ``None`` if no number of tasks suffices.
    """
    budget = _check_positive(budget_flops, "budget_flops")
    full = _check_positive(train_flops_full, "train_flops_full")
    if not 0 <= shared_fraction <= 1:
        raise ValueError(f"shared_fraction must be in [0, 1], got {shared_fraction!r}.")
    s_max = _max_selection_flops(profile, baseline, budget, full)
    s = profile.selection_flops
    room = s_max - (1.0 - shared_fraction) * s
    if room <= 0:
        return None
    if s <= s_max:
        return 1
    n = max(1, math.ceil(shared_fraction * s / room))
    while amortize(profile, n, shared_fraction=shared_fraction).predict(budget, full) <= baseline.predict(budget, full):
        n += 1  # equality or rounding at the boundary
    return n


def min_size_ratio(lam: float, baseline_lam: float, *, budget_fraction: float, selector_flops_per_token: float = 2.0,
                   train_flops_per_token: float = 6.0, p0: float = 0.0, baseline_p0: float = 0.0,
                   ceiling: float = 100.0, baseline_selection_fraction: float = 0.0) -> float:
    """Training-to-selector model size ratio above which a model-based selector is compute-optimal.

    Assumptions: the selector (``N_s`` parameters) spends ``selector_flops_per_token * N_s`` FLOPs per pool token
    (2 for perplexity: one forward; 4 per pass for a LoRA forward+backward without weight gradients; see
    :func:`~hf_select.cost.flops.less_pipeline_flops` for the whole LESS pipeline); training the ``N_t``-parameter model
    on the whole pool costs ``F = train_flops_per_token * N_t * D``. So with ``r = N_t / N_s`` the selection costs
    ``sigma = selector_flops_per_token / (train_flops_per_token * r)`` in units of ``F``. At a budget ``beta * F``
    the selector beats the baseline (gain rate ``baseline_lam``, selection ``baseline_selection_fraction * F``) iff
    ``sigma < sigma_max``, the largest selection cost that still wins (see :func:`break_even`); hence
    ``r_min = selector_flops_per_token / (train_flops_per_token * sigma_max)``. For the theory figure (``p0 = 0``,
    free baseline): ``sigma_max = beta * (1 - baseline_lam / lam)`` and
    ``r_min = selector_flops_per_token / (train_flops_per_token * beta * (1 - baseline_lam / lam))``.
    Returns ``inf`` when no ratio suffices at that budget.

    Example:
        >>> round(min_size_ratio(40, 5, budget_fraction=0.1), 4)      # perplexity vs random at 10% of F
        3.8095
    """
    if not 0 < budget_fraction:
        raise ValueError(f"budget_fraction (budget / full-pool training FLOPs) must be > 0, got {budget_fraction!r}.")
    for name, value in (("selector_flops_per_token", selector_flops_per_token),
                        ("train_flops_per_token", train_flops_per_token)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}.")
    full = 1.0
    selector = MethodProfile("selector", 0.0, lam=lam, p0=p0, ceiling=ceiling)
    baseline = MethodProfile("baseline", baseline_selection_fraction, lam=baseline_lam, p0=baseline_p0,
                             ceiling=ceiling)
    sigma_max = _max_selection_flops(selector, baseline, budget_fraction, full)
    if sigma_max <= 0:
        return math.inf
    return selector_flops_per_token / (train_flops_per_token * sigma_max)
