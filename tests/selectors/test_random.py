"""random: seeded uniform scores."""

import numpy as np
import pytest

import hf_select as hs
from hf_select.selectors.base import BUILTIN_SELECTORS, get_selector_class
from hf_select.selectors.random import RandomSelector

POOL = [f"text {i}" for i in range(50)]


def test_same_seed_same_scores_different_seed_differs():
    a = hs.get_selector("random", seed=7).score(POOL)
    b = hs.get_selector("random", seed=7).score(POOL)
    c = hs.get_selector("random", seed=8).score(POOL)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (50,) and a.dtype == np.float64
    assert ((a >= 0) & (a < 1)).all()


def test_scores_are_the_seeded_generator_and_ignore_text_and_target():
    scores = hs.get_selector("random", seed=3).score(POOL, target=["anything"])
    np.testing.assert_array_equal(scores, np.random.default_rng(3).random(50))
    other_texts = hs.get_selector("random", seed=3).score([t.upper() for t in POOL])
    np.testing.assert_array_equal(scores, other_texts)


def test_select_is_deterministic_by_seed():
    a = hs.select(POOL, "random", k=10, seed=1)
    b = hs.select(POOL, "random", k=10, seed=1)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == 10


def test_cost_is_zero_flops_with_a_timed_stage():
    sel = hs.get_selector("random")
    sel.score(POOL)
    assert sel.last_cost.flops == 0 and sel.last_cost.stages[0].name == "sample"
    assert sel.last_cost.notes["num_rows"] == 50


def test_registry_and_errors():
    assert get_selector_class("random") is RandomSelector
    assert BUILTIN_SELECTORS["random"] == "hf_select.selectors.random"
    with pytest.raises(ValueError, match="empty"):
        hs.get_selector("random").score([])
    with pytest.raises(TypeError, match="unknown option"):
        hs.get_selector("random", sed=1)
