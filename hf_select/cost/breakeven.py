"""Break-even analyses on top of the planner: selection shared by several target tasks, and the model-size ratio.

:func:`amortize` spreads a method's selection cost over ``n`` target tasks, :func:`break_even` finds the fewest tasks
for which a selector beats a baseline at a budget (the paper's amortisation analysis), :func:`min_size_ratio` the
training-to-selector model size ratio above which a model-based selector becomes compute-optimal (the paper's
"5x for perplexity, 10x for gradients"), and :func:`size_ratio_table` those ratios over budgets, LESS checkpoints and
the training-FLOP convention, with the assumptions they rest on (one number is a choice of budget, not a law).

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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .convention import DEFAULT_TRAIN_CONVENTION, describe_train_convention
from .flops import (
    LESS_PROJ_DIM,
    LESS_PROJECTION_KIND,
    LESS_WARMUP_FRACTION,
    less_pipeline_flops,
    perplexity_selection_flops,
    training_flops,
)
from .planner import THEORY_GAIN_RATES, MethodProfile, _check_positive

MODEL_BASED = ("perplexity", "less")
SIZE_RATIO_BUDGETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
SIZE_RATIO_CHECKPOINTS = (1, 4)
SIZE_RATIO_TOKENS_PER_EXAMPLE = 512   # LESS's max_length; only the dense projection term depends on it


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


def selector_flops_per_token(method: str, *, train_convention: str = DEFAULT_TRAIN_CONVENTION,
                             lora_fraction: float = 0.02, tokens_per_example: float = SIZE_RATIO_TOKENS_PER_EXAMPLE,
                             less_checkpoints: int = 4, less_warmup_fraction: float = LESS_WARMUP_FRACTION,
                             less_projection: str = LESS_PROJECTION_KIND, less_proj_dim: int = LESS_PROJ_DIM) -> float:
    """Selection FLOPs per pool token in units of the selector's ``N``, from the one pricing of each pipeline.

    Perplexity: 2 (one forward). LESS: :func:`~hf_select.cost.flops.less_pipeline_flops` for one pool example of
    ``tokens_per_example`` tokens, LoRA ``lora_fraction * N``, targets left out (a few hundred examples against a pool).

    Example:
        >>> selector_flops_per_token("perplexity"), round(selector_flops_per_token("less", less_checkpoints=1), 3)
        (2.0, 6.94)
    """
    length = _check_positive(tokens_per_example, "tokens_per_example")
    if method == "perplexity":
        return sum(s.flops for s in perplexity_selection_flops(1.0, length)) / length
    if method == "less":
        stages = less_pipeline_flops(1.0, length, 0, lora_params=lora_fraction, n_pool=1, n_target=0,
                                     warmup_fraction=less_warmup_fraction, warmup_epochs=less_checkpoints,
                                     n_checkpoints=less_checkpoints, projection_kind=less_projection,
                                     proj_dim=less_proj_dim, train_convention=train_convention)
        return sum(s.flops for s in stages) / length
    raise ValueError(f"method={method!r}: the size ratio is defined for the model-based selectors {MODEL_BASED}.")


@dataclass
class SizeRatioTable:
    """Break-even training-to-selector size ratios: ``rows[i]`` = budget fraction then one ratio per column."""

    header: list[str]
    rows: list[list[Any]]
    assumptions: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        from .formatting import format_table

        def cell(x: Any) -> str:
            return x if isinstance(x, str) else ("never" if math.isinf(x) else f"{x:.3g}x")

        body = format_table(self.header, [[f"{r[0]:g}"] + [cell(x) for x in r[1:]] for r in self.rows])
        return "\n".join([body, "", "assumptions:"] + [f"- {a}" for a in self.assumptions])


def _baseline_at(profiles: Sequence[MethodProfile], beta: float) -> MethodProfile:
    free = [p for p in profiles if p.name not in MODEL_BASED and p.selection_flops == 0]
    if not free:
        raise ValueError("size ratios need a selection-free baseline among the profiles (random, bm25 or dsir).")
    return max(free, key=lambda p: (p.predict(beta, 1.0), -p.log_deficit(beta, 1.0)))


def size_ratio_table(profiles: Sequence[MethodProfile] | None = None, *,
                     budget_fractions: Sequence[float] = SIZE_RATIO_BUDGETS,
                     less_checkpoints: Sequence[int] = SIZE_RATIO_CHECKPOINTS,
                     train_conventions: Sequence[str] = ("full", "lora"), lora_fraction: float = 0.02,
                     tokens_per_example: float = SIZE_RATIO_TOKENS_PER_EXAMPLE,
                     less_warmup_fraction: float = LESS_WARMUP_FRACTION, less_projection: str = LESS_PROJECTION_KIND,
                     less_proj_dim: int = LESS_PROJ_DIM, source: str = "the paper's theory figure") -> SizeRatioTable:
    """The smallest training-to-selector size ratio at which perplexity and LESS are compute-optimal, per budget.

    The paper's derivation: utility curves (gain rate ``lam`` and ``p0`` per method, a shared ceiling; ``profiles``,
    default the theory figure's rates with ``p0 = 0``, or curves fitted to measured runs) and selection costs that scale
    with the selector while training scales with the trained model. At a budget of ``beta`` times the full-pool
    training FLOPs, a model-based method wins against the best selection-free profile (random, BM25, DSIR) iff its
    selection costs less than :func:`break_even`'s ``s_max``; :func:`min_size_ratio` turns that into a size ratio with
    the per-token costs of :func:`selector_flops_per_token` and the training convention. The profiles' own
    ``selection_flops`` are not used for perplexity and LESS: the ratio is what sets them.

    Example:
        >>> table = size_ratio_table(budget_fractions=[0.1], less_checkpoints=[4], train_conventions=["full"])
        >>> table.header
        ['budget / full training', 'perplexity (full)', 'less, 4 ckpt (full)']
        >>> [round(x, 2) for x in table.rows[0][1:]]
        [4.44, 52.88]
    """
    profiles = list(profiles) if profiles is not None else [MethodProfile(m, 0.0, lam=THEORY_GAIN_RATES[m])
                                                            for m in ("random", "bm25", "perplexity", "less")]
    by_name = {p.name: p for p in profiles}
    columns: list[tuple[str, str, int | None]] = []
    for conv in train_conventions:
        if "perplexity" in by_name:
            columns.append((f"perplexity ({conv})", conv, None))
    for ckpt in less_checkpoints if "less" in by_name else ():
        for conv in train_conventions:
            columns.append((f"less, {ckpt} ckpt ({conv})", conv, ckpt))
    if not columns:
        raise ValueError("size ratios need a 'perplexity' or 'less' profile.")
    rows = []
    for beta in budget_fractions:
        beta = _check_positive(beta, "budget_fractions")
        base = _baseline_at(profiles, beta)
        row: list[Any] = [beta]
        for _, conv, ckpt in columns:
            method = "perplexity" if ckpt is None else "less"
            m = by_name[method]
            cost = selector_flops_per_token(method, train_convention=conv, lora_fraction=lora_fraction,
                                            tokens_per_example=tokens_per_example, less_checkpoints=ckpt or 1,
                                            less_warmup_fraction=less_warmup_fraction,
                                            less_projection=less_projection, less_proj_dim=less_proj_dim)
            train = training_flops(1.0, 1.0, train_convention=conv, lora_params=lora_fraction)
            row.append(min_size_ratio(m.lam, base.lam, budget_fraction=beta, selector_flops_per_token=cost,
                                      train_flops_per_token=train, p0=m.p0, baseline_p0=base.p0, ceiling=m.ceiling))
        rows.append(row)
    rates = ", ".join(f"{p.name} {p.lam:.3g}" + (f" (p0 {p.p0:.3g})" if p.p0 else "") for p in profiles)
    assumptions = [
        f"utility curves from {source}: gain rates {rates}; ceiling {profiles[0].ceiling:g}",
        "baseline: the best selection-free method at each budget (" + ", ".join(
            sorted({_baseline_at(profiles, float(r[0])).name for r in rows})) + "); a ratio is where the method "
        "beats it, counting its selection cost",
        "training FLOPs per token: " + "; ".join(describe_train_convention(c) for c in train_conventions)
        + f"; L = {lora_fraction:.0%} of N for both the selector's and the trained model's LoRA",
    ]
    if "perplexity" in by_name:
        assumptions.append("perplexity: one forward of the selector over the pool (2N per token)")
    if "less" in by_name:
        assumptions.append(f"less: warm-up on {less_warmup_fraction:.0%} of the pool for as many epochs as "
                           f"checkpoints, per checkpoint a forward+backward over the pool and a {less_projection} "
                           f"projection to {less_proj_dim} dims of {tokens_per_example:g}-token examples; target "
                           "gradients left out")
    assumptions.append("one training epoch over the selected data" + (
        "; with p0 = 0 the ratio scales as 1 / budget fraction" if all(p.p0 == 0 for p in profiles) else ""))
    return SizeRatioTable(["budget / full training"] + [c[0] for c in columns], rows, assumptions)
