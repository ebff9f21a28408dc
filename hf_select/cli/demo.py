"""``hf-select demo``: cheap selectors on the embedded pool against its target task, side by side.

Runs each selector (default: bm25, embedding, dsir, random) on the embedded pool (docstrings of installed packages as
instruction pairs, see docs/builtin_pool.md) for the embedded target task, then prints a comparison table (share of the
target domain in the subset, domain mix, seconds, FLOPs) and the pairwise overlap of the selections, and writes each
selection (folder, subset, cost) plus ``summary.json`` under ``--output``.

By default it runs on a stratified subset of 10,000 pool rows (every domain keeps its share), so the whole demo, the
embedding selector included, takes about 1.5 minutes on 2 CPU cores once the pool is built; ``--max-rows 0`` uses
the whole pool (~50k rows: about 4 minutes).

Example:
    hf-select demo --output demo_output --fraction 0.1
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

from ._common import add_output_args, check_output, output_dir, write_json

DEFAULT_SELECTORS = ("bm25", "embedding", "dsir", "random")
DEFAULT_MAX_ROWS = 10_000  # stratified subset of the embedded pool: keeps the demo near 1.5 minutes on 2 cores


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="Compare cheap selectors on the embedded pool.", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--selectors", nargs="+", default=list(DEFAULT_SELECTORS), help="Selectors to compare.")
    p.add_argument("--fraction", type=float, default=0.1, help="Fraction of the pool each selector keeps.")
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                   help=f"Rows of the pool to use: a deterministic stratified subsample (default {DEFAULT_MAX_ROWS:,}; "
                        "0 = the whole pool).")
    p.add_argument("--seed", type=int, default=0)
    add_output_args(p, "Output folder: one selection per selector and summary.json.", default="demo_output")
    return p


def overlap(a, b) -> float:
    """Jaccard overlap of two index sets."""
    sa, sb = set(map(int, a)), set(map(int, b))
    return len(sa & sb) / max(len(sa | sb), 1)


def domain_share(domains: list[str], indices, domain: str) -> float:
    return sum(1 for i in indices if domains[int(i)] == domain) / max(len(indices), 1)


def run(args: argparse.Namespace) -> int:
    from ..data.builtin import load_builtin_pool, load_builtin_target
    from ..selection import select
    from .select import write_outputs

    check_output(args)  # before any work: the output, the selector names, the fraction
    from ..config import SelectionConfig
    from ..selectors.base import get_selector_class

    for name in args.selectors:
        get_selector_class(name)
    SelectionConfig(fraction=args.fraction)
    pool = load_builtin_pool(max_rows=args.max_rows or None, seed=args.seed)
    target = load_builtin_target("validation")
    target_domain = target[0]["domain"]
    domains = pool["domain"]
    print(f"pool: {pool.num_rows} rows in {len(set(domains))} domains; target: {target.num_rows} examples of "
          f"'{target_domain}' ({domain_share(domains, range(len(domains)), target_domain):.1%} of the pool)")
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with output_dir(args, "cli-demo") as tmp:
        for name in args.selectors:
            res = select(pool, name, target=target, fraction=args.fraction, seed=args.seed)
            results[name] = res
            write_outputs(res, os.path.join(tmp, name))
            mix = Counter(domains[int(i)] for i in res.indices).most_common(3)
            rows.append({
                "selector": name, "k": res.k, "target_share": domain_share(domains, res.indices, target_domain),
                "seconds": res.cost.seconds, "flops": res.cost.flops,
                "top_domains": ", ".join(f"{d} {c / res.k:.0%}" for d, c in mix),
            })
        names = list(results)
        overlaps = {f"{a}~{b}": overlap(results[a].indices, results[b].indices)
                    for i, a in enumerate(names) for b in names[i + 1:]}
        write_json(os.path.join(tmp, "summary.json"), {"pool_rows": pool.num_rows, "target_domain": target_domain,
                                                       "fraction": args.fraction, "selectors": rows,
                                                       "overlap_jaccard": overlaps})
    print(format_table(rows, target_domain))
    if overlaps:
        print("\noverlap (Jaccard) between selections:")
        for pair, value in overlaps.items():
            print(f"  {pair:<24} {value:.3f}")
    print(f"\nwrote {os.path.abspath(args.output)}")
    return 0


def format_table(rows: list[dict[str, Any]], target_domain: str) -> str:
    head = f"{'selector':<11} {'k':>6} {target_domain + ' share':>14} {'seconds':>8} {'FLOPs':>10}  top domains"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['selector']:<11} {r['k']:>6} {r['target_share']:>14.1%} {r['seconds']:>8.2f} "
                     f"{r['flops']:>10.3g}  {r['top_domains']}")
    return "\n".join(lines)
