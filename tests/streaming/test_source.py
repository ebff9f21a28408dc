"""StreamSource: globs, folders, file lists and IterableDatasets read as consecutive shards; bad shards named."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_select.streaming.source import StreamError, StreamSource, is_stream

from .conftest import write_jsonl_shards, write_parquet_shards


def _rows(source, shard_size):
    return [row for shard in source.shards(shard_size) for row in shard.table.to_pylist()]


def test_glob_folder_list_and_iterable_give_the_same_rows_in_order(small_pool, tmp_path):
    pool = small_pool.select(range(300))
    pattern = write_parquet_shards(pool, tmp_path / "pq", [100, 150, 50])
    folder = write_jsonl_shards(pool, tmp_path / "jl", [120, 180])
    files = sorted(str(p) for p in (tmp_path / "pq").glob("*.parquet"))
    expected = pool.to_list()
    for data in (pattern, str(tmp_path / "pq"), files, folder, pool.to_iterable_dataset(num_shards=4)):
        source = StreamSource.open(data)
        shards = list(source.shards(64))
        assert [s.num_rows for s in shards] == [64] * 4 + [44]  # shards span files
        assert [s.start for s in shards] == [0, 64, 128, 192, 256]
        assert [r["id"] for r in _rows(source, 64)] == [r["id"] for r in expected]
    assert StreamSource.open(pattern).num_rows_hint == 300
    assert StreamSource.open(folder).num_rows_hint is None  # jsonl: counted while reading


def test_fingerprints_are_stable_and_follow_content(small_pool, tmp_path):
    pattern = write_parquet_shards(small_pool.select(range(200)), tmp_path / "a", [200])
    first = [s.fingerprint for s in StreamSource.open(pattern).shards(50)]
    assert first == [s.fingerprint for s in StreamSource.open(pattern).shards(50)]
    assert len(set(first)) == 4
    table = pq.read_table(str(tmp_path / "a" / "part-000.parquet"))
    ids = table.column("id").to_pylist()
    ids[120] = "changed"
    pq.write_table(table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids)),
                   str(tmp_path / "a" / "part-000.parquet"))
    after = [s.fingerprint for s in StreamSource.open(pattern).shards(50)]
    assert [a == b for a, b in zip(first, after)] == [True, True, False, True]


def test_is_stream():
    assert is_stream("shards/*.parquet") and is_stream(["a.parquet", "b.jsonl"])
    assert is_stream(datasets.Dataset.from_dict({"text": ["a"]}).to_iterable_dataset())
    assert not is_stream(datasets.Dataset.from_dict({"text": ["a"]}))
    assert not is_stream(["a text", "another"]) and not is_stream("pool.parquet")


def test_save_to_disk_folder_is_not_a_stream(tmp_path):
    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(str(tmp_path / "saved"))
    assert not is_stream(str(tmp_path / "saved"))


def test_empty_shard_is_named(small_pool, tmp_path):
    write_parquet_shards(small_pool.select(range(10)), tmp_path, [10])
    pq.write_table(small_pool.select(range(0)).data.table, str(tmp_path / "part-009.parquet"))
    with pytest.raises(StreamError, match=r"part-009.parquet.*has no rows"):
        list(StreamSource.open(str(tmp_path)).shards(4))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.jsonl").write_text("\n\n")
    with pytest.raises(StreamError, match=r"a.jsonl.*has no rows"):
        list(StreamSource.open(str(tmp_path / "empty")).shards(4))


def test_shard_with_other_columns_is_named(small_pool, tmp_path):
    write_parquet_shards(small_pool.select(range(10)), tmp_path, [10])
    datasets.Dataset.from_dict({"text": ["x"] * 3}).to_parquet(str(tmp_path / "part-005.parquet"))
    with pytest.raises(StreamError, match=r"part-005.parquet.*has columns \['text'\]"):
        list(StreamSource.open(str(tmp_path)).shards(4))


def test_bad_jsonl_lines_are_named(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "a"}\n{"text": "b", "extra": 1}\n')
    with pytest.raises(StreamError, match=r"a.jsonl' line 2: keys \['extra', 'text'\]"):
        list(StreamSource.open(str(tmp_path)).shards(4))
    (tmp_path / "a.jsonl").write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(StreamError, match=r"line 2: not valid JSON"):
        list(StreamSource.open(str(tmp_path)).shards(4))
    (tmp_path / "a.jsonl").write_text('["a list"]\n')
    with pytest.raises(StreamError, match=r"line 1: expected a JSON object"):
        list(StreamSource.open(str(tmp_path)).shards(4))


def test_a_column_null_at_first_then_filled_is_promoted(tmp_path):
    lines = [{"text": f"t{i}", "system": None} for i in range(5)] + [{"text": "t5", "system": "be brief"}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = _rows(StreamSource.open(str(tmp_path)), 2)
    assert [r["system"] for r in rows] == [None] * 5 + ["be brief"]


def test_missing_inputs_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parquet or jsonl file matches"):
        StreamSource.open(str(tmp_path / "*.parquet"))
    (tmp_path / "x.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match="not a parquet or jsonl file"):
        StreamSource.open([str(tmp_path / "x.csv")])
    datasets.Dataset.from_dict({"text": ["x"]}).to_parquet(str(tmp_path / "a.parquet"))
    with pytest.raises(ValueError, match="shard_size must be a positive int"):
        next(StreamSource.open([str(tmp_path / "a.parquet")]).shards(0))


def test_the_same_rows_hash_the_same_however_they_are_split(small_pool, tmp_path):
    pool = small_pool.select(range(120))
    prints = []
    for data in (pool.to_iterable_dataset(), pool.to_iterable_dataset(num_shards=5),
                 write_parquet_shards(pool, tmp_path / "a", [7, 100, 13])):
        prints.append([s.fingerprint for s in StreamSource.open(data).shards(50)])
    assert prints[0] == prints[1] == prints[2]
