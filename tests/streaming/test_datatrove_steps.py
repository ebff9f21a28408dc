"""datatrove steps: a 4-task pipeline gives hs.select's scores and selection; the same pipeline runs on Ray."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import hf_select as hs

from .conftest import write_parquet_shards

pytest.importorskip("datatrove")

from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader, ParquetReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter  # noqa: E402

from hf_select.streaming.datatrove_steps import (  # noqa: E402
    SelectionFilterStep,
    SelectionScoreStep,
    SelectionStatsStep,
    trl_row_adapter,
)

CASES = [("bm25", {}), ("dsir", {"sampling": "top"}), ("length", {"unit": "words"})]


@pytest.fixture(scope="module")
def pool_files(small_pool, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dt-pool")
    write_parquet_shards(small_pool.select(range(2000)), folder, [500, 500, 500, 500])
    return str(folder), small_pool.select(range(2000))


def _stages(folder, work, name, target, options, executor, **executor_kwargs):
    reader = ParquetReader(folder, adapter=trl_row_adapter, glob_pattern="*.parquet")
    stats = [reader, SelectionStatsStep(name, target, work_dir=f"{work}/state", **options)]
    score = [ParquetReader(folder, adapter=trl_row_adapter, glob_pattern="*.parquet"),
             SelectionScoreStep(name, target, work_dir=f"{work}/state", **options),
             JsonlWriter(f"{work}/scored")]
    executor(stats, logging_dir=f"{work}/logs/stats", **executor_kwargs).run()
    executor(score, logging_dir=f"{work}/logs/score", **executor_kwargs).run()


def _datatrove_scores(work):
    tables = [pq.read_table(os.path.join(work, "state", "scores", f))
              for f in sorted(os.listdir(os.path.join(work, "state", "scores")))]
    return {i: s for t in tables for i, s in zip(t.column("id").to_pylist(), t.column("score").to_pylist())}


@pytest.mark.parametrize("name, options", CASES)
def test_local_pipeline_gives_the_scores_of_hs_select(pool_files, target, tmp_path, name, options):
    folder, pool = pool_files
    _stages(folder, str(tmp_path), name, target, options, LocalPipelineExecutor, tasks=4, workers=2)
    got = _datatrove_scores(str(tmp_path))
    expected = hs.get_selector(name, **options).score(pool, target=target)
    assert len(got) == pool.num_rows
    np.testing.assert_allclose([got[i] for i in pool["id"]], expected, rtol=1e-12, atol=0)


def test_filter_step_keeps_the_top_k_of_hs_select(pool_files, target, tmp_path):
    folder, pool = pool_files
    work = str(tmp_path)
    _stages(folder, work, "bm25", target, {}, LocalPipelineExecutor, tasks=4, workers=2)
    for mode, out in (("top_k", "top"), ("threshold", "thr")):
        step = SelectionFilterStep(f"{work}/state", mode=mode, k=120)
        LocalPipelineExecutor([JsonlReader(f"{work}/scored"), step, JsonlWriter(f"{work}/{out}")], tasks=4,
                              workers=2, logging_dir=f"{work}/logs/{out}").run()
    expected = hs.select(pool, "bm25", target=target, k=120)
    chosen = [pool["id"][i] for i in expected.indices]
    kept = {}
    for f in os.listdir(f"{work}/top"):
        for doc in JsonlReader(f"{work}/top").read_file(f):
            kept[doc.id] = doc.metadata["hf_select_rank"]
    assert sorted(kept, key=kept.get) == chosen  # the same rows in the same priority order
    thr = {doc.id for f in os.listdir(f"{work}/thr") for doc in JsonlReader(f"{work}/thr").read_file(f)}
    assert set(chosen) <= thr  # ties at the threshold are all kept
    assert min(expected.scores[expected.indices]) <= min(_datatrove_scores(work)[i] for i in thr)


def test_steps_validate_before_running(tmp_path):
    with pytest.raises(ValueError, match="sampling='top'"):
        SelectionScoreStep("dsir", ["cat"], work_dir=str(tmp_path))  # Gumbel noise is drawn in stream order
    with pytest.raises(ValueError, match="target"):
        SelectionStatsStep("bm25", work_dir=str(tmp_path))
    with pytest.raises(TypeError, match="whole pool"):
        SelectionStatsStep("kcenter", work_dir=str(tmp_path))
    with pytest.raises(ValueError, match="exactly one of"):
        SelectionFilterStep(str(tmp_path), k=3, fraction=0.1)
    with pytest.raises(FileNotFoundError, match="SelectionScoreStep"):
        next(SelectionFilterStep(str(tmp_path), k=3).run(iter(())))


@pytest.fixture
def ray_runtime(monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.getcwd(), "HF_HUB_OFFLINE": "1"}})
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_executor_runs_the_same_pipeline(pool_files, target, tmp_path, ray_runtime):
    from datatrove.executor.ray import RayPipelineExecutor

    folder, pool = pool_files
    _stages(folder, str(tmp_path), "bm25", target, {}, RayPipelineExecutor, tasks=4, workers=2)
    got = _datatrove_scores(str(tmp_path))
    expected = hs.get_selector("bm25").score(pool, target=target)
    np.testing.assert_allclose([got[i] for i in pool["id"]], expected, rtol=1e-12, atol=0)
