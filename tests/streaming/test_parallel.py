"""num_proc worker processes give exactly the scores of one process; resuming works across them; bad values fail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hf_select as hs
from hf_select.streaming.engine import score_stream
from hf_select.streaming.parallel import ShardWorkers, parallel_problem, resolve_num_proc


@pytest.mark.parametrize("name,options", [("bm25", {}), ("bm25", {"aggregate": "max"}),
                                          ("dsir", {"sampling": "top"}), ("dsir", {})])
def test_two_processes_equal_one(small_pool, target, parquet_glob, stream_config, name, options):
    one = score_stream(hs.get_selector(name, **options), parquet_glob, target,
                       config=dataclasses.replace(stream_config, num_proc=1))
    two = score_stream(hs.get_selector(name, **options), parquet_glob, target,
                       config=dataclasses.replace(stream_config, num_proc=2, resume=False))
    assert one.num_proc == 1 and two.num_proc == 2 and two.cost.notes["num_proc"] == 2
    assert two.provenance()["stream"]["num_proc"] == 2
    np.testing.assert_array_equal(two.scores, one.scores)
    np.testing.assert_array_equal(two.scores, hs.get_selector(name, **options).score(small_pool, target=target))


def test_second_read_and_resume_with_workers(small_pool, target, parquet_glob, stream_config):
    expected = hs.get_selector("bm25").score(small_pool, target=target)
    reread = score_stream(hs.get_selector("bm25"), parquet_glob, target,
                          config=dataclasses.replace(stream_config, num_proc=2, store_features=False))
    np.testing.assert_array_equal(reread.scores, expected)
    kept = dataclasses.replace(stream_config, num_proc=2, keep_features=True)
    score_stream(hs.get_selector("dsir"), parquet_glob, target, config=kept)
    resumed = score_stream(hs.get_selector("dsir"), parquet_glob, target, config=kept)  # features from the cache
    assert resumed.resumed_shards == len(resumed.shards)
    np.testing.assert_array_equal(resumed.scores, hs.get_selector("dsir").score(small_pool, target=target))


def test_select_records_num_proc(parquet_glob, target, stream_config):
    res = hs.select(parquet_glob, "bm25", target=target, k=10, streaming=True,
                    stream_config=dataclasses.replace(stream_config, num_proc=2))
    assert res.cost.notes["num_proc"] == 2 and res.provenance["stream"]["num_proc"] == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True, None])
def test_bad_num_proc_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="num_proc"):
        hs.streaming.StreamConfig(num_proc=bad)


def test_unpicklable_selector(parquet_glob, target, stream_config):
    sel = hs.get_selector("bm25", tokenizer=lambda text: text.split())
    assert parallel_problem(sel) is not None
    with pytest.raises(ValueError, match="num_proc=2"):
        score_stream(sel, parquet_glob, target, config=dataclasses.replace(stream_config, num_proc=2))
    auto = score_stream(sel, parquet_glob, target, config=dataclasses.replace(stream_config, num_proc="auto"))
    assert auto.num_proc == 1


def test_auto_and_ordered_map():
    assert resolve_num_proc("auto", num_shards=1, parallel_ok=True) == 1
    assert resolve_num_proc("auto", num_shards=64, parallel_ok=False) == 1
    assert resolve_num_proc(3, num_shards=1, parallel_ok=True) == 3
    with ShardWorkers(2) as workers:
        assert list(workers.map(pow, ((i, 2) for i in range(7)))) == [i * i for i in range(7)]


def test_a_selector_without_text_ignores_num_proc(small_pool, parquet_glob, stream_config):
    res = score_stream(hs.get_selector("random"), parquet_glob, None,
                       config=dataclasses.replace(stream_config, num_proc=2))
    assert res.num_proc == 1  # nothing to featurise: no worker processes, no error
    np.testing.assert_array_equal(res.scores, hs.get_selector("random").score(small_pool))
