import json
import os

import datasets
import numpy as np
import pytest

import hf_select as hs
from hf_select.selectors.base import _REGISTRY

POOL = [f"row {i} " + ("cat " * (i % 5)) + ("dog " * (i % 3)) for i in range(40)]


@hs.register_selector("test_count_word")
class CountWord(hs.Selector):
    """Counts occurrences of the target's first word: a tiny third-party selector."""

    requires_target = True
    default_view = "full"

    def _score(self, dataset, target):
        word = self.target_texts(target)[0].split()[0]
        with self.cost.stage("count", tokens=1):
            return np.array([t.split().count(word) for t in self.texts(dataset)], dtype=float)


def test_registered_selector_is_listed_and_used_by_select():
    assert "test_count_word" in hs.list_selectors()
    res = hs.select(POOL, "test_count_word", target=["cat"], k=8)
    assert all(POOL[i].count("cat") == 4 for i in res.indices)
    assert res.scores.shape == (40,) and res.indices.dtype == np.int64
    assert res.cost.stages[0].name == "count" and res.cost.seconds >= 0
    assert res.config["selector"] == "test_count_word"
    sub = res.to_dataset()
    assert sub.num_rows == 8 and sub["hf_select_score"] == [4.0] * 8


def test_fraction_rounds_and_config_object():
    assert hs.select(POOL, "random", fraction=0.1).k == 4
    assert hs.select(POOL, "random", fraction=1.0).k == 40
    cfg = hs.SelectionConfig(selector="length", k=3, strategy="bottom")
    res = hs.select(POOL, config=cfg)
    assert res.k == 3 and res.config["strategy"] == "bottom"
    assert hs.select(POOL, config=cfg, fraction=0.5).k == 20  # explicit size replaces the config's


def test_determinism_same_seed_same_indices():
    a = hs.select(POOL, "random", k=10, seed=7)
    b = hs.select(POOL, "random", k=10, seed=7)
    c = hs.select(POOL, "random", k=10, seed=8)
    assert a.indices.tolist() == b.indices.tolist()
    assert a.indices.tolist() != c.indices.tolist()
    g1 = hs.select(POOL, "length", k=10, strategy="gumbel", seed=1)
    assert g1.indices.tolist() == hs.select(POOL, "length", k=10, strategy="gumbel", seed=1).indices.tolist()


def test_save_load_round_trip(tmp_path):
    ds = datasets.Dataset.from_dict({"text": POOL})
    res = hs.select(ds, "length", k=5)
    path = res.save(tmp_path / "sel")
    assert sorted(os.listdir(path)) == [".hf_select", "indices.parquet", "scores.parquet", "selection.json"]
    meta = json.loads((tmp_path / "sel" / "selection.json").read_text())
    assert meta["schema_version"] == 1 and meta["provenance"]["dataset_fingerprint"] == ds._fingerprint
    back = hs.SelectionResult.load(path)
    assert back.indices.tolist() == res.indices.tolist()
    np.testing.assert_array_equal(back.scores, res.scores)
    assert back.cost == res.cost and back.config == res.config
    with pytest.raises(ValueError, match="pass to_dataset"):
        back.to_dataset()
    assert back.to_dataset(ds)["text"] == res.to_dataset()["text"]
    res.save(path)  # overwriting an existing selection works


def test_save_failure_leaves_no_folder(tmp_path, monkeypatch):
    res = hs.select(POOL, "length", k=5)
    import pyarrow.parquet as pq

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError):
        res.save(tmp_path / "sel")
    assert os.listdir(tmp_path) == []


def test_load_rejects_other_schema(tmp_path):
    res = hs.select(POOL, "length", k=5)
    path = res.save(tmp_path / "sel")
    meta = json.loads(open(os.path.join(path, "selection.json")).read())
    meta["schema_version"] = 99
    open(os.path.join(path, "selection.json"), "w").write(json.dumps(meta))
    with pytest.raises(ValueError, match="schema_version 99"):
        hs.SelectionResult.load(path)
    with pytest.raises(FileNotFoundError, match="not a saved selection"):
        hs.SelectionResult.load(tmp_path)


@hs.register_selector("test_nan")
class NaNSelector(hs.Selector):
    def _score(self, dataset, target):
        out = np.zeros(len(self.texts(dataset)))
        out[1] = np.nan
        return out


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        (([], "random"), dict(k=1), ValueError, "dataset is empty"),
        ((POOL, "random"), dict(k=0), ValueError, "at least 1"),
        ((POOL, "random"), dict(k=41), ValueError, "larger than the number of rows"),
        ((POOL, "random"), dict(fraction=0.0), ValueError, r"in \(0, 1\]"),
        ((POOL, "random"), dict(fraction=1.5), ValueError, r"in \(0, 1\]"),
        ((POOL, "random"), dict(k=2, fraction=0.1), ValueError, "only one of"),
        ((POOL, "random"), dict(), ValueError, "Give one of"),
        ((POOL, "rnadom"), dict(k=1), ValueError, "Did you mean 'random'"),
        ((POOL, "test_count_word"), dict(k=1), ValueError, "needs target examples"),
        ((POOL, "test_count_word"), dict(k=1, target=[]), ValueError, "target is empty"),
        ((POOL, "test_nan"), dict(k=1), ValueError, "non-finite score"),
        ((POOL, "random"), dict(k=1, bogus=3), TypeError, "unknown option"),
        ((POOL, "random"), dict(budget_flops=1e12), ValueError, "needs train_model"),
        (([{"text": "a"}, {"text": None}], "length"), dict(k=1), TypeError, "Row 1"),
        (([{"messages": "oops"}], "length"), dict(k=1), ValueError, "Row 0, column 'messages'"),
        (([{"a": "x"}], "length"), dict(k=1), ValueError, "columns are"),
        ((42, "random"), dict(k=1), TypeError, "must be a datasets.Dataset"),
    ],
)
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hs.select(*args, **kwargs)


def test_streaming_dataset_is_streamed(tmp_path):
    ds = datasets.Dataset.from_dict({"text": POOL})
    config = hs.streaming.StreamConfig(cache_dir=str(tmp_path), show_progress=False)
    streamed = hs.select(ds.to_iterable_dataset(), "random", k=2, stream_config=config)
    assert streamed.dataset is None and "stream" in streamed.provenance  # see tests/streaming for the rest
    np.testing.assert_array_equal(streamed.indices, hs.select(ds, "random", k=2).indices)


def test_filters_drop_rows_before_scoring(monkeypatch):
    calls = {}

    def fake_apply(ds, filters):
        calls["n"] = ds.num_rows
        keep = [i for i in range(ds.num_rows) if i % 2 == 0]
        return ds.select(keep), keep, {"odd_row": ds.num_rows - len(keep)}

    import hf_select.data.filters as filters_mod

    monkeypatch.setattr(filters_mod, "apply_filters", fake_apply, raising=False)
    res = hs.select(POOL, "length", k=20, filters=["f"])
    assert calls["n"] == 40
    assert all(i % 2 == 0 for i in res.indices) and np.isneginf(res.scores[1::2]).all()
    assert res.config["filter_drops"] == {"odd_row": 20}


def teardown_module():
    for name in ("test_count_word", "test_nan"):
        _REGISTRY.pop(name, None)


def test_budget_selects_the_longest_affordable_prefix():
    from hf_select.cost.budget import dataset_lengths

    ds = datasets.Dataset.from_dict({"text": POOL})
    n_params = 1e6
    lengths = np.asarray(dataset_lengths(ds), dtype=float)
    order = np.lexsort((np.arange(40), -np.array([len(t) for t in POOL], dtype=float)))
    per_row = 6 * n_params * lengths[order]
    budget = float(per_row[:7].sum() + per_row[7] / 2)  # room for 7 rows and a half
    res = hs.select(ds, "length", budget_flops=budget, train_model=n_params)
    assert res.k == 7 and res.indices.tolist() == order[:7].tolist()
    assert res.cost.train_flops == pytest.approx(per_row[:7].sum())
    assert res.cost.budget_flops == budget and res.cost.total_flops <= budget
    with pytest.raises(ValueError, match="smallest workable budget"):
        hs.select(ds, "length", budget_flops=1.0, train_model=n_params)


# -- validate before work (issue 9 item 5): sizes, strategy options and the cache folder fail before any scoring ---
@hs.register_selector("test_must_not_score")
class MustNotScore(hs.Selector):
    def _score(self, dataset, target):
        raise AssertionError("scoring ran although a cheap check should have failed first")


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(k=41), ValueError, "larger than the number of rows"),
    (dict(k=2, strategy="band", strategy_kwargs={"bogus": 1}), TypeError, r"unknown option\(s\) \['bogus'\]"),
    (dict(k=2, strategy="band", strategy_kwargs={"low": 0.9, "high": 0.1}), ValueError, "low < high"),
    (dict(k=2, strategy="threshold"), ValueError, "needs strategy_kwargs"),
    (dict(k=2, strategy="gumbel", strategy_kwargs={"temperature": 0}), ValueError, "temperature"),
])
def test_cheap_checks_run_before_scoring(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hs.select(POOL, "test_must_not_score", **kwargs)


def test_model_selector_checks_size_and_cache_before_loading_a_model(tmp_path):
    pytest.importorskip("torch")
    a_file = tmp_path / "cache"
    a_file.write_text("x")
    missing_model = str(tmp_path / "no-model-here")
    with pytest.raises(ValueError, match="larger than the number of rows"):
        hs.select(POOL, "perplexity", model=missing_model, k=999)
    from hf_select.scoring.cache import CacheDirError

    with pytest.raises(CacheDirError, match="is a file"):
        hs.select(POOL, "perplexity", model=missing_model, k=2, cache_dir=str(a_file))


@hs.register_selector("test_nan_bypass")
class NaNBypass(hs.Selector):
    """Overrides score() itself, skipping the base class's finiteness check."""

    def score(self, dataset, target=None):
        self.last_cost = None
        return np.full(len(self.texts(dataset)), np.nan)


def test_nan_scores_never_reach_an_output(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        hs.select(POOL, "test_nan_bypass", k=2)
