"""The embedded pool and target task (hf_select.data.builtin).

One session-scoped build of the core-only pool (what every machine with hf_select's core dependencies has) into a
temporary ``HF_SELECT_CACHE``; the determinism test builds a small config twice (in-process and in a subprocess with
another hash seed and worker count) and compares the parquet tables.
"""

import json
import os
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from hf_select.data import _pool_build
from hf_select.data.builtin import (
    CACHE_ENV,
    DEFAULT_TARGET_DOMAIN,
    BuiltinPoolConfig,
    builtin_pool_info,
    cache_key,
    ensure_builtin_pool,
    load_builtin_pool,
    load_builtin_target,
    pool_summary,
)
from hf_select.data.formats import detect_format

CORE = BuiltinPoolConfig.core_only()
SMALL = dict(packages=("numpy", "click", "jinja2"), include_stdlib=False, target_domains=("numpy",))


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_select_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(root))
        ensure_builtin_pool(CORE)
        yield root


@pytest.fixture(scope="session")
def pool(cache):
    return load_builtin_pool(config=CORE)


@pytest.fixture(scope="session")
def targets(cache):
    return {split: load_builtin_target(split, config=CORE) for split in ("validation", "test")}


def test_size_domains_and_metadata(pool, cache):
    summary = pool_summary(pool)
    assert pool.num_rows >= 20_000
    assert len(summary) >= 8
    assert min(summary.values()) >= CORE.min_domain_rows and max(summary.values()) <= CORE.max_per_domain
    assert sum(summary.values()) == pool.num_rows
    info = builtin_pool_info(CORE)
    assert info["pool_rows"] == pool.num_rows and info["domains"] == summary
    assert info["versions"]["numpy"] and info["versions"]["python"]
    assert all(info["licences"][p] for p in info["versions"] if info["versions"][p])


def test_rows_are_conversational_and_clean(pool):
    assert detect_format(pool) == "conversational"
    assert set(pool.column_names) >= {"messages", "domain", "source", "id"}
    questions, answers = [], []
    cols = pool.to_dict()
    for messages, source, part, row_id, domain in zip(cols["messages"], cols["source"], cols["part"], cols["id"],
                                                      cols["domain"], strict=True):
        user, assistant = messages
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert isinstance(user["content"], str) and isinstance(assistant["content"], str)
        assert CORE.min_answer_chars <= len(assistant["content"].strip()) <= CORE.max_answer_chars
        assert row_id == f"{source}#{part}" and isinstance(domain, str)
        if domain != "python_reference":
            assert not source.rsplit(".", 1)[-1].startswith("_"), source  # no private names
        assert "%(" not in assistant["content"]
        questions.append(user["content"])
        answers.append(" ".join(assistant["content"].lower().split()))
    assert len(set(pool["id"])) == pool.num_rows
    assert len(set(questions)) == len(questions) and len(set(answers)) == len(answers)
    shapes = {re.sub(r"`[^`]*`", "X", q) for q in questions}  # the question templates vary
    assert len(shapes) >= 15


def test_target_task_never_overlaps_pool(pool, targets):
    val, test = targets["validation"], targets["test"]
    assert (val.num_rows, test.num_rows) == (CORE.target_validation_size, CORE.target_test_size)
    assert val.column_names == pool.column_names == test.column_names
    assert set(val["domain"]) == set(test["domain"]) == {DEFAULT_TARGET_DOMAIN}
    assert not set(val["source"]) & set(test["source"])
    texts = {m["content"] for msgs in pool["messages"] for m in msgs}
    for split in (val, test):
        assert not set(split["id"]) & set(pool["id"])
        assert not set(split["source"]) & set(pool["source"])
        assert not {m["content"] for msgs in split["messages"] for m in msgs} & texts
    share = pool_summary(pool)[DEFAULT_TARGET_DOMAIN] / pool.num_rows
    assert 0.03 < share < 0.25  # present in the pool, but a minority: selection has something to find


def test_other_target_domains_and_bad_arguments(cache):
    other = load_builtin_target("validation", domain="huggingface_hub", config=CORE)
    assert set(other["domain"]) == {"huggingface_hub"}
    with pytest.raises(ValueError, match="split"):
        load_builtin_target("train", config=CORE)
    with pytest.raises(ValueError, match="available"):
        load_builtin_target("test", domain="scipy", config=CORE)


def test_cache_hit_reads_parquet(pool, cache, monkeypatch):
    folder = os.path.join(str(cache), "builtin_pool", cache_key(CORE))
    assert {"pool.parquet", "target.parquet", "meta.json"} <= set(os.listdir(folder))

    def no_build(config):
        raise AssertionError("the cache hit path must not rebuild")

    monkeypatch.setattr(_pool_build, "collect_rows", no_build)
    again = load_builtin_pool(config=CORE)
    assert again.data.table.equals(pq.read_table(os.path.join(folder, "pool.parquet")))
    assert again._fingerprint == pool._fingerprint
    assert cache_key(BuiltinPoolConfig.core_only(max_answer_chars=500)) != cache_key(CORE)
    assert cache_key(BuiltinPoolConfig.core_only(num_proc=2)) == cache_key(CORE)  # workers do not change the output


def test_max_rows_subsample(pool, cache):
    sub = load_builtin_pool(max_rows=1000, config=CORE)
    assert sub.num_rows == 1000 and set(sub["id"]) <= set(pool["id"])
    assert sub["id"] == load_builtin_pool(max_rows=1000, config=CORE)["id"]  # same seed, same rows
    assert sub["id"] != load_builtin_pool(max_rows=1000, seed=1, config=CORE)["id"]
    full, part = pool_summary(pool), pool_summary(sub)
    for domain, n in full.items():  # stratified: each domain keeps its share (largest remainder rounding)
        assert abs(part.get(domain, 0) - 1000 * n / pool.num_rows) < 1
    assert load_builtin_pool(max_rows=10**9, config=CORE).num_rows == pool.num_rows
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_rows"):
            load_builtin_pool(max_rows=bad, config=CORE)


def test_domains_filter(cache):
    ds = load_builtin_pool(domains=["numpy", "scipy"], config=CORE)
    assert set(ds["domain"]) == {"numpy", "scipy"}
    with pytest.raises(ValueError, match="available domains"):
        load_builtin_pool(domains=["numpy", "no_such_domain"], config=CORE)
    with pytest.raises(TypeError, match="list of domain names"):
        load_builtin_pool(domains="numpy", config=CORE)


def test_config_validation():
    with pytest.raises(ValueError, match="parts"):
        BuiltinPoolConfig(parts=("summary", "poems"))
    with pytest.raises(ValueError, match="max_answer_chars"):
        BuiltinPoolConfig(max_answer_chars=0)
    with pytest.raises(ValueError, match="max_per_domain"):
        BuiltinPoolConfig(max_per_domain=10)
    assert all(f.metadata.get("help") for f in BuiltinPoolConfig.__dataclass_fields__.values())


_CHILD = """
import json, sys
from hf_select.data.builtin import BuiltinPoolConfig, ensure_builtin_pool
ensure_builtin_pool(BuiltinPoolConfig(num_proc=2, **json.loads(sys.argv[1])))
print(json.dumps([m for m in ("click", "jinja2") if m in sys.modules]))
"""


def test_build_is_deterministic_and_imports_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    path_a = ensure_builtin_pool(BuiltinPoolConfig(num_proc=1, **SMALL), cache_dir=a)
    env = {**os.environ, CACHE_ENV: str(b), "PYTHONHASHSEED": "7"}
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(SMALL)], env=env, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []  # documented packages are read, never imported
    path_b = os.path.join(str(b), "builtin_pool", os.path.basename(path_a))
    for name in ("pool.parquet", "target.parquet"):
        table_a, table_b = pq.read_table(os.path.join(path_a, name)), pq.read_table(os.path.join(path_b, name))
        assert table_a.num_rows > 0 and table_a.equals(table_b)


def test_losing_a_concurrent_build_keeps_the_winners(tmp_path, monkeypatch):
    from hf_select.atomic import MARKER
    from hf_select.data.builtin import build_builtin_pool

    config = BuiltinPoolConfig(packages=(), include_stdlib=False, include_python_reference=False, min_domain_rows=1,
                               target_domains=())
    rows = [{"question": f"What does f{i} do?", "answer": f"It does thing number {i}.", "domain": "d",
             "source": f"m.f{i}", "id": f"m.f{i}#summary", "part": "summary"} for i in range(5)]
    monkeypatch.setattr(_pool_build, "collect_rows", lambda cfg: [dict(r) for r in rows])
    real_to_table, calls = _pool_build.to_table, []
    path = str(tmp_path / "builtin_pool" / "key")

    def to_table(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the other process finishes its build while this one is still writing
            build_builtin_pool(config, path)
        return real_to_table(*args, **kwargs)

    monkeypatch.setattr(_pool_build, "to_table", to_table)
    winner_before = None
    meta = build_builtin_pool(config, path)
    with open(os.path.join(path, "meta.json")) as fh:
        winner_before = json.load(fh)
    assert meta == winner_before  # the loser returns the winner's build, which stays in place
    assert sorted(os.listdir(path)) == [MARKER, "meta.json", "pool.parquet", "target.parquet"]
    assert os.listdir(tmp_path / "builtin_pool") == ["key"]  # no temporary folder left behind
