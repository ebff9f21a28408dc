import math

import numpy as np
import pytest

from hf_select.cost.utility import UtilityModel, fit_utility

FULL = 3e17


def curve(c, p0, lam, ceiling):
    return (ceiling - p0) * (1 - np.exp(-lam * np.asarray(c) / FULL)) + p0


@pytest.mark.parametrize("p0,lam,ceiling", [(20.0, 8.0, 80.0), (10.0, 40.0, 60.0), (30.0, 80.0, 55.0),
                                            (5.0, 0.5, 100.0), (45.0, 5.0, 50.0)])
def test_recovers_noise_free_parameters(p0, lam, ceiling):
    c = np.geomspace(0.2 / lam, 3.0 / lam, 8) * FULL  # points along the rising part of each curve
    m = fit_utility(c, curve(c, p0, lam, ceiling), ceiling=ceiling, flops_full=FULL)
    assert abs(m.p0 - p0) / p0 < 1e-3
    assert abs(m.lam - lam) / lam < 1e-3
    assert m.residual < 1e-6 and m.n_points == 8
    assert m.ceiling == ceiling and m.flops_full == FULL


def test_recovers_p0_zero():
    c = np.linspace(0.01, 0.5, 10) * FULL
    m = fit_utility(c, curve(c, 0.0, 5.0, 100.0), ceiling=100.0, flops_full=FULL)
    assert abs(m.p0) < 1e-3 and abs(m.lam - 5.0) / 5.0 < 1e-3


def test_noisy_points_within_tolerance():
    rng = np.random.default_rng(0)
    p0, lam, ceiling = 25.0, 10.0, 70.0
    c = np.tile(np.geomspace(0.01, 0.5, 12), 4) * FULL
    perf = curve(c, p0, lam, ceiling) + rng.normal(0.0, 0.5, c.shape)
    m = fit_utility(c, perf, ceiling=ceiling, flops_full=FULL)
    assert abs(m.lam - lam) / lam < 0.1
    assert abs(m.p0 - p0) < 1.5
    assert 0.3 < m.residual < 0.7  # close to the noise level


def test_bounds_hold_on_data_outside_the_model():
    c = np.array([0.1, 0.2, 0.3, 0.4]) * FULL
    m = fit_utility(c, [90.0, 60.0, 50.0, 40.0], ceiling=100.0, flops_full=FULL)  # decreasing: lam -> 0
    assert 0.0 <= m.p0 <= 100.0 and m.lam >= 0.0


def test_predict_and_inverse():
    m = UtilityModel(p0=10.0, lam=4.0, ceiling=60.0, flops_full=FULL)
    assert m.predict(0.0) == 10.0
    assert isinstance(m.predict(FULL), float)
    grid = m.predict(np.array([0.0, 0.5, 1.0]) * FULL)
    assert grid.shape == (3,) and np.all(np.diff(grid) > 0)
    assert m.predict(m.flops_for(40.0)) == pytest.approx(40.0)
    assert m.flops_for(5.0) == 0.0 and math.isinf(m.flops_for(60.0))


@pytest.mark.parametrize("kwargs,match", [
    ({"flops": [1, 2], "performance": [1, 2]}, "at least 3"),
    ({"flops": [1, 2, 3], "performance": [1, 2]}, "same length"),
    ({"flops": [1, 2, float("nan")], "performance": [1, 2, 3]}, "non-finite"),
    ({"flops": [1, 2, 3], "performance": [1, float("inf"), 3]}, "non-finite"),
    ({"flops": [1, 2, 3], "performance": [1, 2, 3], "ceiling": 0}, "ceiling"),
    ({"flops": [1, 2, 3], "performance": [1, 2, 3], "flops_full": -1}, "flops_full"),
    ({"flops": [-1, 2, 3], "performance": [1, 2, 3]}, "non-negative"),
    ({"flops": ["a", 2, 3], "performance": [1, 2, 3]}, "numbers"),
])
def test_bad_inputs(kwargs, match):
    args = {"ceiling": 100.0, "flops_full": FULL, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_utility(args.pop("flops"), args.pop("performance"), **args)
