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
STREAMING = {"auto": None, "on": True, "off": False}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("select", help="Select a subset of a pool.", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="Pool: a jsonl/json/parquet/csv file, a save_to_disk folder, or "
                                                    "shards to stream: a parquet/jsonl glob ('shards/*.parquet') or "
                                                    "a folder of them.")
    p.add_argument("--target", help="Target examples: a jsonl/json/parquet/csv/txt file.")
    p.add_argument("--selector", default="bm25", help="Selector name (default: bm25).")
    add_size_args(p)
    p.add_argument("--strategy", default="auto", metavar="STRATEGY",
                   help=f"Order of the kept rows (higher score = preferred): {describe_strategies()}.")
    p.add_argument("--strategy-arg", action="append", metavar="KEY=VALUE", help="Strategy option (repeatable).")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="Selector option (repeatable).")
    p.add_argument("--text-field", help="Text column of language-modeling data.")
    add_column_args(p)
    p.add_argument("--train-model", help="For --budget-flops: parameter count or local model/config path.")
    p.add_argument("--train-lora-params", type=int, help="For --budget-flops: trainable LoRA parameters of the "
                                                         "training (needed by --train-convention lora).")
    p.add_argument("--train-convention", choices=("full", "lora"),
                   help="For --budget-flops: training FLOPs per token, 'full' (6N, the paper's; default) or 'lora' "
                        "(4N + 6L on a frozen base).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plugin", action="append", metavar="MODULE",
                   help="Import MODULE first (it may register selectors with @hf_select.register_selector).")
    p.add_argument("--subset-format", choices=SUBSET_FORMATS, default="parquet")
    p.add_argument("--streaming", choices=STREAMING, default="auto",
                   help="Read --dataset in bounded memory, shard by shard: 'auto' streams shard globs / folders over "
                        "1 GiB, 'on' always, 'off' never. A streamed subset is written as subset/part-*.parquet.")
    p.add_argument("--shard-size", type=int, help="Rows per shard when streaming (default 10000).")
    p.add_argument("--cache-dir", help="Per-shard cache when streaming; a killed run resumes from it (default "
                                       "$HF_SELECT_CACHE/streaming).")
    p.add_argument("--num-proc", type=_num_proc, help="Worker processes for the shards of bm25 / dsir when streaming "
                                                      "(an int or 'auto'; default 1, like datasets' num_proc).")
    add_output_args(p, "Output folder: selection/, subset.<format> (subset/part-*.parquet when streamed), cost.json.")
    return p


def _num_proc(value: str) -> int | str:
    """``--num-proc``: ``auto`` or an int (checked by StreamConfig)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or 'auto', got {value!r}") from None


def run(args: argparse.Namespace) -> int:
    import importlib

    from ..data.io import as_dataset
    from ..selection import select
    from ..streaming.config import StreamConfig
    from ..streaming.source import is_stream

    check_output(args)  # before any work
    if args.streaming == "on" and args.subset_format != "parquet":
        raise ValueError("--subset-format jsonl is not available with --streaming on; a streamed subset is written as "
                         "parquet shards.")
    for module in args.plugin or []:
        importlib.import_module(module)
    given = (("shard_size", args.shard_size), ("cache_dir", args.cache_dir), ("num_proc", args.num_proc))
    stream_config = StreamConfig(**{k: v for k, v in given if v is not None})
    pool = args.dataset if is_stream(args.dataset) else as_dataset(args.dataset, "--dataset")
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
    if args.train_lora_params is not None and args.train_convention != "lora":
        raise ValueError("--train-lora-params prices LoRA training only under --train-convention lora (4N + 6L per "
                         "token); add it, or drop --train-lora-params for the paper's 6N per token.")
    res = select(pool, args.selector, target=target, k=args.k, fraction=args.fraction, budget_flops=args.budget_flops,
                 strategy=args.strategy, strategy_kwargs=parse_kv(args.strategy_arg, "--strategy-arg"), seed=args.seed,
                 train_model=train_model, train_lora_params=args.train_lora_params,
                 train_convention=args.train_convention,
                 columns=parse_kv(args.columns, "--columns") or None,
                 target_columns=parse_kv(args.target_columns, "--target-columns") or None,
                 streaming=STREAMING[args.streaming], stream_config=stream_config, **options)
    if res.dataset is None and args.subset_format != "parquet":
        raise ValueError("--subset-format jsonl is not available for a streamed pool; its subset is written as parquet "
                         "shards (or pass --streaming off).")
    with output_dir(args, "cli-select") as tmp:
        write_outputs(res, tmp, subset_format=args.subset_format, pool=pool, stream_config=stream_config)
    print(f"selected {res.k} of {len(res.scores)} rows with {res.selector} in {res.cost.seconds:.2f}s "
          f"({res.cost.flops:.3g} FLOPs) -> {args.output}")
    return 0


def write_outputs(res, folder: str, *, subset_format: str = "parquet", pool=None, stream_config=None) -> None:
    """Write ``selection/`` (SelectionResult.save), ``subset.<fmt>`` (``subset/part-*.parquet`` for a streamed pool,
    read again from ``pool``) and ``cost.json`` into ``folder``."""
    res.save(os.path.join(folder, "selection"))
    if res.dataset is None:
        from ..streaming.write import write_subset

        write_subset(res, pool, os.path.join(folder, "subset"), config=stream_config)
        write_json(os.path.join(folder, "cost.json"), res.cost.to_dict())
        return
    subset = res.to_dataset()
    if subset_format == "parquet":
        subset.to_parquet(os.path.join(folder, "subset.parquet"))
    else:
        subset.to_json(os.path.join(folder, "subset.jsonl"), lines=True, force_ascii=False)
    write_json(os.path.join(folder, "cost.json"), res.cost.to_dict())
