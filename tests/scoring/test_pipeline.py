"""The pipeline's default shard size gives every process work on a small pool (issue 14)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from hf_select.scoring.pipeline import DEFAULT_SHARD_SIZE, MIN_SHARDS, default_shard_size
from hf_select.testing import require


def test_default_shard_size():
    assert default_shard_size(100_000) == DEFAULT_SHARD_SIZE
    assert default_shard_size(300) == 38 and -(-300 // 38) == MIN_SHARDS
    assert default_shard_size(10) == 2 and default_shard_size(3) == 1 and default_shard_size(0) == 1
    assert default_shard_size(100, world_size=16) == 7  # more processes than MIN_SHARDS: one shard each at least
    assert default_shard_size(300, world_size=2) == default_shard_size(300)  # the cache key does not depend on it


@pytest.mark.slow
@require("torch", "transformers", "accelerate")
def test_accelerate_two_processes_both_get_work(tmp_path):
    from hf_select.testing import tiny_llama, toy_tokenizer

    if shutil.which("accelerate", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("accelerate launcher not found beside this Python")
    model_dir = tmp_path / "model"
    tiny_llama(vocab_size=128, seed=0).save_pretrained(model_dir)
    toy_tokenizer().save_pretrained(model_dir)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps({"text": f"row {i}: " + "ab " * (i % 5)}) for i in range(10)) + "\n")
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1",
           "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run([launcher, "launch", "--num_processes", "2", "--cpu", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hf_select.cli.main", "score",
                          "--dataset", str(pool), "--model", str(model_dir), "--dtype", "float32",
                          "--cache-dir", str(tmp_path / "cache"), "-o", "show_progress=false",
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "0 shard(s) reused, 5 computed" in run.stdout  # 10 rows -> 5 shards, round-robin over 2 ranks
    cost = json.loads((tmp_path / "out" / "cost.json").read_text())
    cache = next(s["detail"]["cache"] for s in cost["stages"] if s["detail"].get("cache"))
    assert cache["shards"] == 5 and cache["computed"] == [0, 1, 2, 3, 4]
