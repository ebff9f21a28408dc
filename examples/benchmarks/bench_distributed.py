# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,assets]"]
# ///
"""Perplexity scoring on 2 processes: 1 process, two hand-split halves, hf_select's torch.distributed shards.

All runs score the same embedded-pool rows with SmolLM2-135M-Instruct through ``hf_select.scoring.pipeline``:

- ``naive``: one process with all the cores.
- ``competent``: what a user does without multi-process support: split the rows in two halves by hand and run two
  independent processes (half of the cores each), then concatenate the scores (``xargs -P 2`` style).
- ``ours``: two ranks launched the way ``torchrun`` / ``accelerate launch`` do it (RANK / WORLD_SIZE / MASTER_ADDR;
  gloo on CPU), half of the cores each; shards of ``--shard-size`` rows are dealt to ranks and all-gathered.

Three figures: scoring wall time (slowest process) against ``naive`` and ``competent``, and the share of the physical
limit, perfect scaling (``speed-up over naive / number of processes``). Agreement: the largest score difference from
the 1-process run: 0 for ``ours`` (the shards are the same computations); bf16 noise (~1e-2) for ``competent``, whose
halves batch the rows differently. Nothing is written unless ``--out FILE``.

Run (the README figures):
    python examples/benchmarks/bench_distributed.py --n-examples 200 --out /tmp/bench_distributed.csv
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

sys.path.insert(0, str(Path(__file__).parent))

from _results import add_out_argument  # noqa: E402  (beside this script)

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
lo, hi = (int(x) for x in sys.argv[6].split(":"))
texts = texts[lo:hi]
if info.world_size > 1:
    torch.distributed.barrier()
start = time.perf_counter()
out = nll_for_texts(model, tok, texts, NLLConfig(show_progress=False), max_length=int(sys.argv[3]),
                    shard_size=int(sys.argv[5]))
seconds = time.perf_counter() - start
with open(os.path.join(sys.argv[2], f"rank{os.environ.get('RANK_OUT', info.rank)}.json"), "w") as f:
    json.dump({"seconds": seconds, "scores": [None if x != x else x for x in out.mean_nll.tolist()],
               "tokens": out.forward_tokens,
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


def launch(world: int, args: argparse.Namespace, workdir: Path, *, split: bool = False) -> dict:
    """``world`` processes: ranks of one torch.distributed job, or (``split``) independent halves of the rows."""
    out = workdir / f"world{world}{'split' if split else ''}"
    out.mkdir()
    script = workdir / "worker.py"
    script.write_text(WORKER)
    port, procs = _free_port(), []
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    for rank in range(world):
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        rows = f"0:{args.n_examples}"
        if split:
            size = -(-args.n_examples // world)
            rows = f"{rank * size}:{min((rank + 1) * size, args.n_examples)}"
            env.update(RANK_OUT=str(rank))
        elif world > 1:
            env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS=str(max(1, cores // world)))
        procs.append(subprocess.Popen([sys.executable, str(script), str(args.n_examples), str(out),
                                       str(args.max_length), str(max(1, cores // world)), str(args.shard_size),
                                       rows], env=env))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"worker failed with exit code {p.returncode}")
    wall = time.perf_counter() - start
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
    scores = [x for r in ranks for x in r["scores"]] if split else ranks[0]["scores"]
    return {"wall": wall, "scoring": max(r["seconds"] for r in ranks), "scores": scores,
            "tokens": sum(r["tokens"] for r in ranks) if split else ranks[0]["tokens"], "threads": ranks[0]["threads"]}


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    import numpy as np

    from _bench import ratio, write_csv

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, world, split in (("naive", 1, False), ("competent", 2, True), ("ours", 2, False)):
            runs[name] = launch(world, args, Path(tmp), split=split)
            print(f"{name:10s} scoring {runs[name]['scoring']:7.1f} s (wall incl. loading {runs[name]['wall']:.1f} s)",
                  flush=True)
    ref = np.array(runs["naive"]["scores"], dtype=float)
    rows = []
    print(f"\n{'method':10s} {'seconds':>8s} {'x naive':>8s} {'x compet.':>9s} {'% linear':>9s}  max |diff| vs 1 proc")
    for name, r in runs.items():
        world = 1 if name == "naive" else 2
        diff = float(np.nanmax(np.abs(np.array(r["scores"], dtype=float) - ref)))
        x_naive = ratio(runs["naive"]["scoring"], r["scoring"])
        row = {"method": name, "processes": world, "seconds": r["scoring"], "wall_s": r["wall"], "x_naive": x_naive,
               "x_competent": ratio(runs["competent"]["scoring"], r["scoring"]), "linear_fraction": x_naive / world,
               "max_abs_diff": diff, "tokens": r["tokens"]}
        rows.append(row)
        print(f"{name:10s} {r['scoring']:8.1f} {x_naive:7.2f}x {row['x_competent']:8.2f}x {100 * x_naive / world:8.0f}%"
              f"  {diff:.1e}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    write_csv(args.out, [{"n_examples": args.n_examples, "max_length": args.max_length, "shard_size": args.shard_size,
                          **r} for r in rows], "torch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
