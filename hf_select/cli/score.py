"""``hf-select score``: score every row of a pool with a selector and write the scores, resumably.

Model-based selectors (``perplexity``, ``ifd``, ``color_filter``) write finished shards of scores to a cache
(``--cache-dir``, default ``$HF_SELECT_CACHE/scores``); running the same command again after a kill recomputes only
the missing (or corrupted) shards, and runs sharing one cache split the shards between them. Under
``accelerate launch`` / ``torchrun`` the shards are split across processes and rank 0 writes the output.

``cost.json`` records what the scores cost (``flops`` / ``tokens``: a rerun served from the cache reports the same as
the run that computed them) and, under ``notes.paid_now``, what this run computed itself.

Example:
    hf-select score --dataset pool.jsonl --selector perplexity --model ./smollm2 --output scores/
    accelerate launch --num_processes 2 --cpu -m hf_select.cli.main score --dataset pool.jsonl \\
        --selector perplexity --output scores/
"""

from __future__ import annotations

import argparse
import os

from ._common import add_column_args, add_output_args, check_output, output_dir, parse_kv, write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("score", help="Score every row of a pool (resumable, multi-process).",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="Pool: a jsonl/json/parquet/csv file or a save_to_disk folder.")
    p.add_argument("--target", help="Target examples (selectors that need them).")
    p.add_argument("--selector", default="perplexity", help="Selector name (default: perplexity).")
    p.add_argument("--model", help="Local model folder for model-based selectors (default: SmolLM2-135M-Instruct).")
    p.add_argument("--dtype", help="Compute dtype of model-based selectors: bfloat16 (default) or float32.")
    p.add_argument("--max-length", type=int, help="Cut examples to this many tokens (cut rows are counted).")
    p.add_argument("--completion-only", action="store_true", help="Score only completion / assistant tokens.")
    p.add_argument("--text-field", help="Text column of language-modeling data.")
    add_column_args(p)
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="Selector option (repeatable).")
    p.add_argument("--cache-dir", help="Shard cache folder (default: $HF_SELECT_CACHE/scores).")
    p.add_argument("--no-cache", action="store_true", help="Do not read or write the shard cache.")
    p.add_argument("--plugin", action="append", metavar="MODULE", help="Import MODULE first (custom selectors).")
    add_output_args(p, "Output folder: scores.parquet, cost.json, config.json.")
    return p


def _options(args: argparse.Namespace, fields: set[str]) -> dict:
    options = parse_kv(args.option, "--option")
    given = {"model": args.model, "dtype": args.dtype, "max_length": args.max_length,
             "text_field": args.text_field, "completion_only": True if args.completion_only else None}
    for key, value in given.items():
        if value is None:
            continue
        if key not in fields:
            raise ValueError(f"--{key.replace('_', '-')} does not apply to selector {args.selector!r}.")
        options[key] = value
    if "cache_dir" in fields and "cache_dir" not in options and not args.no_cache:
        from ..scoring.models import cache_root

        options["cache_dir"] = args.cache_dir or str(cache_root() / "scores")
    elif args.cache_dir and "cache_dir" not in fields:
        raise ValueError(f"Selector {args.selector!r} has no score cache; drop --cache-dir.")
    if options.get("cache_dir") is not None:
        from ..scoring.cache import check_cache_dir

        check_cache_dir(options["cache_dir"], "--cache-dir")
    return options


def paid_now(cost) -> dict:
    """FLOPs / tokens / seconds this run computed itself (stages served from the score cache record less)."""
    flops = tokens = 0.0
    for stage in cost.stages:
        paid = stage.detail.get("paid_now") or {"flops": stage.flops, "tokens": stage.tokens}
        flops, tokens = flops + float(paid["flops"]), tokens + int(paid["tokens"])
    return {"flops": flops, "tokens": int(tokens), "seconds": cost.seconds}


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import importlib

    import numpy as np

    from ..data.io import as_dataset
    from ..selectors.base import get_selector_class

    check_output(args)  # before any work
    for module in args.plugin or []:
        importlib.import_module(module)
    info = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from ..scoring.distributed import init_distributed

        info = init_distributed()
    cls = get_selector_class(args.selector)
    names = {f.name for f in dataclasses.fields(cls.config_class)}
    options = _options(args, cls.option_names() if hasattr(cls, "option_names") else names)
    pool = as_dataset(args.dataset, "--dataset", columns=parse_kv(args.columns, "--columns") or None)
    target = as_dataset(args.target, "--target", columns=parse_kv(args.target_columns, "--target-columns") or None) \
        if args.target else None
    selector = cls(**options)
    scores = selector.score(pool, target=target)
    if info is not None and not info.is_main:
        return 0
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"row": np.arange(len(scores), dtype=np.int64), "score": scores}
    extra = getattr(selector, "last_nll", None)
    if extra is not None:
        columns["mean_nll"] = np.asarray(extra, dtype=np.float64)
    cost = selector.last_cost
    cost.notes["paid_now"] = paid = paid_now(cost)
    with output_dir(args, "cli-score") as tmp:
        pq.write_table(pa.table(columns), os.path.join(tmp, "scores.parquet"))
        write_json(os.path.join(tmp, "cost.json"), cost.to_dict())
        write_json(os.path.join(tmp, "config.json"), selector.config.to_dict())
    cache = next((s.detail.get("cache") for s in cost.stages if s.detail.get("cache")), None)
    resumed = f"; cache: {len(cache['loaded'])} shard(s) reused, {len(cache['computed'])} computed" if cache else ""
    print(f"scored {len(scores)} rows with {args.selector} in {cost.seconds:.2f}s (scores cost {cost.flops:.3g} FLOPs, "
          f"this run {paid['flops']:.3g}{resumed}) -> {args.output}")
    return 0
