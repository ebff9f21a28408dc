"""``hf-select plan``: which selector, and how much training, for a compute budget.

Prices each method's selection with the paper's FLOP conventions (perplexity: a forward of the selector over the pool;
LESS: LoRA warm-up, 4 checkpoints of per-example gradients, projection; embedding: 2 N_embed per token; BM25, DSIR,
random: ~0), gives training what selection leaves, and predicts performance with the utility model
``P = ceiling - (ceiling - p0) * exp(-lam * train / train_full)``. Gain rates default to the paper's theory figure
(random 5, bm25 10, perplexity 40, less 80; dsir and embedding 10); ``--runs`` fits them from measured runs instead.

Examples:
    hf-select plan --budget-flops 5e19 --train-params 7e9 --selector-params 1.35e8 --pool-size 270000 \\
        --tokens-per-example 512 --output plan.png
    hf-select plan --gpu-hours 8 --gpu A100 --mfu 0.4 --train-config ./my-model --pool-tokens 1.4e8 --pool-size 270000
    hf-select plan --runs runs.csv --budget-flops 5e19 --train-flops-full 6e19
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from ._common import parse_kv

DEFAULT_METHODS = ("random", "bm25", "embedding", "perplexity", "less")
# all-MiniLM-L6-v2, the embedding model shipped with hf_select (22,713,216 parameters).
DEFAULT_EMBED_PARAMS = 22_713_216
# LESS's setting on Llama-2-7B: LoRA rank 128 on q, k, v, o = 134M of 6.7B parameters, about 2%.
DEFAULT_LORA_FRACTION = 0.02
RUN_FLOP_COLUMNS = ("total_flops", "selection_flops+train_flops")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plan", help="Plan the compute-optimal selector and subset size for a budget.",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-flops", type=float, help="Total budget in FLOPs (selection + training).")
    budget.add_argument("--gpu-hours", type=float, help="Total budget in GPU-hours (with --gpu and --mfu).")
    p.add_argument("--gpu", help="GPU name for --gpu-hours (A100, H100, L4, T4, A10G, ...).")
    p.add_argument("--mfu", type=float, default=0.4, help="Model FLOPs utilisation for --gpu-hours (default 0.4).")
    p.add_argument("--num-gpus", type=int, default=1, help="GPUs the hours are per (default 1).")
    train = p.add_mutually_exclusive_group()
    train.add_argument("--train-params", type=float, help="Parameters of the model to fine-tune.")
    train.add_argument("--train-config", help="config.json (or its folder) of the model to fine-tune.")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--selector-params", type=float, help="Parameters of the selector model (default: the trained one).")
    sel.add_argument("--selector-config", help="config.json (or its folder) of the selector model.")
    p.add_argument("--embed-params", type=float, default=DEFAULT_EMBED_PARAMS,
                   help=f"Parameters of the embedding model (default {DEFAULT_EMBED_PARAMS:,}: all-MiniLM-L6-v2).")
    p.add_argument("--pool-size", type=int, help="Number of examples in the pool.")
    p.add_argument("--tokens-per-example", type=float, help="Mean tokens per pool example.")
    p.add_argument("--pool-tokens", type=float, help="Total tokens in the pool (instead of --tokens-per-example).")
    p.add_argument("--target-size", type=int, default=0, help="Target examples (LESS pays their gradients; default 0).")
    p.add_argument("--lora-params", type=float, help=f"LoRA parameters for LESS (default {100 * DEFAULT_LORA_FRACTION:g}%% "
                                                       "of the selector).")
    p.add_argument("--epochs", type=float, default=1.0, help="Training epochs over the selected data (default 1).")
    p.add_argument("--convention", choices=("6N", "detailed"), default="6N",
                   help="FLOP convention (detailed adds attention; needs configs).")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="Comma-separated methods to compare.")
    p.add_argument("--lam", action="append", metavar="METHOD=RATE", help="Override a gain rate (repeatable).")
    p.add_argument("--p0", type=float, default=0.0, help="Performance with no training (theory mode, default 0).")
    p.add_argument("--ceiling", type=float, help="Full-data performance (default 100; with --runs: best observed).")
    p.add_argument("--runs", help="CSV of measured runs: method, performance, total_flops "
                                  "(or selection_flops and train_flops); fits a utility per method.")
    p.add_argument("--train-flops-full", type=float, help="Training FLOPs of the whole pool (else from the sizes).")
    p.add_argument("--output", default="plan.png", help="Plot file (PNG) to write (default plan.png).")
    p.add_argument("--no-plot", action="store_true", help="Do not write the plot.")
    return p


def _positive(value: Any, option: str) -> float:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a positive number, got {value!r}.")
    return float(value)


def _budget(args: argparse.Namespace) -> float:
    from ..cost.hardware import gpu_hours_to_flops

    if args.budget_flops is not None:
        return _positive(args.budget_flops, "--budget-flops")
    _positive(args.gpu_hours, "--gpu-hours")
    if not args.gpu:
        raise ValueError("--gpu-hours needs --gpu NAME (e.g. A100, H100, L4) to convert hours into FLOPs.")
    return gpu_hours_to_flops(args.gpu_hours, args.gpu, mfu=args.mfu, n_gpus=args.num_gpus)


def _model(params: float | None, config: str | None, option: str) -> Any:
    if config is not None:
        from ..cost.flops import load_config

        return load_config(config)
    if params is not None:
        return _positive(params, option)
    return None


def _pool(args: argparse.Namespace) -> tuple[int, float]:
    n = args.pool_size
    if n is None or n <= 0:
        raise ValueError(f"--pool-size must be a positive number of examples, got {n!r}.")
    if args.pool_tokens is not None and args.tokens_per_example is not None:
        raise ValueError("Give --pool-tokens or --tokens-per-example, not both.")
    if args.pool_tokens is not None:
        return n, _positive(args.pool_tokens, "--pool-tokens")
    if args.tokens_per_example is None:
        raise ValueError("Describe the pool's size in tokens: --tokens-per-example L or --pool-tokens T.")
    return n, n * _positive(args.tokens_per_example, "--tokens-per-example")


def _lengths(n: int, tokens: float, convention: str) -> Any:
    if convention == "6N":
        return tokens
    import numpy as np

    return np.full(n, tokens / n) if n else np.zeros(0)


def _selection_costs(args: argparse.Namespace, methods: list[str], train: Any, n: int, tokens: float) -> dict[str, float]:
    from ..cost import flops as F
    from ..cost.flops import model_spec

    selector = _model(args.selector_params, args.selector_config, "--selector-params") or train
    embed = _positive(args.embed_params, "--embed-params")
    conv = args.convention
    pool = _lengths(n, tokens, conv)
    n_target = args.target_size or 0
    if n_target < 0:
        raise ValueError(f"--target-size must be >= 0, got {n_target}.")
    target = _lengths(n_target, tokens / n * n_target, conv)
    lora = args.lora_params if args.lora_params is not None else DEFAULT_LORA_FRACTION * model_spec(selector).n_params
    costs: dict[str, float] = {}
    for m in methods:
        if m in ("random", "bm25", "dsir"):
            costs[m] = 0.0
        elif m == "embedding":
            # The embedding model is known by its parameter count only: 2 N_embed per token (6N convention).
            costs[m] = sum(s.flops for s in F.embedding_selection_flops(embed, tokens, tokens / n * n_target))
        elif m == "perplexity":
            costs[m] = sum(s.flops for s in F.perplexity_selection_flops(selector, pool, convention=conv))
        elif m == "less":
            costs[m] = sum(s.flops for s in F.less_pipeline_flops(selector, pool, target, lora_params=lora,
                                                                  n_pool=n, n_target=n_target, convention=conv))
        else:
            raise ValueError(f"Unknown method {m!r} without --runs; known: {', '.join(DEFAULT_METHODS)}, dsir.")
    return costs


def read_runs(path: str) -> list[dict[str, Any]]:
    """Rows of a runs CSV as dicts with ``method``, ``flops`` (total), ``performance`` and, when known,
    ``selection_flops``."""
    import csv

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--runs file {path!r} does not exist.")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        has_total = "total_flops" in cols
        has_split = {"selection_flops", "train_flops"} <= cols
        missing = sorted({"method", "performance"} - cols)
        if missing or not (has_total or has_split):
            need = missing + ([] if (has_total or has_split) else ["total_flops (or selection_flops and train_flops)"])
            raise ValueError(f"--runs {path!r} lacks the column(s) {', '.join(need)}; found {sorted(cols)}.")
        rows = []
        for i, r in enumerate(reader, start=2):
            try:
                sel = float(r["selection_flops"]) if has_split and r.get("selection_flops") not in (None, "") else None
                total = float(r["total_flops"]) if has_total and r.get("total_flops") not in (None, "") else (
                    float(r["selection_flops"]) + float(r["train_flops"]))
                rows.append({"method": r["method"].strip(), "flops": total, "performance": float(r["performance"]),
                             "selection_flops": sel})
            except (TypeError, ValueError):
                raise ValueError(f"--runs {path!r} line {i}: FLOPs and performance must be numbers, got {r}.") from None
    if not rows:
        raise ValueError(f"--runs {path!r} has no rows.")
    return rows


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isinf(x)) else f"{x:.3g}"


def print_plan(result: Any, profiles: list[Any], baseline: Any) -> None:
    from ..cost.planner import crossover

    by_name = {p.name: p for p in profiles}
    header = ("method", "lam", "selection FLOPs", "training FLOPs", "fraction", "predicted", "below ceiling",
              f"beats {baseline.name} above", "note")
    rows = []
    for r in result.table:
        p = by_name[r.method]
        cross = None if p is baseline else crossover(baseline, p, train_flops_full=result.train_flops_full)
        rows.append((r.method + (" *" if r.method == result.method else ""), f"{p.lam:.3g}", _fmt(r.selection_flops),
                     _fmt(r.train_flops) if r.feasible else "-", f"{r.fraction:.4f}" if r.feasible else "-",
                     f"{r.predicted:.2f}" if r.feasible else "-",
                     f"{math.exp(p.log_deficit(result.budget_flops, result.train_flops_full)):.2g}" if r.feasible
                     else "-",
                     "-" if p is baseline else ("never" if cross is None else _fmt(cross)),
                     "" if r.feasible else f"excluded: {r.reason}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"\nbudget {result.budget_flops:.4g} FLOPs, full-pool training {result.train_flops_full:.4g} FLOPs")
    print(f"recommended: {result.method} (selection {result.selection_flops:.3g} FLOPs, train on "
          f"{result.fraction:.2%} of the pool, predicted {result.predicted:.2f})")


def run(args: argparse.Namespace) -> int:
    from ..cost.planner import THEORY_GAIN_RATES, MethodProfile, plan, profiles_from_runs

    budget = _budget(args)
    train = _model(args.train_params, args.train_config, "--train-params")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ValueError("--methods is empty.")
    if args.runs is None and train is None:
        raise ValueError("Give the model to train: --train-params N or --train-config PATH (and the pool: --pool-size "
                         "with --tokens-per-example or --pool-tokens), or fit from measured runs with --runs.")
    sized = train is not None and args.pool_size is not None
    n, tokens = _pool(args) if sized or args.runs is None else (0, 0.0)
    if args.train_flops_full is not None:
        full = _positive(args.train_flops_full, "--train-flops-full")
    elif train is None:
        raise ValueError("Give the model to train (--train-params N or --train-config PATH) and the pool "
                         "(--pool-size with --tokens-per-example or --pool-tokens), or --train-flops-full.")
    else:
        from ..cost.flops import train_flops

        full = train_flops(train, _lengths(n, tokens, args.convention), epochs=_positive(args.epochs, "--epochs"),
                           convention=args.convention)
    fits: dict[str, Any] = {}
    if args.runs:
        runs = read_runs(args.runs)
        ceiling = args.ceiling if args.ceiling is not None else max(r["performance"] for r in runs)
        _positive(ceiling, "--ceiling")
        known = _selection_costs(args, [m for m in {r["method"] for r in runs} if m in THEORY_GAIN_RATES], train, n,
                                 tokens) if sized else {}
        fitted = profiles_from_runs(runs, ceiling=ceiling, flops_full=full, selection_flops=known or None)
        profiles = [fitted[m][0] for m in fitted]
        fits = {m: fitted[m][1] for m in fitted}
        for m, model in fits.items():
            print(f"fit {m}: p0={model.p0:.4g} lam={model.lam:.4g} rmse={model.residual:.3g} ({model.n_points} runs)")
    else:
        rates = {**THEORY_GAIN_RATES, **{k: float(v) for k, v in parse_kv(args.lam, "--lam").items()}}
        unknown = [m for m in methods if m not in rates]
        if unknown:
            raise ValueError(f"No gain rate for {unknown}: pass --lam METHOD=RATE.")
        costs = _selection_costs(args, methods, train, n, tokens)
        ceiling = 100.0 if args.ceiling is None else _positive(args.ceiling, "--ceiling")
        profiles = [MethodProfile(m, costs[m], lam=rates[m], p0=args.p0, ceiling=ceiling) for m in methods]
    result = plan(budget, profiles, train_flops_full=full)
    baseline = min(profiles, key=lambda p: (p.selection_flops, p.lam))
    print_plan(result, profiles, baseline)
    if not args.no_plot:
        from ..cost.plots import plot_frontier, plot_plan

        path = plot_plan(profiles, args.output, train_flops_full=full, budget_flops=budget)
        print(f"plot: {path}")
        if args.runs:
            root, ext = os.path.splitext(args.output)
            print(f"runs plot: {plot_frontier(runs, root + '_runs' + (ext or '.png'), fits=fits)}")
    return 0
