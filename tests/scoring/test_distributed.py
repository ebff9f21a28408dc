"""Two processes (gloo, CPU) give the same scores as one; each rank computes only its shards."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

WORKER = r"""
import json, os, sys
import numpy as np
import torch
from hf_select.scoring.distributed import init_distributed
from hf_select.scoring.engine import NLLConfig
from hf_select.testing import tiny_llama
from hf_select.scoring.pipeline import nll_for_texts
from hf_select.testing import toy_tokenizer

info = init_distributed()
texts = [f"text {i}: " + "abc " * (i % 9) for i in range(13)]
out = nll_for_texts(tiny_llama(vocab_size=128, seed=0), toy_tokenizer(), texts,
                    NLLConfig(dtype="float32", show_progress=False), cache_dir=sys.argv[1], shard_size=2)
with open(os.path.join(sys.argv[2], f"rank{info.rank}.json"), "w") as f:
    json.dump({"sum": out.sum_nll.tolist(), "n": out.num_targets.tolist(), "cache": out.cache,
               "world": info.world_size, "tokens": out.forward_tokens}, f)
if info.world_size > 1:
    torch.distributed.destroy_process_group()
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, world, tag):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / tag
    out.mkdir()
    port = _free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), HF_HUB_OFFLINE="1",
                   OMP_NUM_THREADS="1")
        if world == 1:
            for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
                env.pop(k)
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"cache-{tag}"), str(out)], env=env))
    try:
        for p in procs:
            assert p.wait(timeout=300) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]


def test_two_processes_equal_one(tmp_path):
    single = _launch(tmp_path, 1, "one")[0]
    r0, r1 = _launch(tmp_path, 2, "two")
    assert r0["world"] == r1["world"] == 2
    np.testing.assert_allclose(r0["sum"], single["sum"], rtol=0, atol=1e-9)
    assert r0["sum"] == r1["sum"] and r0["n"] == single["n"]
    assert r0["cache"]["computed"] == list(range(7))  # all shards, computed by two ranks
    assert r0["tokens"] == single["tokens"]
    shards = sorted(os.listdir(r0["cache"]["dir"]))
    assert len([s for s in shards if s.startswith("shard-")]) == 7
