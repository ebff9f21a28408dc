"""``hf-select plan``: which selector, and how much training, for a compute budget.

Prices each method with :func:`hf_select.cost.profiles.default_profiles` (the one method -> selection FLOPs map the
Space uses too), gives training what selection leaves, and predicts performance with the utility model
``P = ceiling - (ceiling - p0) * exp(-lam * train / train_full)``. Training FLOPs follow one convention, printed with
the table: ``--train-convention full`` (6N per token, the paper's) or ``lora`` (4N + 6L). Gain rates default to the
paper's theory figure (random 5, bm25 10, perplexity 40, less 80; dsir and embedding 10); ``--runs`` fits them from
measured runs instead (the CSV ``examples/sweep.py`` writes: its ``base`` row is the zero-training point P0, its
``full`` row the full-data performance and F). When the budget covers training on the whole pool the answer is "no
selection". ``--size-ratios`` adds the break-even training-to-selector size ratios by budget (the paper's 5x / 10x).

Examples:
    hf-select plan --budget-flops 5e19 --train-params 7e9 --selector-params 1.35e8 --pool-size 270000 \\
        --tokens-per-example 512 --output plan.png
    hf-select plan --gpu-hours 8 --gpu A100 --mfu 0.4 --train-config ./my-model --pool-tokens 1.4e8 --pool-size 270000
    hf-select plan --runs runs/sweep/sweep.csv --budget-flops 5e13 --size-ratios
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from ._common import parse_kv

# Defaults come from hf_select.cost.profiles (imported lazily); repeated here only as help text.
_DEFAULT_METHODS = "random,bm25,embedding,perplexity,less"


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
    p.add_argument("--embed-params", type=float, help="Parameters of the embedding model (default 22,713,216: "
                                                      "all-MiniLM-L6-v2).")
    p.add_argument("--pool-size", type=int, help="Number of examples in the pool.")
    p.add_argument("--tokens-per-example", type=float, help="Mean tokens per pool example.")
    p.add_argument("--pool-tokens", type=float, help="Total tokens in the pool (instead of --tokens-per-example).")
    p.add_argument("--target-size", type=int, default=0, help="Target examples (LESS pays their gradients; default 0).")
    p.add_argument("--train-convention", choices=("full", "lora"),
                   help="Training FLOPs: 'full' (6N per token, the paper's convention; the default) or 'lora' "
                        "(4N + 6L per token). Prices training and every forward+backward of a selection. With --runs, "
                        "the default is the runs file's own.")
    p.add_argument("--lora-params", type=float, help="LoRA parameters of LESS's selector (default 2%% of it).")
    p.add_argument("--train-lora-params", type=float, help="LoRA parameters of the training, for "
                                                           "--train-convention lora (default 2%% of the model).")
    p.add_argument("--less-checkpoints", type=int, default=4,
                   help="LESS checkpoints = warm-up epochs (default 4, the paper's).")
    p.add_argument("--less-projection", choices=("rademacher", "gaussian", "sparse_sign"), default="rademacher",
                   help="LESS's gradient projection: dense 'rademacher' as in the paper (default) or 'sparse_sign' "
                        "as hf_select's selector runs by default.")
    p.add_argument("--epochs", type=float, default=1.0, help="Training epochs over the selected data (default 1).")
    p.add_argument("--convention", choices=("6N", "detailed"), default="6N",
                   help="What N is: all parameters ('6N') or matmul parameters plus attention ('detailed'; needs "
                        "configs).")
    p.add_argument("--methods", help=f"Comma-separated methods to compare (default {_DEFAULT_METHODS}; with --runs: "
                                     "every method in the file).")
    p.add_argument("--lam", action="append", metavar="METHOD=RATE", help="Override a gain rate (repeatable).")
    p.add_argument("--p0", type=float, default=0.0, help="Performance with no training (theory mode, default 0).")
    p.add_argument("--ceiling", type=float, help="Full-data performance (default 100; with --runs: the 'full' row, "
                                                 "else the best observed).")
    p.add_argument("--runs", help="CSV of measured runs (e.g. examples/sweep.py's sweep.csv): method, performance, "
                                  "total_flops (or selection_flops and train_flops); fits a utility per method.")
    p.add_argument("--train-flops-full", type=float, help="Training FLOPs of the whole pool (else from the sizes, or "
                                                          "the runs' 'full' row).")
    p.add_argument("--size-ratios", action="store_true",
                   help="Also print the break-even training-to-selector size ratios of perplexity and LESS by budget.")
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


def _inputs(args: argparse.Namespace, methods: list[str], train: Any, convention: str, **overrides: Any) -> Any:
    """:func:`hf_select.cost.profiles.default_profiles` from the command line (sizes required)."""
    from ..cost.profiles import DEFAULT_EMBED_PARAMS, default_profiles

    n, tokens = _pool(args)
    if args.target_size is None or args.target_size < 0:
        raise ValueError(f"--target-size must be >= 0, got {args.target_size}.")
    return default_profiles(
        methods, train_model=train, pool_tokens=tokens, n_pool=n,
        selector_model=_model(args.selector_params, args.selector_config, "--selector-params"),
        n_target=args.target_size, embed_params=_positive(args.embed_params or DEFAULT_EMBED_PARAMS, "--embed-params"),
        lora_params=args.lora_params, train_lora_params=args.train_lora_params, train_convention=convention,
        convention=args.convention, epochs=_positive(args.epochs, "--epochs"), less_checkpoints=args.less_checkpoints,
        less_projection=args.less_projection, **overrides)


def _below_ceiling(profile: Any, row: Any, result: Any) -> str:
    if not row.feasible:
        return "-"
    if row.fraction >= 1.0 and result.budget_flops >= result.train_flops_full:
        return f"{max(profile.ceiling - row.predicted, 0.0):.2g}"  # the whole pool: the full-data performance
    return f"{math.exp(profile.log_deficit(result.budget_flops, result.train_flops_full)):.2g}"


def print_plan(result: Any, profiles: list[Any], baseline: Any) -> None:
    from ..cost.formatting import format_flops, format_table
    from ..cost.planner import NO_SELECTION, crossover

    by_name = {p.name: p for p in profiles}
    header = ("method", "lam", "selection FLOPs", "training FLOPs", "fraction", "predicted", "below ceiling",
              f"beats {baseline.name} above", "note")
    rows = []
    for r in result.table:
        p = by_name.get(r.method)
        mark = " *" if r.method == result.method else ""
        if p is None:  # the no-selection row
            rows.append((r.method + mark, "-", format_flops(0.0), format_flops(r.train_flops), f"{r.fraction:.4f}",
                         f"{r.predicted:.2f}", "0", "-", r.note))
            continue
        cross = None if p is baseline else crossover(baseline, p, train_flops_full=result.train_flops_full)
        rows.append((r.method + mark, f"{p.lam:.3g}", format_flops(r.selection_flops),
                     format_flops(r.train_flops) if r.feasible else "-", f"{r.fraction:.4f}" if r.feasible else "-",
                     f"{r.predicted:.2f}" if r.feasible else "-",
                     _below_ceiling(p, r, result), "-" if p is baseline else ("never" if cross is None else format_flops(cross)),
                     r.note if r.feasible else f"excluded: {r.reason}"))
    print(format_table(header, rows))
    print(f"\nbudget {result.budget_flops:.4g} FLOPs, full-pool training {result.train_flops_full:.4g} FLOPs")
    if result.method == NO_SELECTION:
        print(f"recommended: {result.verdict} (predicted {result.predicted:.2f})")
    else:
        print(f"recommended: {result.method} (selection {format_flops(result.selection_flops)} FLOPs, train on "
              f"{result.fraction:.2%} of the pool, predicted {result.predicted:.2f})")


def _from_runs(args: argparse.Namespace, methods: list[str], train: Any) -> tuple[list[Any], float, float, str, Any]:
    """Profiles fitted to ``--runs``; returns (profiles, F, ceiling, train convention, runs table)."""
    from ..cost.planner import THEORY_GAIN_RATES, profiles_from_runs
    from ..cost.runs import read_runs

    table = read_runs(args.runs)
    convention = args.train_convention or table.train_convention or "full"
    if table.train_convention and convention != table.train_convention:
        raise ValueError(f"--runs {args.runs!r} was measured under the {table.train_convention!r} training convention; "
                         f"planning with --train-convention {convention} would mix two FLOP counts. Drop the flag or "
                         "re-run the sweep with that convention.")
    sized = train is not None and args.pool_size is not None
    inputs = None
    if sized:
        priceable = [m for m in dict.fromkeys(r["method"] for r in table.runs) if m in THEORY_GAIN_RATES]
        inputs = _inputs(args, priceable, train, convention) if priceable else None
    if args.train_flops_full is not None:
        full = _positive(args.train_flops_full, "--train-flops-full")
    elif table.full_train_flops:
        full = table.full_train_flops
    elif inputs is not None:
        full = inputs.train_flops_full
    else:
        raise ValueError("Give the full-pool training FLOPs: --train-flops-full, a 'full' row in the runs file, or "
                         "the model and pool (--train-params N --pool-size ... --tokens-per-example ...).")
    ceiling = args.ceiling if args.ceiling is not None else (
        table.full_performance if table.full_performance is not None else max(r["performance"] for r in table.runs))
    _positive(ceiling, "--ceiling")
    measured = {r["method"] for r in table.runs if r.get("selection_flops") is not None}
    known = {p.name: p.selection_flops for p in (inputs.profiles if inputs else []) if p.name not in measured}
    fitted = profiles_from_runs(table.runs, ceiling=ceiling, flops_full=full, selection_flops=known or None,
                                base_performance=table.base_performance)
    if table.base_performance is not None:
        print(f"base model (no training, P0): {table.base_performance:.4g}; fits run over training FLOPs with p0 "
              "bounded by it")
    for m, (_, model) in fitted.items():
        print(f"fit {m}: p0={model.p0:.4g} lam={model.lam:.4g} rmse={model.residual:.3g} ({model.n_points} runs)")
    unknown = [m for m in methods if m not in fitted]
    if unknown:
        raise ValueError(f"--methods {unknown} have no runs in {args.runs!r}; it has {sorted(fitted)}.")
    wanted = methods or list(fitted)
    return [fitted[m][0] for m in wanted], full, ceiling, convention, (table, {m: fitted[m][1] for m in wanted})


def run(args: argparse.Namespace) -> int:
    from ..cost.convention import describe_train_convention
    from ..cost.planner import plan

    budget = _budget(args)
    train = _model(args.train_params, args.train_config, "--train-params")
    methods = [m.strip() for m in (args.methods or ("" if args.runs else _DEFAULT_METHODS)).split(",") if m.strip()]
    if args.methods is not None and not methods:
        raise ValueError("--methods is empty.")
    fits = None
    if args.runs:
        profiles, full, ceiling, convention, fits = _from_runs(args, methods, train)
        assumptions = [f"training FLOPs: {describe_train_convention(convention)}",
                       f"utility curves fitted to {args.runs}; ceiling (full-data performance) {ceiling:.4g}"]
    else:
        if train is None:
            raise ValueError("Give the model to train: --train-params N or --train-config PATH (and the pool: "
                             "--pool-size with --tokens-per-example or --pool-tokens), or fit from measured runs "
                             "with --runs.")
        ceiling = 100.0 if args.ceiling is None else _positive(args.ceiling, "--ceiling")
        rates = {k: float(v) for k, v in parse_kv(args.lam, "--lam").items()}
        inputs = _inputs(args, methods, train, args.train_convention or "full", gain_rates=rates, p0=args.p0,
                         ceiling=ceiling)
        profiles, assumptions = inputs.profiles, inputs.describe()
        full = _positive(args.train_flops_full, "--train-flops-full") if args.train_flops_full is not None \
            else inputs.train_flops_full
    result = plan(budget, profiles, train_flops_full=full, full_data_performance=ceiling)
    baseline = min(profiles, key=lambda p: (p.selection_flops, p.lam))
    print_plan(result, profiles, baseline)
    print("\n".join(assumptions))
    if args.size_ratios:
        from ..cost.breakeven import size_ratio_table

        source = f"the fits to {args.runs}" if args.runs else "the gain rates above"
        print("\nbreak-even training-to-selector size ratios (the method is compute-optimal above them):")
        print(size_ratio_table(profiles, source=source, less_projection=args.less_projection).to_text())
    if not args.no_plot:
        from ..cost.plots import plot_frontier, plot_plan

        path = plot_plan(profiles, args.output, train_flops_full=full, budget_flops=budget)
        print(f"plot: {path}")
        if fits is not None:
            table, models = fits
            root, ext = os.path.splitext(args.output)
            print(f"runs plot: {plot_frontier(table.runs, root + '_runs' + (ext or '.png'), fits=models)}")
    return 0
