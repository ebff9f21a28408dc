"""Shared pools for the streaming tests: a slice of the embedded pool written as parquet / jsonl shards."""

from __future__ import annotations

import json

import pytest

import hf_select as hs


@pytest.fixture(scope="session")
def small_pool():
    from hf_select.data.builtin import load_builtin_pool

    return load_builtin_pool(max_rows=2500)


@pytest.fixture(scope="session")
def target():
    from hf_select.data.builtin import load_builtin_target

    return load_builtin_target("validation")


def write_parquet_shards(pool, folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        pool.select(range(start, start + size)).to_parquet(str(folder / f"part-{i:03d}.parquet"))
        start += size
    return str(folder / "*.parquet")


def write_jsonl_shards(pool, folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        with open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") as f:
            for row in pool.select(range(start, start + size)):
                f.write(json.dumps(row) + "\n")
        start += size
    return str(folder)


@pytest.fixture(scope="session")
def parquet_glob(small_pool, tmp_path_factory):
    """The 2,500-row slice as three parquet files of uneven sizes (shards span files)."""
    return write_parquet_shards(small_pool, tmp_path_factory.mktemp("parquet"), [1000, 700, 800])


@pytest.fixture
def stream_config(tmp_path):
    return hs.streaming.StreamConfig(shard_size=600, cache_dir=str(tmp_path / "cache"), show_progress=False)
