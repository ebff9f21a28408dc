"""hs.select and hf-select select on streams: same selection as in memory, subsets written as parquet shards."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

import hf_select as hs
from hf_select.streaming.source import StreamError
from hf_select.streaming.write import RANK_COLUMN, SCORE_COLUMN, write_subset

from .conftest import write_parquet_shards


@pytest.mark.parametrize("name, size, strategy", [("bm25", {"k": 137}, {}), ("dsir", {"fraction": 0.1}, {}),
                                                   ("random", {"k": 50}, {"strategy": "band"}),
                                                   ("length", {"k": 40}, {"strategy": "thirds"})])
def test_streamed_selection_equals_in_memory_selection(small_pool, target, parquet_glob, stream_config, name, size,
                                                        strategy):
    in_memory = hs.select(small_pool, name, target=target, **size, **strategy)
    streamed = hs.select(parquet_glob, name, target=target, **size, **strategy, streaming=True,
                         stream_config=stream_config)
    np.testing.assert_array_equal(streamed.indices, in_memory.indices)
    np.testing.assert_array_equal(streamed.scores, in_memory.scores)
    assert streamed.dataset is None and streamed.provenance["dataset_num_rows"] == small_pool.num_rows
    assert streamed.provenance["stream"]["num_shards"] == 5
    assert streamed.config["selector"] == in_memory.config["selector"]


def test_auto_mode_loads_small_shard_sets_in_memory_and_streams_iterables(small_pool, target, parquet_glob,
                                                                          stream_config):
    small = hs.select(parquet_glob, "bm25", target=target, k=10, stream_config=stream_config)
    assert small.dataset is not None and "stream" not in small.provenance  # 2,500 rows: the fast in-memory path
    forced = dataclasses.replace(stream_config, auto_stream_bytes=1)
    big = hs.select(parquet_glob, "bm25", target=target, k=10, stream_config=forced)
    iterable = hs.select(small_pool.to_iterable_dataset(num_shards=2), "bm25", target=target, k=10,
                         stream_config=stream_config)
    for res in (big, iterable):
        assert res.dataset is None and "stream" in res.provenance
        np.testing.assert_array_equal(res.indices, small.indices)


def test_streams_refuse_budgets_and_filters(parquet_glob, target, stream_config):
    with pytest.raises(ValueError, match="k= or fraction="):
        hs.select(parquet_glob, "bm25", target=target, budget_flops=1e15, train_model=1e8, streaming=True,
                  stream_config=stream_config)


def test_write_subset_streams_the_selected_rows_out(small_pool, target, parquet_glob, stream_config, tmp_path):
    res = hs.select(parquet_glob, "bm25", target=target, k=300, streaming=True, stream_config=stream_config)
    config = dataclasses.replace(stream_config, rows_per_file=128)
    files = write_subset(res, parquet_glob, tmp_path / "subset", config=config)
    assert [os.path.basename(f) for f in files] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    rows = datasets.load_dataset("parquet", data_files=files, split="train")
    assert rows.num_rows == 300 and rows[RANK_COLUMN] == sorted(rows[RANK_COLUMN], key=lambda r: res.indices[r])
    by_rank = rows.sort(RANK_COLUMN).remove_columns(RANK_COLUMN)
    expected = hs.select(small_pool, "bm25", target=target, k=300).to_dataset()
    assert by_rank.to_dict() == expected.to_dict()  # same rows, scores and priority order as in memory
    # saved and loaded again, the selection still writes its subset
    loaded = hs.SelectionResult.load(res.save(tmp_path / "selection"))
    again = write_subset(loaded, parquet_glob, tmp_path / "again", config=config)
    assert pq.read_table(again[0]).equals(pq.read_table(files[0]))


def test_write_subset_refuses_a_changed_pool_and_a_foreign_folder(small_pool, target, tmp_path, stream_config):
    pattern = write_parquet_shards(small_pool.select(range(1000)), tmp_path / "pool", [500, 500])
    res = hs.select(pattern, "bm25", target=target, k=20, streaming=True, stream_config=stream_config)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="did not write"):
        write_subset(res, pattern, tmp_path / "mine", config=stream_config)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    small_pool.select(range(500, 990)).to_parquet(str(tmp_path / "pool" / "part-001.parquet"))
    with pytest.raises(StreamError, match="ended early"):
        write_subset(res, pattern, tmp_path / "out", config=stream_config)
    assert not (tmp_path / "out").exists()


def test_cli_select_streams_a_glob(small_pool, tmp_path):
    pattern = write_parquet_shards(small_pool.select(range(1200)), tmp_path / "pool", [600, 600])
    (tmp_path / "target.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in ["numpy array sum",
                                                                                          "matrix norm"]))
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "hf_select.cli.main", "select", "--dataset", pattern, "--target",
           str(tmp_path / "target.jsonl"), "--selector", "bm25", "--k", "25", "--streaming", "on", "--shard-size",
           "500", "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "selected 25 of 1200 rows" in proc.stdout
    subset = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / "subset" / "*.parquet"),
                                   split="train")
    assert subset.num_rows == 25 and SCORE_COLUMN in subset.column_names
    saved = hs.SelectionResult.load(tmp_path / "out" / "selection")
    expected = hs.select(small_pool.select(range(1200)), "bm25", target=["numpy array sum", "matrix norm"], k=25)
    np.testing.assert_array_equal(saved.indices, expected.indices)


def test_cli_select_num_proc(small_pool, tmp_path):
    pattern = write_parquet_shards(small_pool.select(range(1200)), tmp_path / "pool", [600, 600])
    targets = ["numpy array sum", "matrix norm"]
    (tmp_path / "target.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in targets))
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    base = [sys.executable, "-m", "hf_select.cli.main", "select", "--dataset", pattern, "--target",
            str(tmp_path / "target.jsonl"), "--selector", "dsir", "--k", "25", "--streaming", "on", "--shard-size",
            "500", "--cache-dir", str(tmp_path / "cache")]
    bad = subprocess.run(base + ["--num-proc", "two", "--output", str(tmp_path / "bad")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "--num-proc" in bad.stderr and not (tmp_path / "bad").exists()
    proc = subprocess.run(base + ["--num-proc", "2", "--output", str(tmp_path / "out")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    saved = hs.SelectionResult.load(tmp_path / "out" / "selection")
    assert saved.provenance["stream"]["num_proc"] == 2
    expected = hs.select(small_pool.select(range(1200)), "dsir", target=targets, k=25)
    np.testing.assert_array_equal(saved.indices, expected.indices)
