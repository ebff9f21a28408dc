# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select", "rank_bm25"]
# ///
"""BM25 on the whole embedded pool: ``rank_bm25.BM25Okapi`` vs hf_select's sparse ``bm25`` selector, in one process.

Both start from the same texts (the query view of every pool row; 50 target queries: the validation target plus the
first rows of its test split) and the same tokenisation (lowercase, delete punctuation, whitespace split).

- Baseline: tokenise, ``BM25Okapi(corpus)``, then ``get_scores(query)`` for each query and the mean over queries
  (what the paper's script does).
- Ours: ``hs.get_selector("bm25").score(pool_texts, target=queries)``: tokenise, one CSR index of saturated term
  weights, one sparse mat-vec for the mean over queries.

Printed: seconds of each side (end to end, and scoring alone), the speed ratio (goal >= 20x end to end) and the max
relative difference of the scores (must be < 1e-6). With ``--out FILE`` the row is appended to a CSV (the published
one: ``examples/benchmarks/results/bench_bm25.csv``) with machine and versions; the 1-minute load average is recorded
too, since the ratio moves with CPU contention.

Run:  python examples/benchmarks/bench_bm25.py [--max-rows N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import string
import time

import numpy as np

from _results import add_out_argument, run_info, save_rows  # noqa: E402  (beside this script)

N_QUERIES = 50
_TABLE = str.maketrans("", "", string.punctuation)


def paper_tokenize(text: str) -> list[str]:
    return text.lower().translate(_TABLE).split()


def load_texts(max_rows: int | None) -> tuple[list[str], list[str]]:
    from hf_select.data.builtin import load_builtin_pool, load_builtin_target
    from hf_select.data.formats import text_view

    pool = load_builtin_pool(max_rows=max_rows)
    queries = text_view(load_builtin_target("validation"), "query") + text_view(load_builtin_target("test"), "query")
    return text_view(pool, "query"), queries[:N_QUERIES]


def run_rank_bm25(docs: list[str], queries: list[str]) -> tuple[np.ndarray, float, float]:
    from rank_bm25 import BM25Okapi

    start = time.perf_counter()
    model = BM25Okapi([paper_tokenize(d) for d in docs])
    built = time.perf_counter()
    scores = np.mean([model.get_scores(paper_tokenize(q)) for q in queries], axis=0)
    done = time.perf_counter()
    return scores, done - start, done - built


def run_ours(docs: list[str], queries: list[str]) -> tuple[np.ndarray, float, float]:
    import hf_select as hs

    sel = hs.get_selector("bm25")
    start = time.perf_counter()
    scores = sel.score(docs, target=queries)
    total = time.perf_counter() - start
    score_only = sum(s.seconds for s in sel.last_cost.stages if s.name == "score")
    return scores, total, score_only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-rows", type=int, default=None, help="Subsample the pool (default: the whole pool).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs of ours (the minimum is reported).")
    parser.add_argument("--baseline-repeats", type=int, default=1, help="Timed runs of rank_bm25.")
    add_out_argument(parser, "bench_bm25")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    docs, queries = load_texts(args.max_rows)
    print(f"pool: {len(docs):,} texts, {len(queries)} queries")
    run_ours(docs[:100], queries)  # warm-up (imports scipy)
    base_runs, our_runs = [], []
    for i in range(max(args.repeats, args.baseline_repeats)):  # interleaved, so both see the same machine load
        if i < args.baseline_repeats:
            base_runs.append(run_rank_bm25(docs, queries))
        if i < args.repeats:
            our_runs.append(run_ours(docs, queries))
    ref, base_total, base_score = min(base_runs, key=lambda r: r[1])
    ours, our_total, our_score = min(our_runs, key=lambda r: r[1])
    rel = float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-12)))
    ratio, score_ratio = base_total / our_total, base_score / max(our_score, 1e-9)
    load = os.getloadavg()[0]
    print(f"rank_bm25 BM25Okapi: {base_total:8.3f} s  (index + {len(queries)} x get_scores: {base_score:.3f} s)")
    print(f"hf_select bm25     : {our_total:8.3f} s  (sparse scoring: {our_score:.4f} s)")
    print(f"speed ratio end to end: {ratio:.1f}x (goal >= 20x); scoring alone: {score_ratio:.0f}x")
    print(f"max relative score difference: {rel:.2e} (goal < 1e-6); load average {load:.1f}")

    row = {
        **run_info("rank-bm25", "numpy", "scipy"),
        "n_docs": len(docs), "n_queries": len(queries), "repeats": args.repeats,
        "rank_bm25_seconds": round(base_total, 4), "rank_bm25_score_seconds": round(base_score, 4),
        "ours_seconds": round(our_total, 4), "ours_score_seconds": round(our_score, 5),
        "speed_ratio": round(ratio, 2), "score_speed_ratio": round(score_ratio, 1), "max_rel_diff": rel,
    }
    save_rows(args.out, [row])
    return 0 if rel < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
