import math

import numpy as np
import pytest

from hf_select.cost.breakeven import amortize, break_even, min_size_ratio
from hf_select.cost.planner import (
    NO_SELECTION,
    THEORY_GAIN_RATES,
    MethodProfile,
    crossover,
    pareto_frontier,
    plan,
    profiles_from_runs,
)
from hf_select.cost.utility import UtilityModel

F = 1e18


def perf(p: MethodProfile, budget: float, full: float = F) -> float:
    """Independent re-statement of the planner's model, for brute force."""
    if budget < p.selection_flops:
        return -math.inf
    frac = min(1.0, (budget - p.selection_flops) / full)
    return (p.ceiling - p.p0) * (1 - math.exp(-p.lam * frac)) + p.p0


def score(p: MethodProfile, budget: float, full: float = F) -> float:
    """Distance below the ceiling in logs, exact where the performance rounds to the ceiling (lower is better)."""
    if budget < p.selection_flops:
        return math.inf
    return math.log(p.ceiling - p.p0) - p.lam * min(1.0, (budget - p.selection_flops) / full)


def beats(b: MethodProfile, a: MethodProfile, budget: float) -> bool:
    if a.ceiling == b.ceiling:
        return score(b, budget) < score(a, budget)
    return perf(b, budget) > perf(a, budget)


def theory_profiles(ratio: float = 10.0) -> list[MethodProfile]:
    # Selection costs in units of F for a selector `ratio` times smaller than the trained model.
    return [MethodProfile("random", 0.0, lam=5), MethodProfile("bm25", 0.0, lam=10),
            MethodProfile("perplexity", 2 / (6 * ratio) * F, lam=40), MethodProfile("less", 4 / (6 * ratio) * F, lam=80)]


def random_profiles(rng, n=4, equal_ceiling=False):
    out = []
    for i in range(n):
        ceiling = 100.0 if equal_ceiling else float(rng.uniform(50, 100))
        out.append(MethodProfile(f"m{i}", float(rng.choice([0.0, rng.uniform(0, 1.5)])) * F, lam=float(rng.uniform(0.5, 60)),
                                 p0=float(rng.uniform(0, 0.5 * ceiling)), ceiling=ceiling))
    return out


def test_plan_matches_brute_force_on_budget_grid():
    rng = np.random.default_rng(1)
    for trial in range(20):
        profiles = random_profiles(rng, equal_ceiling=trial % 2 == 0)
        cheapest = min(p.selection_flops for p in profiles)
        for budget in np.geomspace(max(cheapest, 1e-4 * F), 0.999 * F, 40):
            result = plan(float(budget), profiles, train_flops_full=F)
            best = max(perf(p, budget) for p in profiles)
            assert result.predicted == pytest.approx(best, rel=1e-12, abs=1e-12)
            chosen = next(p for p in profiles if p.name == result.method)
            assert result.fraction == pytest.approx(min(1.0, (budget - chosen.selection_flops) / F))
            assert len(result.table) == len(profiles)


def test_plan_excludes_and_explains():
    profiles = [MethodProfile("cheap", 1e16, lam=5), MethodProfile("costly", 5e17, lam=80)]
    result = plan(1e17, profiles, train_flops_full=F)
    assert result.method == "cheap"
    costly = next(r for r in result.table if r.method == "costly")
    assert not costly.feasible and "5e+17" in costly.reason and math.isinf(costly.predicted)
    assert result.train_flops == pytest.approx(9e16)
    with pytest.raises(ValueError, match=r"smallest workable budget is 1e\+16"):
        plan(5e15, profiles, train_flops_full=F)
    for bad in (-1.0, 0.0, float("nan")):
        with pytest.raises(ValueError, match="budget_flops"):
            plan(bad, profiles, train_flops_full=F)
    with pytest.raises(ValueError, match="unique"):
        plan(1e17, profiles + [MethodProfile("cheap", 0, lam=1)], train_flops_full=F)
    with pytest.raises(ValueError, match="empty"):
        plan(1e17, [], train_flops_full=F)
    with pytest.raises(ValueError, match="train_flops_full"):
        plan(1e17, profiles, train_flops_full=0)
    with pytest.raises(ValueError, match="p0"):
        MethodProfile("x", 0, lam=1, p0=120)
    with pytest.raises(ValueError, match="lam"):
        MethodProfile("x", 0, lam=-1)


def brute_crossover(a, b, top, n=200_001):
    """Last budget on a fine grid where b does not beat a (None if b loses at the top)."""
    grid = np.linspace(0.0, top, n)
    wins = np.array([beats(b, a, x) for x in grid])
    if not wins[-1]:
        return None, grid[1] - grid[0]
    losing = np.flatnonzero(~wins)
    return (0.0 if losing.size == 0 else grid[losing[-1]]), grid[1] - grid[0]


@pytest.mark.parametrize("equal_ceiling", [True, False])
def test_crossover_matches_brute_force(equal_ceiling):
    rng = np.random.default_rng(7 if equal_ceiling else 8)
    checked = 0
    for _ in range(25):
        a, b = random_profiles(rng, n=2, equal_ceiling=equal_ceiling)
        top = max(a.selection_flops, b.selection_flops) + 2 * F
        got = crossover(a, b, train_flops_full=F)
        want, step = brute_crossover(a, b, top)
        if want is None:
            assert got is None
            continue
        assert got is not None and abs(got - want) <= 2 * step, (a, b, got, want)
        checked += 1
    assert checked >= 5


def test_theory_crossovers_match_closed_form():
    profiles = {p.name: p for p in theory_profiles(ratio=10.0)}
    rnd = profiles["random"]
    for name in ("bm25", "perplexity", "less"):
        b = profiles[name]
        closed = b.lam * b.selection_flops / (b.lam - rnd.lam)  # B* = lam_b s_b / (lam_b - lam_a)
        assert crossover(rnd, b, train_flops_full=F) == pytest.approx(closed, rel=1e-12, abs=1e-6)
    # Between two costly methods: B* = (lam_b s_b - lam_a s_a) / (lam_b - lam_a).
    a, b = profiles["perplexity"], profiles["less"]
    closed = (b.lam * b.selection_flops - a.lam * a.selection_flops) / (b.lam - a.lam)
    assert crossover(a, b, train_flops_full=F) == pytest.approx(closed, rel=1e-12)
    # A lower gain rate never wins at large budgets once both reach the whole pool... unless its ceiling is higher.
    assert crossover(b, a, train_flops_full=F) is None
    assert crossover(profiles["bm25"], rnd, train_flops_full=F) is None


def test_crossover_with_capped_fraction_closed_form():
    # a: free selection, saturates at B = F with P_a = 60 (1 - e^-1) ; b: costly but higher gain rate.
    a = MethodProfile("a", 0.0, lam=1.0, ceiling=60.0)
    b = MethodProfile("b", 1.2 * F, lam=3.0, ceiling=60.0)
    k = a.predict(5 * F, F)
    expected = b.selection_flops + F / b.lam * math.log(60.0 / (60.0 - k))
    assert crossover(a, b, train_flops_full=F) == pytest.approx(expected, rel=1e-12)


def test_pareto_frontier_hand_cases():
    pts = [
        {"flops": 3.0, "performance": 50.0, "id": "a"},
        {"flops": 1.0, "performance": 40.0, "id": "b"},
        {"flops": 1.0, "performance": 45.0, "id": "c"},   # same flops, better: dominates b
        {"flops": 2.0, "performance": 45.0, "id": "d"},   # same performance, more flops: dominated by c
        {"flops": 3.0, "performance": 50.0, "id": "e"},   # duplicate of a: kept once (the first)
        {"flops": 5.0, "performance": 49.0, "id": "f"},   # dominated by a
        {"flops": 6.0, "performance": 70.0, "id": "g"},
    ]
    assert [p["id"] for p in pareto_frontier(pts)] == ["c", "a", "g"]
    assert pareto_frontier([]) == []
    assert [p["id"] for p in pareto_frontier([pts[0]])] == ["a"]
    flat = [{"flops": f, "performance": 1.0} for f in (3, 1, 2)]
    assert pareto_frontier(flat) == [{"flops": 1, "performance": 1.0}]
    with pytest.raises(ValueError, match="flops"):
        pareto_frontier([{"performance": 1.0}])
    with pytest.raises(ValueError, match="non-finite"):
        pareto_frontier([{"flops": float("nan"), "performance": 1.0}])


def test_pareto_frontier_brute_force():
    rng = np.random.default_rng(3)
    pts = [{"flops": float(f), "performance": float(p)} for f, p in rng.integers(0, 8, size=(60, 2))]
    front = pareto_frontier(pts)
    keys = [(p["flops"], p["performance"]) for p in front]
    assert keys == sorted(set(keys))
    for p in pts:
        dominated = any(q["flops"] <= p["flops"] and q["performance"] >= p["performance"]
                        and (q["flops"], q["performance"]) != (p["flops"], p["performance"]) for q in pts)
        assert ((p["flops"], p["performance"]) in keys) == (not dominated)


def test_break_even_matches_brute_force():
    base = MethodProfile("bm25", 0.0, lam=10)
    costly = MethodProfile("less", 0.5 * F, lam=80)
    budget = 0.3 * F
    for shared in (1.0, 0.9):
        n = break_even(costly, base, budget_flops=budget, train_flops_full=F, shared_fraction=shared)
        brute = next(k for k in range(1, 10_000)
                     if perf(amortize(costly, k, shared_fraction=shared), budget) > perf(base, budget))
        assert n == brute and n > 1
    assert break_even(MethodProfile("p", 0.0, lam=40), base, budget_flops=budget, train_flops_full=F) == 1
    # The target-specific part alone is too expensive: no number of tasks helps.
    assert break_even(costly, base, budget_flops=budget, train_flops_full=F, shared_fraction=0.2) is None
    with pytest.raises(ValueError, match="n_tasks"):
        amortize(costly, 0)


def test_min_size_ratio_closed_form_and_brute_force():
    beta = 0.1
    r = min_size_ratio(40, 5, budget_fraction=beta)
    assert r == pytest.approx(2 / (6 * beta * (1 - 5 / 40)))
    # Brute force: smallest ratio on a grid where perplexity wins the plan against random at beta * F.
    ratios = np.geomspace(0.5, 50, 4001)
    wins = [plan(beta * F, [MethodProfile("random", 0, lam=5), MethodProfile("ppl", 2 / (6 * x) * F, lam=40)],
                 train_flops_full=F).method == "ppl" for x in ratios]
    first = ratios[int(np.argmax(wins))]
    assert first == pytest.approx(r, rel=2e-3)
    # The paper's theory numbers: with beta = 0.0762, perplexity (2 N_sel per token) needs ~5x over random, and one
    # LoRA forward+backward per pool token (4 N_sel) ~9.3x over random and ~10x over BM25 for the gradient selector.
    assert min_size_ratio(40, 5, budget_fraction=0.0762) == pytest.approx(5.0, rel=1e-3)
    assert min_size_ratio(80, 5, budget_fraction=0.0762, selector_flops_per_token=4) == pytest.approx(9.33, rel=1e-3)
    assert min_size_ratio(80, 10, budget_fraction=0.0762, selector_flops_per_token=4) == pytest.approx(10.0, rel=1e-3)
    assert math.isinf(min_size_ratio(5, 10, budget_fraction=0.1))
    with pytest.raises(ValueError, match="budget_fraction"):
        min_size_ratio(40, 5, budget_fraction=0)


def test_from_utility_is_the_total_flops_curve():
    model = UtilityModel(p0=12.0, lam=7.0, ceiling=64.0, flops_full=F)
    prof = MethodProfile.from_utility("ppl", model, selection_flops=0.05 * F)
    for t in (0.0, 0.1 * F, 0.5 * F):
        assert prof.predict(0.05 * F + t, F) == pytest.approx(model.predict(0.05 * F + t))


def test_profiles_from_runs():
    model = UtilityModel(p0=10.0, lam=20.0, ceiling=50.0, flops_full=F)
    runs = [{"method": "bm25", "flops": c * F, "performance": model.predict(c * F)} for c in (0.01, 0.05, 0.1, 0.3)]
    runs += [{"method": "ppl", "flops": c * F, "performance": model.predict(c * F), "selection_flops": 0.02 * F}
             for c in (0.03, 0.05, 0.2)]
    fitted = profiles_from_runs(runs, ceiling=50.0, flops_full=F)
    assert fitted["bm25"][1].lam == pytest.approx(20.0, rel=1e-3)
    assert fitted["ppl"][0].selection_flops == 0.02 * F
    with pytest.raises(ValueError, match="'solo'"):
        profiles_from_runs(runs + [{"method": "solo", "flops": F, "performance": 1.0}], ceiling=50.0, flops_full=F)
    assert set(THEORY_GAIN_RATES) >= {"random", "bm25", "perplexity", "less"}


def test_a_budget_covering_the_whole_pool_means_no_selection():
    # Issue 11 bug 4: at fraction 1 every method trains on the same data, so selection is pure cost.
    profiles = theory_profiles(ratio=10.0)
    for budget in (F, 1.0001 * F, 25 * F):
        result = plan(budget, profiles, train_flops_full=F)
        assert result.method == NO_SELECTION and result.selection_flops == 0.0 and result.fraction == 1.0
        assert result.predicted == 100.0 and result.train_flops == F
        assert "train on everything, no selection" in result.verdict
        rows = {r.method: r for r in result.table}
        assert set(rows) == {p.name for p in profiles} | {NO_SELECTION}
        for p in profiles:
            r = rows[p.name]
            assert r.predicted <= result.predicted  # (equal only where exp(-lam f) underflows)
            assert ("the same data as no selection" in r.note) == (r.fraction >= 1.0)
        assert "pays" in rows["less"].note or "leaves" in rows["less"].note
    # Just below the full-pool cost a method is still chosen, and its row is what it was.
    below = plan(0.99 * F, profiles, train_flops_full=F)
    assert below.method != NO_SELECTION and len(below.table) == len(profiles)
    # The full-data performance can be given (e.g. a measured 100% run).
    assert plan(2 * F, profiles, train_flops_full=F, full_data_performance=71.5).predicted == 71.5


def test_base_performance_bounds_p0_so_costly_selectors_do_not_collapse():
    # A costly selector: flat at the base score until its selection (0.85 F) is paid, then rising.
    base, ceiling, sel = 2.28, 3.6, 0.85 * F
    train = np.array([0.025, 0.05, 0.1, 0.25, 0.5]) * F
    perf = ceiling - (ceiling - base) * np.exp(-3.0 * train / F)
    runs = [{"method": "ppl", "flops": sel + t, "performance": float(p), "selection_flops": sel}
            for t, p in zip(train, perf)]
    free = profiles_from_runs(runs, ceiling=ceiling, flops_full=F)["ppl"][1]
    assert free.p0 < 1e-6 * base  # the paper's fit over total FLOPs: p0 collapses (the issue's ~1e-25)
    prof, model = profiles_from_runs(runs, ceiling=ceiling, flops_full=F, base_performance=base)["ppl"]
    assert model.p0 == pytest.approx(base) and model.lam == pytest.approx(3.0, rel=1e-6)
    assert prof.selection_flops == sel and prof.p0 == pytest.approx(base)
    assert model.flops_range == (pytest.approx(sel + train[0]), pytest.approx(sel + train[-1]))
    assert model.predict(sel + 0.1 * F) == pytest.approx(perf[2])


def test_size_ratio_table_is_the_papers_derivation_over_budgets_checkpoints_and_conventions():
    from hf_select.cost.breakeven import selector_flops_per_token, size_ratio_table

    table = size_ratio_table(budget_fractions=[0.05, 0.1], less_checkpoints=[1, 4])
    assert table.header == ["budget / full training", "perplexity (full)", "perplexity (lora)",
                            "less, 1 ckpt (full)", "less, 1 ckpt (lora)", "less, 4 ckpt (full)", "less, 4 ckpt (lora)"]
    ppl_full = table.rows[1][1]
    # Theory figure, p0 = 0, free baseline bm25 (lam 10): r = (2 / 6) / (beta * (1 - 10 / 40)).
    assert ppl_full == pytest.approx((2 / 6) / (0.1 * (1 - 10 / 40)))
    assert table.rows[0][1] == pytest.approx(2 * ppl_full)  # 1 / beta
    less4 = selector_flops_per_token("less", less_checkpoints=4)
    assert less4 == pytest.approx(0.05 * 4 * 6 + 4 * 6 + 4 * 2 * 0.02 * 8192 / 512)
    assert table.rows[1][5] == pytest.approx(less4 / (6 * 0.1 * (1 - 10 / 80)))
    assert table.rows[1][3] < table.rows[1][5]  # fewer checkpoints, smaller break-even ratio
    assert table.rows[1][2] > ppl_full  # under "lora" training is cheaper per token, so the selector weighs more
    # It is min_size_ratio cell by cell; the old single number (5.0x) needed a random baseline at beta = 0.0762.
    assert min_size_ratio(40, 5, budget_fraction=0.0762) == pytest.approx(5.0, abs=0.005)
    text = table.to_text()
    assert "assumptions:" in text and "bm25" in text and "rademacher projection to 8192 dims" in text
    fitted = [MethodProfile("random", 0.0, lam=3.0, p0=2.0, ceiling=4.0), MethodProfile("ppl-less", 0.0, lam=5.0)]
    with pytest.raises(ValueError, match="'perplexity' or 'less'"):
        size_ratio_table(fitted)
