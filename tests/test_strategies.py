import random

import numpy as np
import pytest

from hf_select.strategies import STRATEGIES, apply_strategy

SCORES = np.array([0.1, 0.9, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4])


def test_top_orders_by_score_and_breaks_ties_by_index():
    assert apply_strategy(SCORES, 4, "top").tolist() == [1, 3, 7, 5]


def test_bottom():
    assert apply_strategy(SCORES, 3, "bottom").tolist() == [0, 6, 4]


def test_band_takes_middle_third_nearest_centre():
    picked = apply_strategy(SCORES, 3, "band")
    order = np.lexsort((np.arange(9), -SCORES))
    assert sorted(picked.tolist()) == sorted(order[3:6].tolist())
    assert picked[0] == order[4]  # the centre rank comes first


def test_band_custom_bounds_and_errors():
    order = np.lexsort((np.arange(9), -SCORES))
    assert set(apply_strategy(SCORES, 3, "band", low=0.0, high=1 / 3).tolist()) == set(order[:3].tolist())
    with pytest.raises(ValueError, match="low < high"):
        apply_strategy(SCORES, 2, "band", low=0.6, high=0.5)


def test_threshold_keeps_passing_rows_up_to_k():
    assert apply_strategy(SCORES, None, "threshold", threshold=0.75).tolist() == [1, 3, 7]
    assert apply_strategy(SCORES, 2, "threshold", threshold=0.75).tolist() == [1, 3]
    assert apply_strategy(SCORES, None, "threshold", threshold=0.2, below=True).tolist() == [0, 6]
    with pytest.raises(ValueError, match="threshold"):
        apply_strategy(SCORES, 2, "threshold")


def test_gumbel_is_seeded_and_prefers_high_scores():
    a = apply_strategy(SCORES, 4, "gumbel", seed=1)
    assert a.tolist() == apply_strategy(SCORES, 4, "gumbel", seed=1).tolist()
    assert len(set(a.tolist())) == 4
    big = np.concatenate([np.full(50, 10.0), np.zeros(950)])
    picked = apply_strategy(big, 50, "gumbel", seed=0, temperature=1.0)
    assert (picked < 50).mean() > 0.9  # exp(10) odds: nearly all from the high block
    flat = apply_strategy(big, 50, "gumbel", seed=0, temperature=1e6)
    assert (flat < 50).mean() < 0.5  # very high temperature is close to uniform


def ccds_reference(ranked: list[int], seed: int, middle_first: bool) -> list[int]:
    """CCDS write_selected_data_ppl_top.py / _mid.py on an already ranked list (spelled out as the scripts do it)."""
    n = len(ranked)
    first, middle, last = ranked[:int(n * 0.333)], ranked[int(n * 0.333):int(n * 0.666)], ranked[int(n * 0.666):]
    rng = random.Random(seed)
    rng.shuffle(middle)
    rng.shuffle(first)
    rng.shuffle(last)
    return middle + first + last if middle_first else first + middle + last


@pytest.mark.parametrize("strategy, middle_first", [("top_ppl", False), ("mid_ppl", True), ("thirds", False)])
def test_ccds_thirds_orders(strategy, middle_first):
    scores = -np.arange(30, dtype=float)  # row i has rank i (perplexity i, lowest first)
    picked = apply_strategy(scores, 30, strategy, seed=3)
    assert picked.tolist() == ccds_reference(list(range(30)), 3, middle_first)
    low, mid, high = set(range(9)), set(range(9, 19)), set(range(19, 30))  # cuts int(0.333 n), int(0.666 n)
    blocks = [set(picked[:10].tolist()), set(picked[10:19].tolist())] if middle_first else \
        [set(picked[:9].tolist()), set(picked[9:19].tolist())]
    assert blocks == ([mid, low] if middle_first else [low, mid]) and set(picked[19:].tolist()) == high
    assert picked[:9].tolist() != sorted(picked[:9].tolist())  # shuffled within the third
    assert picked.tolist() != apply_strategy(scores, 30, strategy, seed=4).tolist()
    assert apply_strategy(scores, 7, strategy, seed=3).tolist() == picked[:7].tolist()


def test_minus_inf_rows_are_never_chosen():
    s = np.array([1.0, -np.inf, 3.0, 2.0])
    for strategy in ("top", "bottom", "band", "gumbel", "top_ppl", "mid_ppl"):
        assert 1 not in apply_strategy(s, 3, strategy).tolist()
    with pytest.raises(ValueError, match="larger than"):
        apply_strategy(s, 4, "top")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_returns_unique_int64(strategy):
    kw = {"threshold": 0.0} if strategy == "threshold" else {}
    out = apply_strategy(SCORES, 5, strategy, seed=2, **kw)
    assert out.dtype == np.int64 and len(out) == 5 and len(set(out.tolist())) == 5


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(k=0), ValueError, "at least 1"),
        (dict(k=10), ValueError, "larger than"),
        (dict(k=2.5), TypeError, "int"),
        (dict(k=2, strategy="nope"), ValueError, "Unknown strategy"),
        (dict(k=2, strategy="top", bogus=1), TypeError, "unknown option"),
        (dict(k=None, strategy="top"), ValueError, "needs k"),
    ],
)
def test_bad_input(kwargs, exc, match):
    strategy = kwargs.pop("strategy", "top")
    k = kwargs.pop("k")
    with pytest.raises(exc, match=match):
        apply_strategy(SCORES, k, strategy, **kwargs)


def test_nan_scores_rejected():
    with pytest.raises(ValueError, match="NaN"):
        apply_strategy(np.array([1.0, np.nan]), 1)


def test_every_strategy_says_which_rows_come_first():
    from hf_select.strategies import STRATEGY_HELP, describe_strategies

    assert set(STRATEGY_HELP) == set(STRATEGIES)
    assert all(f"{name}:" in describe_strategies() for name in STRATEGIES)
