"""score_stream: identical to the in-memory path, resumable, bounded (memmap), and loud about bad streams."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

import hf_select as hs
from hf_select.streaming.engine import score_stream
from hf_select.streaming.source import StreamError

from .conftest import write_jsonl_shards, write_parquet_shards

SELECTORS = [("bm25", {}), ("bm25", {"aggregate": "max", "target_view": "query"}), ("dsir", {}),
             ("dsir", {"sampling": "top", "smoothing": 1.0}), ("random", {"seed": 4}), ("length", {"unit": "words"})]


@pytest.mark.parametrize("name, options", SELECTORS)
def test_streamed_scores_equal_in_memory_scores(small_pool, target, parquet_glob, stream_config, name, options):
    in_memory = hs.get_selector(name, **options).score(small_pool, target=target)
    streamed = score_stream(hs.get_selector(name, **options), parquet_glob, target, config=stream_config)
    np.testing.assert_array_equal(streamed.scores, in_memory)
    assert streamed.num_rows == small_pool.num_rows and len(streamed.shards) == 5  # 2,500 rows / 600


def test_jsonl_iterable_and_second_read_paths_agree(small_pool, target, tmp_path, stream_config):
    pool = small_pool.select(range(900))
    expected = hs.get_selector("dsir").score(pool, target=target)
    folder = write_jsonl_shards(pool, tmp_path / "jl", [400, 500])
    for data, config in ((folder, stream_config),
                         (pool.to_iterable_dataset(num_shards=3), stream_config),
                         (folder, dataclasses.replace(stream_config, store_features=False))):
        got = hs.get_selector("dsir").score(data, target=target, stream_config=config)
        np.testing.assert_array_equal(got, expected)


def test_selector_score_takes_a_glob(small_pool, target, parquet_glob, stream_config):
    sel = hs.get_selector("bm25")
    got = sel.score(parquet_glob, target=target, stream_config=stream_config)
    np.testing.assert_array_equal(got, hs.get_selector("bm25").score(small_pool, target=target))
    names = [s.name for s in sel.last_cost.stages]
    assert names == ["prepare_target", "featurize_pool", "fit", "score", "finalize"]
    assert sel.last_cost.notes["streamed"] and sel.last_cost.tokens > 0


def test_large_pools_are_memory_mapped(small_pool, target, parquet_glob, stream_config):
    config = dataclasses.replace(stream_config, memmap_rows=100)
    streamed = score_stream(hs.get_selector("dsir"), parquet_glob, target, config=config)
    assert isinstance(streamed.scores, np.memmap)
    np.testing.assert_array_equal(streamed.scores, hs.get_selector("dsir").score(small_pool, target=target))


class Killed(RuntimeError):
    pass


def _kill_after(monkeypatch, cls, method, calls):
    original = getattr(cls, method)
    seen = {"n": 0}

    def wrapped(self, *args, **kwargs):
        seen["n"] += 1
        if seen["n"] > calls:
            raise Killed(f"killed at call {seen['n']}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, wrapped)
    return seen


def test_a_killed_pool_run_resumes_from_finished_shards(small_pool, target, parquet_glob, stream_config,
                                                         monkeypatch):
    from hf_select.selectors.dsir import DSIRSelector

    uninterrupted = hs.get_selector("dsir").score(small_pool, target=target)
    with monkeypatch.context() as patch:
        _kill_after(patch, DSIRSelector, "shard_pass", 3)
        with pytest.raises(Killed):
            score_stream(hs.get_selector("dsir"), parquet_glob, target, config=stream_config)
    seen = _kill_after(monkeypatch, DSIRSelector, "shard_pass", 100)
    resumed = score_stream(hs.get_selector("dsir"), parquet_glob, target, config=stream_config)
    assert resumed.resumed_shards == 3 and seen["n"] == 2  # only the two unfinished shards were featurised
    np.testing.assert_array_equal(resumed.scores, uninterrupted)


def test_a_killed_rows_run_resumes_and_corrupted_shards_are_recomputed(small_pool, parquet_glob, stream_config,
                                                                       monkeypatch, tmp_path):
    from hf_select.selectors.heuristics import LengthSelector

    uninterrupted = hs.get_selector("length").score(small_pool)
    with monkeypatch.context() as patch:
        _kill_after(patch, LengthSelector, "_score", 2)
        with pytest.raises(Killed):
            score_stream(hs.get_selector("length"), parquet_glob, config=stream_config)
    shard_files = sorted(p for p in (tmp_path / "cache").rglob("shard-*.parquet"))
    assert len(shard_files) == 2
    shard_files[0].write_bytes(b"not parquet")  # a torn or corrupted shard
    seen = _kill_after(monkeypatch, LengthSelector, "_score", 100)
    resumed = score_stream(hs.get_selector("length"), parquet_glob, config=stream_config)
    assert resumed.resumed_shards == 1 and seen["n"] == 4
    np.testing.assert_array_equal(resumed.scores, uninterrupted)


def _rewrite_during_fit(monkeypatch, path, keep_rows):
    from hf_select.selectors.bm25 import BM25Selector

    original = BM25Selector.fit

    def fit(self, stats):
        table = pq.read_table(path)
        if keep_rows is None:  # same rows, one text changed
            rows = table.to_pylist()
            rows[5]["messages"][0]["content"] += " (edited)"
            table = table.from_pylist(rows, schema=table.schema)
        else:
            table = table.slice(0, keep_rows)
        pq.write_table(table, path)
        return original(self, stats)

    monkeypatch.setattr(BM25Selector, "fit", fit)


@pytest.mark.parametrize("keep_rows, message", [(None, "changed between passes"), (300, "ended early")])
def test_a_stream_that_changes_between_passes_is_an_error(small_pool, target, tmp_path, stream_config, monkeypatch,
                                                          keep_rows, message):
    pattern = write_parquet_shards(small_pool.select(range(1500)), tmp_path / "pool", [700, 800])
    _rewrite_during_fit(monkeypatch, str(tmp_path / "pool" / "part-001.parquet"), keep_rows)
    config = dataclasses.replace(stream_config, store_features=False)  # pass two reads the stream again
    with pytest.raises(StreamError, match=message):
        score_stream(hs.get_selector("bm25"), pattern, target, config=config)


def test_k_larger_than_the_stream_fails_before_pass_two(small_pool, target, tmp_path, stream_config, monkeypatch):
    from hf_select.selectors.bm25 import BM25Selector

    folder = write_jsonl_shards(small_pool.select(range(100)), tmp_path / "jl", [100])  # jsonl: count unknown
    _kill_after(monkeypatch, BM25Selector, "fit", 0)  # pass two must never start
    with pytest.raises(ValueError, match=r"k=500 is larger than the number of rows \(100\)"):
        hs.select(folder, "bm25", target=target, k=500, stream_config=stream_config, streaming=True)


def test_k_larger_than_a_parquet_stream_fails_before_reading(small_pool, target, parquet_glob, stream_config,
                                                              monkeypatch):
    from hf_select.selectors.bm25 import BM25Selector

    _kill_after(monkeypatch, BM25Selector, "shard_pass", 0)  # known from parquet metadata: nothing is read
    with pytest.raises(ValueError, match="larger than the number of rows"):
        hs.select(parquet_glob, "bm25", target=target, k=10_000, stream_config=stream_config, streaming=True)


def test_empty_stream_and_unstreamable_selectors_are_clear(stream_config):
    import datasets

    def nothing():
        yield from ()

    features = datasets.Features({"text": datasets.Value("string")})
    empty = datasets.IterableDataset.from_generator(nothing, features=features)
    with pytest.raises(StreamError, match="no rows"):
        score_stream(hs.get_selector("random"), empty, config=stream_config)
    stream = datasets.Dataset.from_dict({"text": ["a", "b"]}).to_iterable_dataset()
    with pytest.raises(TypeError, match=r"needs the whole pool in memory.*bm25"):
        score_stream(hs.get_selector("kcenter"), stream, config=stream_config)


def test_progress_bars_show_rows_per_second(small_pool, target, parquet_glob, stream_config, capsys):
    config = dataclasses.replace(stream_config, show_progress=True)
    score_stream(hs.get_selector("bm25"), parquet_glob, target, config=config)
    err = capsys.readouterr().err
    assert "pass 1/2" in err and "pass 2/2" in err and "rows/s" in err


def test_a_bad_cache_folder_fails_before_reading(parquet_glob, stream_config, tmp_path):
    from hf_select.scoring.cache import CacheDirError

    (tmp_path / "a-file").write_text("x")
    config = dataclasses.replace(stream_config, cache_dir=str(tmp_path / "a-file" / "cache"))
    with pytest.raises(CacheDirError, match="StreamConfig.cache_dir"):
        score_stream(hs.get_selector("bm25"), parquet_glob, ["cat"], config=config)
