import numpy as np
import pytest

from hf_select.cost.planner import MethodProfile
from hf_select.cost.utility import UtilityModel
from hf_select.import_utils import is_matplotlib_available

pytestmark = pytest.mark.skipif(not is_matplotlib_available(), reason="needs matplotlib")

F = 1e18


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_frontier_plot_with_fits(tmp_path):
    from hf_select.cost.plots import plot_frontier

    fits = {"bm25": UtilityModel(10, 10, 60, F), "ppl": UtilityModel(5, 40, 60, F)}
    pts = [{"method": m, "flops": c * F, "performance": float(fits[m].predict(c * F))}
           for m in fits for c in (0.01, 0.05, 0.2)]
    path = plot_frontier(pts, tmp_path / "sub" / "front.png", fits=fits)
    assert path == str(tmp_path / "sub" / "front.png") and is_png(path)
    with pytest.raises(ValueError, match="at least one point"):
        plot_frontier([], tmp_path / "x.png")


def test_utility_and_plan_plots(tmp_path):
    from hf_select.cost.plots import plot_plan, plot_utility

    path = plot_utility({"random": UtilityModel(0, 5, 100, F)}, tmp_path / "u.png")
    assert is_png(path)
    profiles = [MethodProfile("random", 0, lam=5), MethodProfile("less", 0.3 * F, lam=80)]
    assert is_png(plot_plan(profiles, tmp_path / "p.png", train_flops_full=F, budget_flops=0.5 * F))
    assert is_png(plot_plan(profiles, tmp_path / "g.png", train_flops_full=F, budgets=np.geomspace(1e16, 1e19, 20)))
    with pytest.raises(ValueError):
        plot_plan([], tmp_path / "e.png", train_flops_full=F)
    with pytest.raises(ValueError, match="flops_range"):
        plot_utility({"random": UtilityModel(0, 5, 100, F)}, tmp_path / "u.png", flops_range=(1.0, 0.5))


def test_fitted_curves_are_drawn_only_over_their_runs():
    from hf_select.cost.plots import _fit_grid
    from hf_select.cost.utility import fit_utility

    sel = 0.85 * F  # a costly selector: its curve must not start at 1e-3 F, far below its selection cost
    flops = sel + np.array([0.025, 0.1, 0.5]) * F
    model = fit_utility(flops, [2.3, 2.8, 3.4], ceiling=3.6, flops_full=F, selection_flops=sel, p0_bounds=(2.3, 2.3))
    grid = _fit_grid(model, np.array([1e-3 * F, 2 * F]))
    assert grid.min() == pytest.approx(flops.min()) and grid.max() == pytest.approx(flops.max())
    hand_made = UtilityModel(0, 5, 100, F)  # no fitted range: the caller's span
    assert _fit_grid(hand_made, np.array([1e15, 1e17])).max() == pytest.approx(1e17)


def test_plots_replace_their_own_png_but_never_a_foreign_file(tmp_path):
    from hf_select.atomic import OutputExistsError
    from hf_select.cost.plots import plot_utility

    fits = {"random": UtilityModel(0, 5, 100, F)}
    ours = plot_utility(fits, tmp_path / "u.png")
    assert plot_utility(fits, ours) == ours and is_png(ours)  # our own plot: replaced
    foreign = tmp_path / "mine.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n my own picture")
    with pytest.raises(OutputExistsError, match="not written by hf_select"):
        plot_utility(fits, foreign)
    assert foreign.read_bytes().endswith(b"my own picture")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left
