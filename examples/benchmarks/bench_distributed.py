# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,assets]"]
# ///
"""Perplexity scoring with 2 processes (torch.distributed, gloo on CPU) vs 1 process: wall time and equality.

Both runs score the same embedded-pool examples with SmolLM2-135M-Instruct through ``hf_select.scoring.pipeline``
(shards split across ranks, all-gathered). Processes are launched the way ``torchrun`` / ``accelerate launch`` do it
(RANK / WORLD_SIZE / MASTER_ADDR environment); each of the 2 ranks gets half of the cores. Printed: wall time of the
scoring step (slowest rank) for each, the speed-up, and the largest score difference between the two runs (the shards
are the same computations, so it is 0 on CPU). ``--out FILE`` appends the row to a CSV (published:
``examples/benchmarks/results/bench_distributed.csv``).

Run:
    python examples/benchmarks/bench_distributed.py --n-examples 200
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from _results import add_out_argument, save_rows  # noqa: E402  (beside this script)

WORKER = r"""
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from hf_select.scoring.distributed import init_distributed
info = init_distributed()
if info.world_size == 1:
    torch.set_num_threads(int(sys.argv[4]))
from hf_select.data.builtin import load_builtin_pool
from hf_select.data.formats import text_view
from hf_select.scoring.engine import NLLConfig
from hf_select.scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path
from hf_select.scoring.pipeline import nll_for_texts
path = smollm2_local_path()
tok = load_tokenizer(path)
model = load_causal_lm(path)
texts = text_view(load_builtin_pool(max_rows=int(sys.argv[1]), seed=0), "full", tokenizer=tok)
if info.world_size > 1:
    torch.distributed.barrier()
start = time.perf_counter()
out = nll_for_texts(model, tok, texts, NLLConfig(show_progress=False), max_length=int(sys.argv[3]),
                    shard_size=int(sys.argv[5]))
seconds = time.perf_counter() - start
with open(os.path.join(sys.argv[2], f"rank{info.rank}.json"), "w") as f:
    json.dump({"seconds": seconds, "scores": out.mean_nll.tolist(), "tokens": out.forward_tokens,
               "threads": torch.get_num_threads()}, f)
if info.world_size > 1:
    torch.distributed.destroy_process_group()
"""


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-examples", type=int, default=200)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--shard-size", type=int, default=16, help="Rows per shard (the unit of work of a rank).")
    add_out_argument(p, "bench_distributed")
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, args: argparse.Namespace, workdir: Path) -> dict:
    out = workdir / f"world{world}"
    out.mkdir()
    script = workdir / "worker.py"
    script.write_text(WORKER)
    port, procs = _free_port(), []
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    for rank in range(world):
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        if world > 1:
            env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS=str(max(1, cores // world)))
        procs.append(subprocess.Popen([sys.executable, str(script), str(args.n_examples), str(out),
                                       str(args.max_length), str(cores), str(args.shard_size)], env=env))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"worker failed with exit code {p.returncode}")
    wall = time.perf_counter() - start
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
    return {"wall": wall, "scoring": max(r["seconds"] for r in ranks), "scores": ranks[0]["scores"],
            "tokens": ranks[0]["tokens"], "threads": ranks[0]["threads"]}


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    import numpy as np
    import torch

    from hf_select.cost.record import hardware_info

    with tempfile.TemporaryDirectory() as tmp:
        one = launch(1, args, Path(tmp))
        print(f"1 process : scoring {one['scoring']:.1f}s (wall incl. loading {one['wall']:.1f}s)", flush=True)
        two = launch(2, args, Path(tmp))
        print(f"2 processes: scoring {two['scoring']:.1f}s (wall incl. loading {two['wall']:.1f}s)", flush=True)
    diff = float(np.nanmax(np.abs(np.array(one["scores"]) - np.array(two["scores"]))))
    speedup = one["scoring"] / two["scoring"]
    print(f"speed-up 2 vs 1 process (scoring): {speedup:.2f}x; max |score difference| = {diff:.2e}; "
          f"tokens {one['tokens']} (1 proc) vs {two['tokens']} (2 procs, summed)")
    hw = hardware_info()
    row = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "processor": hw.get("processor"),
           "cpu_count": hw.get("cpu_count"),
           "load_avg_1m": os.getloadavg()[0], "torch": torch.__version__, "n_examples": args.n_examples,
           "tokens": one["tokens"], "one_proc_s": one["scoring"], "two_proc_s": two["scoring"], "speedup": speedup,
           "one_proc_wall_s": one["wall"], "two_proc_wall_s": two["wall"], "max_abs_diff": diff}
    save_rows(args.out, [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
