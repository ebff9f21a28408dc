"""Per-shard cache: resume after a kill recomputes only missing shards; corrupted shards are recomputed."""

import os

import numpy as np
import pytest

from hf_select.scoring.cache import ShardCache, cache_key, concat_shards, fingerprint_texts

TEXTS = [f"example number {i} " + "word " * (i % 7) for i in range(11)] + [""]


def test_key_and_fingerprint_depend_on_inputs():
    assert fingerprint_texts(["ab", "c"]) != fingerprint_texts(["a", "bc"])
    assert fingerprint_texts([("a", "b")]) != fingerprint_texts([("ab", "")])
    k = cache_key(content="x", config={"dtype": "float32"}, model="m")
    assert k == cache_key(content="x", config={"dtype": "float32"}, model="m")
    assert k != cache_key(content="x", config={"dtype": "bfloat16"}, model="m")
    assert k != cache_key(content="x", config={"dtype": "float32"}, model="m2")


def test_save_load_and_corruption(tmp_path):
    cache = ShardCache(tmp_path, "k", num_rows=5, shard_size=2)
    cache.save(0, {"v": np.array([1.0, 2.0]), "n": np.array([3, 4])})
    cache.save(2, {"v": np.array([5.0]), "n": np.array([6])})
    assert cache.missing() == [1]
    with pytest.raises(ValueError, match="rows"):
        cache.save(1, {"v": np.array([1.0])})
    # flip bytes in the middle of a shard file: unreadable or checksum mismatch -> deleted, reported, recomputed
    path = cache.path(0)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    assert cache.load(0) is None and not path.exists()
    assert cache.recomputed_corrupt == [0]
    # a valid parquet file holding other numbers than its checksum says
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(cache.path(2))
    forged = pa.table({"v": [9.0], "n": [6]}).replace_schema_metadata(table.schema.metadata)
    pq.write_table(forged, cache.path(2))
    assert cache.load(2) is None
    assert concat_shards([{"a": np.array([1])}, {"a": np.array([2, 3])}])["a"].tolist() == [1, 2, 3]


@pytest.fixture()
def run(tiny_model, byte_tokenizer, tmp_path):
    pytest.importorskip("torch")
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.pipeline import nll_for_texts

    def go(cache_dir=tmp_path / "cache", **kw):
        return nll_for_texts(tiny_model, byte_tokenizer, TEXTS, NLLConfig(dtype="float32", show_progress=False),
                             cache_dir=cache_dir, shard_size=3, **kw)

    return go


def test_kill_and_resume(run, monkeypatch, tmp_path):
    import hf_select.scoring.pipeline as pipeline

    reference = run(cache_dir=None)
    real = pipeline.score_nll
    calls = []

    def dies_on_third_shard(*args, **kwargs):
        calls.append(kwargs["rows"])
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "score_nll", dies_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(pipeline, "score_nll", real)
    resumed = run()
    assert resumed.cache["loaded"] == [0, 1] and resumed.cache["computed"] == [2, 3]
    np.testing.assert_array_equal(resumed.sum_nll, reference.sum_nll)
    np.testing.assert_array_equal(resumed.num_targets, reference.num_targets)
    again = run()
    assert again.cache["computed"] == [] and again.forward_tokens == 0
    np.testing.assert_array_equal(again.sum_nll, reference.sum_nll)


def test_corrupted_shard_is_recomputed(run):
    first = run()
    shard = first.cache["dir"] + "/shard-00001.parquet"
    with open(shard, "r+b") as f:
        f.seek(0)
        f.write(b"garbage!")
    second = run()
    assert second.cache["corrupted"] == [1] and second.cache["computed"] == [1]
    np.testing.assert_array_equal(second.sum_nll, first.sum_nll)


def test_key_changes_with_config(run, tiny_model, byte_tokenizer, tmp_path):
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.pipeline import nll_for_texts

    a = run()
    b = nll_for_texts(tiny_model, byte_tokenizer, TEXTS, NLLConfig(dtype="bfloat16", show_progress=False),
                      cache_dir=tmp_path / "cache", shard_size=3)
    assert a.cache["key"] != b.cache["key"] and b.cache["loaded"] == []


def _fill_worker(root, barrier, log_dir):
    import time

    from hf_select.scoring.cache import ShardCache

    cache = ShardCache(root, "shared", num_rows=12, shard_size=2)
    barrier.wait()

    def compute(shard):
        time.sleep(0.05)
        with open(os.path.join(log_dir, f"{os.getpid()}-{shard}"), "w"):
            pass
        return {"v": np.arange(*cache.shard_ranges()[shard], dtype=float)}

    out, computed, loaded = cache.fill(range(cache.num_shards), compute)
    assert sorted(out) == list(range(6)) and sorted(computed + loaded) == list(range(6))
    assert np.concatenate([out[s]["v"] for s in range(6)]).tolist() == list(range(12))


def test_concurrent_runs_compute_each_shard_once(tmp_path):
    # issue 9 item 7: two runs on one cache both computed every shard
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, log_dir = ctx.Barrier(2), tmp_path / "log"
    log_dir.mkdir()
    procs = [ctx.Process(target=_fill_worker, args=(str(tmp_path / "cache"), barrier, str(log_dir)))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    shards = sorted(int(name.split("-")[1]) for name in os.listdir(log_dir))
    assert shards == list(range(6))  # each shard computed by exactly one of the two runs


def test_fill_waits_for_a_shard_another_run_holds(tmp_path):
    from filelock import FileLock

    cache = ShardCache(tmp_path, "k", num_rows=4, shard_size=2)
    held = FileLock(str(cache.root / ".shard-00000.lock"))
    held.acquire()
    order = []

    def compute(shard):
        order.append(shard)
        if shard == 1:  # the other run finishes shard 0 and lets go while this one works on shard 1
            cache.save(0, {"v": np.array([7.0, 7.0])})
            held.release()
        return {"v": np.zeros(2)}

    out, computed, loaded = cache.fill([0, 1], compute)
    assert order == [1] and computed == [1] and loaded == [0]
    assert out[0]["v"].tolist() == [7.0, 7.0]


def test_bad_cache_folder_is_a_clear_error(tmp_path):
    from hf_select.scoring.cache import CacheDirError, check_cache_dir

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(CacheDirError, match="is a file, not a folder"):
        ShardCache(a_file, "k", num_rows=2, shard_size=1)
    with pytest.raises(CacheDirError, match="is a file"):
        check_cache_dir(a_file / "sub")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "k").write_text("x")  # a file where the key folder goes
    with pytest.raises(CacheDirError, match="cannot create"):
        ShardCache(tmp_path / "c", "k", num_rows=2, shard_size=1)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(CacheDirError, match="not writable"):
            check_cache_dir(ro / "cache")
    assert check_cache_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
