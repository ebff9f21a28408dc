# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select", "matplotlib"]
# ///
"""Scaling of selection: time and peak memory of the in-memory and the streamed path as the pool grows.

The embedded pool (~50k rows) is replicated 1x / 4x / 16x / 64x (~3.2M rows) as parquet shards (one file per copy) in
a work folder (a temporary folder unless ``--work-dir``; never the repository). For ``bm25``, ``dsir`` and
``random`` (and ``embedding`` on a smaller ladder of row counts), each configuration runs in its own subprocess,
which reports the wall time of ``hs.select(<shards>, selector, k=1000, streaming=...)`` and its peak RSS:

- ``memory``: ``streaming=False``: the shards are loaded with ``datasets`` (Arrow, memory-mapped) and scored in one
  piece (skipped above ``--max-memory-scale``, where it needs more memory than a small machine has);
- ``stream``: ``streaming=True``: shards of ``--shard-size`` rows, two passes for bm25 / dsir, a fresh cache.

Replicas repeat the same texts, so the BM25 vocabulary and the DSIR n-gram memo stop growing after 1x; on real data
they grow with the number of distinct terms (sub-linearly in the rows).

Goals (issue 12): streaming peak RSS flat (<= 1.5x from 1x to 16x), time linear in the rows, BM25 >= 40k and DSIR
>= 20k rows/s on 2 cores, and the streamed path within 1.5x of the in-memory path's time. The summary prints each.

Results: a CSV (``--out``, appended; printed otherwise) with machine, versions and load average, and a log-log plot
(``--plot``, default ``<work-dir>/bench_scale.png``). Timings move with CPU contention: measure on a quiet machine.

Run (the full ladder, ~1 hour on 2 cores; copies are hard links, the in-memory path's Arrow cache needs ~1 GB):
    python examples/benchmarks/bench_scale.py --scales 1 4 16 64 --embedding-rows 2000 8000 \\
        --out examples/benchmarks/results/bench_scale.csv --plot examples/benchmarks/results/bench_scale.png
Quick check:  python examples/benchmarks/bench_scale.py --scales 1 4 --embedding-rows 0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

K = 1000
GOAL_RSS_RATIO, GOAL_TIME_RATIO = 1.5, 1.5
GOAL_RSS_MAX_SCALE = 16  # the flat-memory goal is stated from 1x to 16x; larger rungs are reported beside it
GOAL_ROWS_PER_S = {"bm25": 40_000, "dsir": 20_000}


from _results import add_out_argument, save_rows  # noqa: E402  (beside this script)

def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=int, nargs="+", default=[1, 4], help="Copies of the embedded pool (1 4 16 64).")
    p.add_argument("--selectors", nargs="+", default=["bm25", "dsir", "random"])
    p.add_argument("--embedding-rows", type=int, nargs="*", default=[2000],
                   help="Row counts of the embedding ladder (0 or none: skip the embedding selector).")
    p.add_argument("--paths", nargs="+", default=["memory", "stream"], choices=["memory", "stream"])
    p.add_argument("--max-memory-scale", type=int, default=16, help="Largest scale run on the in-memory path.")
    p.add_argument("--shard-size", type=int, default=10_000, help="Rows per shard of the streamed path.")
    p.add_argument("--num-proc", default="1", help="StreamConfig.num_proc of the streamed path (an int or 'auto').")
    p.add_argument("--work-dir", help="Folder for the replicated pools and caches (default: a temporary folder, "
                                      "removed at the end).")
    add_out_argument(p, "bench_scale")
    p.add_argument("--plot", help="Write the log-log plot here (default: <work-dir>/bench_scale.png).")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p


# -- one configuration, in its own process --------------------------------------------------------------------------
def run_child(spec: dict) -> dict:
    import resource

    import hf_select as hs
    from hf_select.data.builtin import load_builtin_target

    target = load_builtin_target("validation")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    num_proc = spec.get("num_proc", 1)
    config = hs.streaming.StreamConfig(shard_size=spec["shard_size"], cache_dir=spec["cache_dir"], resume=False,
                                       show_progress=False, num_proc=num_proc if num_proc == "auto" else int(num_proc))
    start, cpu_start = time.perf_counter(), time.process_time()
    res = hs.select(spec["glob"], spec["selector"], target=target, k=K, streaming=spec["path"] == "stream",
                    stream_config=config)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "rows": len(res.scores),
            "peak_rss_mib": round(peak, 1), "rss_before_mib": round(before, 1),
            "rows_per_second": round(len(res.scores) / seconds), "rows_per_cpu_second": round(len(res.scores) / cpu)}


def measure(spec: dict, work: Path) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": str(work / "hf_datasets_cache"), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"configuration {spec} failed:\n{proc.stderr[-3000:]}")
    shutil.rmtree(spec["cache_dir"], ignore_errors=True)
    shutil.rmtree(work / "hf_datasets_cache", ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- pools ---------------------------------------------------------------------------------------------------------
def replicated_pool(work: Path, scale: int) -> str:
    """``scale`` copies of the embedded pool as parquet files; returns their glob."""
    folder = work / f"pool-{scale}x"
    if not folder.exists():
        from hf_select.data.builtin import load_builtin_pool

        part = folder.with_suffix(".tmp")
        part.mkdir(parents=True, exist_ok=True)
        first = part / "part-00000.parquet"
        load_builtin_pool().to_parquet(str(first))
        for i in range(1, scale):  # hard links: 64 copies cost the disk of one
            try:
                os.link(first, part / f"part-{i:05d}.parquet")
            except OSError:
                shutil.copy(first, part / f"part-{i:05d}.parquet")
        part.rename(folder)
    return str(folder / "*.parquet")


def sliced_pool(work: Path, rows: int) -> str:
    folder = work / f"pool-{rows}rows"
    if not folder.exists():
        from hf_select.data.builtin import load_builtin_pool

        folder.mkdir(parents=True)
        load_builtin_pool().select(range(rows)).to_parquet(str(folder / "part-00000.parquet"))
    return str(folder / "*.parquet")


# -- report --------------------------------------------------------------------------------------------------------
def summarize(rows: list[dict]) -> list[str]:
    lines = []
    by = {(r["selector"], r["path"], r["scale"]): r for r in rows}
    for sel in sorted({r["selector"] for r in rows}):
        stream = sorted((r for r in rows if r["selector"] == sel and r["path"] == "stream"), key=lambda r: r["rows"])
        in_goal = [r for r in stream if r["scale"] <= GOAL_RSS_MAX_SCALE]
        if len(in_goal) >= 2:
            a, b = in_goal[0], in_goal[-1]
            rss = b["peak_rss_mib"] / a["peak_rss_mib"]
            per_row = (b["seconds"] / b["rows"]) / (a["seconds"] / a["rows"])
            lines.append(f"{sel}: streaming peak RSS x{rss:.2f} from {a['rows']} to {b['rows']} rows "
                         f"(goal <= {GOAL_RSS_RATIO} up to {GOAL_RSS_MAX_SCALE}x): "
                         f"{'ok' if rss <= GOAL_RSS_RATIO else 'MISSED'}; seconds per row x{per_row:.2f} "
                         "(linear time: ~1)")
        if stream and stream[-1]["scale"] > GOAL_RSS_MAX_SCALE:
            a, b = stream[0], stream[-1]
            lines.append(f"{sel}: beyond the goal's range, peak RSS x{b['peak_rss_mib'] / a['peak_rss_mib']:.2f} and "
                         f"seconds per row x{(b['seconds'] / b['rows']) / (a['seconds'] / a['rows']):.2f} from "
                         f"{a['rows']} to {b['rows']} rows")
        if sel in GOAL_ROWS_PER_S and stream:
            best = max(r["rows_per_second"] for r in stream)
            cpu = max(r["rows_per_cpu_second"] for r in stream)
            goal = GOAL_ROWS_PER_S[sel]
            lines.append(f"{sel}: streaming {best:,} rows/s wall, {cpu:,} per CPU second (goal >= {goal:,} wall on "
                         f"an idle machine): {'ok' if best >= goal else 'MISSED'}")
        for r in stream:
            mem = by.get((sel, "memory", r["scale"]))
            if mem:
                ratio = r["seconds"] / mem["seconds"]
                lines.append(f"{sel} at {r['rows']} rows: streamed / in-memory time x{ratio:.2f} "
                             f"(goal <= {GOAL_TIME_RATIO}): {'ok' if ratio <= GOAL_TIME_RATIO else 'MISSED'}")
    return lines


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (sel, mode) in sorted({(r["selector"], r["path"]) for r in rows}):
        pts = sorted((r for r in rows if r["selector"] == sel and r["path"] == mode), key=lambda r: r["rows"])
        style = "-o" if mode == "stream" else "--s"
        for ax, key in zip(axes, ("seconds", "peak_rss_mib")):
            ax.plot([p["rows"] for p in pts], [p[key] for p in pts], style, label=f"{sel} ({mode})")
    for ax, label in zip(axes, ("wall time (s)", "peak RSS (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pool rows")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle("hf_select selection: in memory vs streamed")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    from _results import run_info

    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="hf_select-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    info = run_info("datasets", "numpy", "pyarrow")
    plans = [(sel, scale, replicated_pool(work, scale)) for scale in args.scales for sel in args.selectors]
    plans += [("embedding", rows / 50_654, sliced_pool(work, rows)) for rows in args.embedding_rows if rows > 0]
    results = []
    try:
        for sel, scale, pattern in plans:
            for mode in args.paths:
                if mode == "memory" and scale > args.max_memory_scale:
                    continue
                spec = {"selector": sel, "path": mode, "glob": pattern, "shard_size": args.shard_size,
                        "num_proc": args.num_proc,
                        "cache_dir": str(work / f"cache-{sel}-{mode}-{scale}")}
                got = measure(spec, work)
                row = {"selector": sel, "path": mode, "scale": round(scale, 4), **got,
                       "shard_size": args.shard_size, "k": K, **info, "load_avg_1m": round(os.getloadavg()[0], 2)}
                results.append(row)
                print(f"{sel:9s} {mode:6s} {row['rows']:>9,} rows  {row['seconds']:8.2f} s  "
                      f"{row['rows_per_second']:>9,} rows/s ({row['rows_per_cpu_second']:>9,} per CPU s)  "
                      f"peak {row['peak_rss_mib']:8.1f} MiB  (load {row['load_avg_1m']})", flush=True)
        print("\n".join(["", "goals:", *summarize(results)]))
        save_rows(args.out, results)
        plot_path = args.plot or str(work / "bench_scale.png")
        plot(results, plot_path)
        print(f"plot: {plot_path}")
    finally:
        if not args.work_dir:  # the replicated pools go; the plot stays
            for folder in work.glob("pool-*"):
                shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
