"""``hf-select select``: score a pool against a target and write the selection, the subset and a cost summary.

Example:
    hf-select select --dataset pool.parquet --target target.jsonl --selector bm25 --fraction 0.1 --output out/
    # the compute-constrained paper's Top-PPL (CCDS recipe: target-tuned LoRA reference, lowest perplexity third first)
    hf-select select --dataset pool.parquet --target target.jsonl --selector perplexity --option preset=ccds \
        --strategy top_ppl --fraction 0.1 --output out/
"""

from __future__ import annotations

import argparse
import os

from ..strategies import describe_strategies
from ._common import add_column_args, add_output_args, add_size_args, check_output, output_dir, parse_kv, write_json

SUBSET_FORMATS = ("parquet", "jsonl")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("select", help="Select a subset of a pool.", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="Pool: a jsonl/json/parquet/csv file or a save_to_disk folder.")
    p.add_argument("--target", help="Target examples: a jsonl/json/parquet/csv/txt file.")
    p.add_argument("--selector", default="bm25", help="Selector name (default: bm25).")
    add_size_args(p)
    p.add_argument("--strategy", default="top", metavar="STRATEGY",
                   help=f"Order of the kept rows (higher score = preferred): {describe_strategies()}.")
    p.add_argument("--strategy-arg", action="append", metavar="KEY=VALUE", help="Strategy option (repeatable).")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="Selector option (repeatable).")
    p.add_argument("--text-field", help="Text column of language-modeling data.")
    add_column_args(p)
    p.add_argument("--train-model", help="For --budget-flops: parameter count or local model/config path.")
    p.add_argument("--train-lora-params", type=int, help="For --budget-flops: trainable LoRA parameters when the "
                                                         "training will be LoRA (priced on a frozen base).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plugin", action="append", metavar="MODULE",
                   help="Import MODULE first (it may register selectors with @hf_select.register_selector).")
    p.add_argument("--subset-format", choices=SUBSET_FORMATS, default="parquet")
    add_output_args(p, "Output folder: selection/, subset.<format>, cost.json.")
    return p


def run(args: argparse.Namespace) -> int:
    import importlib

    from ..data.io import as_dataset
    from ..selection import select

    check_output(args)  # before any work
    for module in args.plugin or []:
        importlib.import_module(module)
    pool = as_dataset(args.dataset, "--dataset")
    target = as_dataset(args.target, "--target") if args.target else None
    options = parse_kv(args.option, "--option")
    if args.text_field:
        options["text_field"] = args.text_field
    train_model = args.train_model
    if train_model is not None and not os.path.exists(train_model):
        try:
            train_model = float(train_model)
        except ValueError:
            raise ValueError(f"--train-model {train_model!r} is neither a number of parameters nor a local "
                             "path.") from None
    res = select(pool, args.selector, target=target, k=args.k, fraction=args.fraction, budget_flops=args.budget_flops,
                 strategy=args.strategy, strategy_kwargs=parse_kv(args.strategy_arg, "--strategy-arg"), seed=args.seed,
                 train_model=train_model, train_lora_params=args.train_lora_params,
                 columns=parse_kv(args.columns, "--columns") or None,
                 target_columns=parse_kv(args.target_columns, "--target-columns") or None, **options)
    with output_dir(args, "cli-select") as tmp:
        write_outputs(res, tmp, subset_format=args.subset_format)
    print(f"selected {res.k} of {len(res.scores)} rows with {res.selector} in {res.cost.seconds:.2f}s "
          f"({res.cost.flops:.3g} FLOPs) -> {args.output}")
    return 0


def write_outputs(res, folder: str, *, subset_format: str = "parquet") -> None:
    """Write ``selection/`` (SelectionResult.save), ``subset.<fmt>`` and ``cost.json`` into ``folder``."""
    res.save(os.path.join(folder, "selection"))
    subset = res.to_dataset()
    if subset_format == "parquet":
        subset.to_parquet(os.path.join(folder, "subset.parquet"))
    else:
        subset.to_json(os.path.join(folder, "subset.jsonl"), lines=True, force_ascii=False)
    write_json(os.path.join(folder, "cost.json"), res.cost.to_dict())
