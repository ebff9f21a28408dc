# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[train,assets,plots]"]
# ///
"""The paper's experiment in miniature: selection methods x data fractions under one FLOP accounting.

For each method in {random, bm25, embedding, dsir, perplexity, less} the pool (a seeded subset of the embedded pool) is
scored once against the numpy target task (validation split); each fraction in {2.5, 5, 10, 25, 50%} takes the top
``k`` rows of that ranking and LoRA-fine-tunes SmolLM2-135M-Instruct on them (``SelectiveSFTTrainer`` with the
finished selection, so its FLOP callback measures training from real token counts). Every run is charged the full
selection cost of its method plus its measured training FLOPs. The metric is the completion loss on the target task's
held-out test split (``hf_select/metrics/target_loss``); ``performance = 100 * exp(-loss)`` (the geometric-mean
per-token probability, in %) is what the frontier and the utility fits use.

Writes into ``--output-dir`` (default ``examples/results/``): ``sweep.csv`` (one row per run; rerunning skips runs
already there), ``sweep_frontier.png`` (runs, Pareto front, fitted utility curves), ``sweep_utility.png``,
``sweep_meta.json`` (the command, knobs, machine, versions) and cached selections under ``selections/``.

    python examples/sweep.py                       # full miniature sweep (sized for < 45 min on 2 CPU cores)
    python examples/sweep.py --pool-rows 60 --methods random bm25 --fractions 0.1 0.5 --max-steps 2   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

METHODS = ("random", "bm25", "embedding", "dsir", "perplexity", "less")
FRACTIONS = (0.025, 0.05, 0.10, 0.25, 0.50)
CSV_FIELDS = ("method", "fraction", "k", "selection_flops", "train_flops", "total_flops", "metric", "performance",
              "seconds", "selection_seconds", "train_seconds", "eval_seconds", "steps", "train_tokens")
METRIC_NAME = "target_test_loss"


@dataclass
class SweepConfig:
    """Knobs of the sweep (the defaults are sized for < 45 minutes on 2 CPU cores)."""

    output_dir: str = field(default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                            metadata={"help": "Where the CSV, plots and cached selections go."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": "Selection methods."})
    fractions: list[float] = field(default_factory=lambda: list(FRACTIONS), metadata={"help": "Data fractions."})
    pool_rows: int = field(default=200, metadata={"help": "Rows of the embedded pool (stratified subsample)."})
    target_domain: str = field(default="numpy", metadata={"help": "Target task of the embedded pool."})
    eval_rows: int = field(default=32, metadata={"help": "Held-out test rows scored per run."})
    max_length: int = field(default=96, metadata={"help": "Tokens per training / eval example."})
    epochs: float = field(default=1.0, metadata={"help": "Training epochs over each subset."})
    max_steps: int = field(default=-1, metadata={"help": "Cap on optimizer steps per run (-1: no cap)."})
    batch_size: int = field(default=8, metadata={"help": "Per-device train batch size."})
    learning_rate: float = field(default=3e-4, metadata={"help": "LoRA learning rate."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank of the fine-tuning."})
    bf16: bool = field(default=True, metadata={"help": "CPU bf16 autocast for training (faster on recent x86)."})
    seed: int = field(default=0, metadata={"help": "Seed of the pool subsample, the selectors and training."})
    selector_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "perplexity": {"dtype": "bfloat16"},
        "less": {"lora_r": 8, "lora_alpha": 32, "warmup_epochs": 1, "projection_dim": 1024, "train_batch_size": 8,
                 "max_length": 96, "autocast_dtype": "bfloat16"},
    }, metadata={"help": "Per-method selector options (JSON on the command line)."})


def _model_based(method: str) -> bool:
    return method in ("perplexity", "less")


def _csv_rows(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _append(path: str, row: dict[str, Any]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k) for k in CSV_FIELDS})


def _selection(method: str, pool: Any, target: Any, cfg: SweepConfig, model_path: str, tokenizer: Any):
    """Score the pool once per method (cached on disk); every fraction takes a prefix of the ranking."""
    from hf_select import SelectionResult, select

    folder = os.path.join(cfg.output_dir, "selections", method)
    if os.path.exists(os.path.join(folder, "selection.json")):
        res = SelectionResult.load(folder)
        if len(res.scores) == pool.num_rows:
            return res
    options = dict(cfg.selector_options.get(method, {}))
    if _model_based(method):
        options.setdefault("model", model_path)
        options.setdefault("tokenizer", tokenizer)
    res = select(pool, method, target=target if method != "random" else None, fraction=1.0, seed=cfg.seed, **options)
    res.save(folder)
    return res


def _prefix(res: Any, fraction: float):
    from hf_select import SelectionResult

    import numpy as np

    n = int(np.isfinite(res.scores).sum())
    k = max(1, min(n, int(math.floor(fraction * n + 0.5))))
    config = {**res.config, "fraction": fraction, "k": k}
    return SelectionResult(indices=res.indices[:k], scores=res.scores, cost=res.cost, config=config,
                           provenance=res.provenance)


def _evaluate(model: Any, tokenizer: Any, test: Any, cfg: SweepConfig, metric: Any) -> float:
    from hf_select.data.formats import prompt_completion_texts

    pairs = prompt_completion_texts(test, tokenizer=tokenizer)
    return float(metric.compute(predictions=[p + c for p, c in pairs], prompts=[p for p, _ in pairs], model=model,
                                tokenizer=tokenizer, max_length=cfg.max_length, batch_size=8)["loss"])


def _train(selection: Any, pool: Any, cfg: SweepConfig, model_path: str, tokenizer: Any, run_dir: str):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from hf_select import SelectiveSFTTrainer

    model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
    args = SFTConfig(output_dir=run_dir, use_cpu=True, bf16=cfg.bf16, max_length=cfg.max_length,
                     per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                     num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, logging_steps=10, save_strategy="no",
                     report_to="none", seed=cfg.seed, disable_tqdm=True, gradient_checkpointing=False)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    trainer = SelectiveSFTTrainer(model=model, args=args, train_dataset=pool, processing_class=tokenizer,
                                  peft_config=lora, selection=selection)
    trainer.train()
    return trainer


def _full_train_flops(pool: Any, tokenizer: Any, cfg: SweepConfig, model_path: str) -> float:
    """LoRA training FLOPs of the whole pool for ``epochs`` (the utility model's unit of compute)."""
    from hf_select.cost.flops import lora_train_flops
    from hf_select.data.formats import text_view

    lengths = [min(len(ids), cfg.max_length) for ids in
               tokenizer(text_view(pool, "full", tokenizer=tokenizer), add_special_tokens=False)["input_ids"]]
    cfg_path = os.path.join(model_path, "config.json")
    with open(cfg_path, encoding="utf-8") as f:
        model_cfg = json.load(f)
    d, layers = model_cfg["hidden_size"], model_cfg["num_hidden_layers"]
    heads = model_cfg["num_attention_heads"]
    kv = model_cfg.get("num_key_value_heads", heads) * (d // heads)
    lora_params = layers * cfg.lora_r * ((d + d) * 2 + (d + kv) * 2)  # q, o: d x d ; k, v: d x kv
    return cfg.epochs * lora_train_flops(model_cfg, lengths, lora_params=lora_params)


def _summarise(rows: list[dict[str, Any]], cfg: SweepConfig, flops_full: float) -> None:
    from hf_select.cost import fit_utility, pareto_frontier
    from hf_select.cost.plots import plot_frontier, plot_utility

    points = [{"method": r["method"], "fraction": float(r["fraction"]), "flops": float(r["total_flops"]),
               "performance": float(r["performance"])} for r in rows if r["method"] != "base"]
    if not points:
        return
    front = pareto_frontier(points)
    print("\nPareto frontier (total FLOPs -> performance = 100*exp(-test loss)):")
    for p in front:
        print(f"  {p['method']:>11} {100 * p['fraction']:5.1f}%  {p['flops']:.3g} FLOPs  {p['performance']:.3f}")
    print("methods on the frontier:", ", ".join(sorted({p["method"] for p in front})))
    ceiling = max(p["performance"] for p in points)
    fits = {}
    for method in dict.fromkeys(p["method"] for p in points):
        mine = [p for p in points if p["method"] == method]
        if len(mine) >= 3:
            try:
                fits[method] = fit_utility([p["flops"] for p in mine], [p["performance"] for p in mine],
                                           ceiling=ceiling, flops_full=flops_full)
            except ValueError as err:
                print(f"  no utility fit for {method}: {err}")
    for method, fit in fits.items():
        print(f"  utility fit {method:>11}: p0={fit.p0:.3f} lam={fit.lam:.3g} rmse={fit.residual:.3g}")
    try:
        plot_frontier(points, os.path.join(cfg.output_dir, "sweep_frontier.png"), fits=fits or None,
                      title=f"Miniature CCDS sweep: {len(points)} runs, target={cfg.target_domain}")
        if fits:
            plot_utility(fits, os.path.join(cfg.output_dir, "sweep_utility.png"))
    except ImportError as err:
        print(f"plots skipped: {err}")


def _meta(cfg: SweepConfig, argv: list[str], flops_full: float) -> dict[str, Any]:
    import hf_select
    from hf_select.cost.record import hardware_info
    from hf_select.import_utils import package_version

    return {"command": "python examples/sweep.py " + " ".join(argv), "config": dataclasses.asdict(cfg),
            "flops_full": flops_full, "metric": METRIC_NAME, "performance": "100 * exp(-metric)",
            "hardware": hardware_info(),
            "versions": {"hf_select": hf_select.__version__,
                         **{n: package_version(n) for n in ("torch", "transformers", "trl", "peft", "datasets")}}}


def run(cfg: SweepConfig, argv: list[str]) -> list[dict[str, Any]]:
    import evaluate
    from transformers import AutoModelForCausalLM

    import hf_select
    from hf_select import load_builtin_pool, load_builtin_target
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    os.makedirs(cfg.output_dir, exist_ok=True)
    csv_path = os.path.join(cfg.output_dir, "sweep.csv")
    done = {(r["method"], f"{float(r['fraction']):.4f}") for r in _csv_rows(csv_path)}
    model_path = smollm2_local_path()
    tokenizer = load_tokenizer(model_path)
    pool = load_builtin_pool(max_rows=cfg.pool_rows, seed=cfg.seed)
    target = load_builtin_target("validation", domain=cfg.target_domain)
    test_all = load_builtin_target("test", domain=cfg.target_domain)
    test = test_all.select(range(min(cfg.eval_rows, test_all.num_rows)))
    metric = evaluate.load(os.path.join(os.path.dirname(hf_select.__file__), "metrics", "target_loss"))
    flops_full = _full_train_flops(pool, tokenizer, cfg, model_path)
    with open(os.path.join(cfg.output_dir, "sweep_meta.json"), "w", encoding="utf-8") as f:
        json.dump(_meta(cfg, argv, flops_full), f, indent=2, default=str)
    print(f"pool {pool.num_rows} rows, target test {test.num_rows} rows, "
          f"full-pool LoRA training {flops_full:.3g} FLOPs")

    if ("base", f"{0.0:.4f}") not in done:
        start = time.perf_counter()
        base = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
        loss = _evaluate(base, tokenizer, test, cfg, metric)
        _append(csv_path, {"method": "base", "fraction": 0.0, "k": 0, "selection_flops": 0.0, "train_flops": 0.0,
                           "total_flops": 0.0, "metric": loss, "performance": 100 * math.exp(-loss),
                           "eval_seconds": time.perf_counter() - start, "seconds": 0.0, "steps": 0})
        print(f"base model: test loss {loss:.4f}")
    for method in cfg.methods:
        todo = [f for f in cfg.fractions if (method, f"{f:.4f}") not in done]
        if not todo:
            continue
        try:
            res = _selection(method, pool, target, cfg, model_path, tokenizer)
        except (ImportError, ValueError, TypeError) as err:
            print(f"skipping {method}: {err}")
            continue
        print(f"{method}: scored {pool.num_rows} rows in {res.cost.seconds:.1f}s, {res.cost.flops:.3g} FLOPs")
        for fraction in todo:
            sub = _prefix(res, fraction)
            run_dir = os.path.join(cfg.output_dir, "runs", f"{method}-{fraction:g}")
            trainer = _train(sub, pool, cfg, model_path, tokenizer, run_dir)
            summary = trainer.cost_summary()
            start = time.perf_counter()
            loss = _evaluate(trainer.model, tokenizer, test, cfg, metric)
            eval_seconds = time.perf_counter() - start
            row = {"method": method, "fraction": fraction, "k": sub.k, "selection_flops": res.cost.flops,
                   "train_flops": summary["train_flops_measured"],
                   "total_flops": res.cost.flops + summary["train_flops_measured"], "metric": loss,
                   "performance": 100 * math.exp(-loss), "selection_seconds": res.cost.seconds,
                   "train_seconds": summary["train_seconds"], "eval_seconds": eval_seconds,
                   "seconds": res.cost.seconds + summary["train_seconds"], "steps": summary["global_step"],
                   "train_tokens": summary["train_tokens"]}
            _append(csv_path, row)
            print(f"  {method:>11} {100 * fraction:5.1f}% k={sub.k:4d}: loss {loss:.4f}, "
                  f"{row['total_flops']:.3g} FLOPs, {summary['train_seconds']:.0f}s train")
    rows = _csv_rows(csv_path)
    _summarise(rows, cfg, flops_full)
    return rows


def parse(argv: list[str]) -> SweepConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SweepConfig()
    for f in dataclasses.fields(SweepConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        help_ = f.metadata.get("help", "")
        if isinstance(value, bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value, help=help_)
        elif isinstance(value, list):
            p.add_argument(flag, nargs="+", type=type(value[0]), default=value, help=help_)
        elif isinstance(value, dict):
            p.add_argument(flag, type=json.loads, default=value, help=help_ + " (JSON)")
        else:
            p.add_argument(flag, type=type(value), default=value, help=help_)
    ns = p.parse_args(argv)
    cfg = SweepConfig(**vars(ns))
    unknown = sorted(set(cfg.methods) - set(METHODS) - set(_registered()))
    if unknown:
        raise SystemExit(f"sweep.py: unknown method(s) {unknown}; known: {sorted(set(METHODS) | set(_registered()))}")
    if any(not 0 < f <= 1 for f in cfg.fractions):
        raise SystemExit("sweep.py: fractions must be in (0, 1].")
    return cfg


def _registered() -> list[str]:
    from hf_select import list_selectors

    return list_selectors()


if __name__ == "__main__":
    args = sys.argv[1:]
    run(parse(args), args)
