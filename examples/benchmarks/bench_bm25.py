# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select", "rank_bm25", "scikit-learn", "bm25s"]
# ///
"""BM25 over the whole embedded pool: rank_bm25, a competent scikit-learn version, hf_select; three figures.

All methods score the query view of every pool row against 50 target queries (the validation target plus the first
rows of its test split), mean over queries, with the same tokenisation (lowercase, delete punctuation, whitespace
split) and rank_bm25's Okapi formula (``k1=1.5, b=0.75``, negative idf floored at ``0.25 x`` the mean idf):

- ``naive``: ``rank_bm25.BM25Okapi(corpus)`` and one ``get_scores(query)`` per query (what the paper's script does).
- ``competent``: what a careful user writes with scikit-learn: ``CountVectorizer`` (same tokeniser) for the term
  counts, the Okapi weights computed once on the sparse matrix, and one sparse product with the query-term counts.
- ``competent_bm25s`` (when ``bm25s`` is installed, it is in the ``dev`` extra): the fast library a careful user
  picks today, ``bm25s.BM25(method="robertson", idf_method="robertson")`` indexed on the same tokens, one
  ``get_scores`` per query. Its Okapi variant is not rank_bm25's (negative idf clamped to 0 instead of floored at
  ``0.25 x`` the mean idf, no ``k1 + 1`` factor), so it is compared on speed and on rank agreement (Spearman) only.
- ``ours``: ``hs.get_selector("bm25").score(pool_texts, target=queries)``.

Three figures per method: speed against ``naive`` and against ``competent`` (end to end, tokenising included), and
the share of the *physical limit* reached: BM25 does no matmul work to speak of, and no implementation can avoid
tokenising every text once, so the limit is the measured time of that one tokenising pass (``floor / seconds``).
Agreement: max relative difference of the scores from rank_bm25's (must be < 1e-6, except ``competent_bm25s``: its
Spearman with rank_bm25 is printed). Nothing is written unless ``--out FILE`` is given.

Run (the README figures):  python examples/benchmarks/bench_bm25.py --repeats 3 --out /tmp/bench_bm25.csv
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import string
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _results import add_out_argument  # noqa: E402  (beside this script)

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


def run_rank_bm25(docs: list[str], queries: list[str]) -> np.ndarray:
    from rank_bm25 import BM25Okapi

    model = BM25Okapi([paper_tokenize(d) for d in docs])
    return np.mean([model.get_scores(paper_tokenize(q)) for q in queries], axis=0)


def run_sklearn(docs: list[str], queries: list[str], k1: float = 1.5, b: float = 0.75, eps: float = 0.25):
    """The competent version: CountVectorizer + the Okapi weights on the sparse matrix + one sparse product."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(tokenizer=paper_tokenize, lowercase=False, token_pattern=None)
    tf = vec.fit_transform(docs).tocsr().astype(np.float64)
    df = np.bincount(tf.indices, minlength=tf.shape[1])
    idf = np.log(tf.shape[0] - df + 0.5) - np.log(df + 0.5)
    idf[idf < 0] = eps * idf.mean()
    doc_len = np.asarray(tf.sum(1)).ravel()
    norm = np.repeat(k1 * (1 - b + b * doc_len / doc_len.mean()), np.diff(tf.indptr))
    tf.data = idf[tf.indices] * tf.data * (k1 + 1) / (tf.data + norm)
    q = vec.transform(queries)  # query-term counts (a repeated query term counts once per occurrence)
    return np.asarray((tf @ q.T).mean(1)).ravel()


def run_bm25s(docs: list[str], queries: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """bm25s (Robertson's Okapi variant) on the same tokens; mean of the per-query scores."""
    import bm25s

    model = bm25s.BM25(k1=k1, b=b, method="robertson", idf_method="robertson")
    model.index([paper_tokenize(d) for d in docs], show_progress=False)
    return np.mean([model.get_scores(paper_tokenize(q)) for q in queries], axis=0)


def run_ours(docs: list[str], queries: list[str]) -> np.ndarray:
    import hf_select as hs

    return hs.get_selector("bm25").score(docs, target=queries)


def tokenize_floor(docs: list[str], queries: list[str]) -> None:
    for text in docs:
        paper_tokenize(text)
    for text in queries:
        paper_tokenize(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-rows", type=int, default=None, help="Subsample the pool (default: the whole pool).")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved rounds (best time kept).")
    add_out_argument(parser, "bench_bm25")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from _bench import interleave, ratio, write_csv
    from scipy.stats import spearmanr

    docs, queries = load_texts(args.max_rows)
    print(f"pool: {len(docs):,} texts, {len(queries)} queries; load average {os.getloadavg()[0]:.1f}", flush=True)
    run_ours(docs[:100], queries)  # warm-up (imports scipy)
    run_sklearn(docs[:100], queries)
    methods = {"naive": lambda: run_rank_bm25(docs, queries), "competent": lambda: run_sklearn(docs, queries)}
    if importlib.util.find_spec("bm25s") is not None:
        run_bm25s(docs[:100], queries)
        methods["competent_bm25s"] = lambda: run_bm25s(docs, queries)
    else:
        print("bm25s is not installed (pip install bm25s): competent is the scikit-learn version only")
    methods["ours"] = lambda: run_ours(docs, queries)
    methods["floor_tokenize_once"] = lambda: tokenize_floor(docs, queries)
    timings = interleave(methods, args.repeats)
    floor = timings.pop("floor_tokenize_once").wall
    ref = timings["naive"].output
    rows, worst = [], 0.0
    print(f"\n{'method':16s} {'seconds':>9s} {'x naive':>8s} {'x compet.':>9s} {'% limit':>8s}  agreement")
    for name, t in timings.items():
        rel = float(np.max(np.abs(t.output - ref) / np.maximum(np.abs(ref), 1e-12)))
        rho = float(spearmanr(t.output, ref).statistic)
        exact = name != "competent_bm25s"  # bm25s scores another Okapi variant: ranks only
        worst = max(worst, rel) if exact else worst
        row = {"method": name, "seconds": t.wall, "cpu_s": t.cpu, "x_naive": ratio(timings["naive"].wall, t.wall),
               "x_competent": ratio(timings["competent"].wall, t.wall), "limit_fraction": floor / t.wall,
               "max_rel_diff": rel, "spearman_vs_rank_bm25": rho}
        rows.append(row)
        agree = f"max rel. diff {rel:.1e}" if exact else f"Spearman vs rank_bm25 {rho:.4f} (another variant)"
        print(f"{name:16s} {t.wall:9.3f} {row['x_naive']:7.2f}x {row['x_competent']:8.2f}x "
              f"{100 * floor / t.wall:7.1f}%  {agree}")
    print(f"limit: one tokenising pass over pool + queries = {floor:.3f} s; load average {os.getloadavg()[0]:.1f}")
    write_csv(args.out, [{"n_docs": len(docs), "n_queries": len(queries), "repeats": args.repeats,
                          "floor_seconds": floor, **r} for r in rows], "rank-bm25", "bm25s", "scikit-learn", "numpy",
              "scipy")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
