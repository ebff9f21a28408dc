# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[train,assets,plots]"]
# ///
"""The paper's experiment in miniature: selection methods x data fractions under one FLOP accounting.

Each method scores a seeded subset of the embedded pool once against the numpy target task; each fraction takes the
top ``k`` rows of that ranking and LoRA-fine-tunes SmolLM2-135M-Instruct on them (``SelectiveSFTTrainer``, whose FLOP
callback counts real tokens). A run is charged its method's whole selection cost plus its training FLOPs, both under one
``--train-convention`` (``full``: 6N per token, the paper's; ``lora``: 4N + 6L). Reference runs: ``base`` (untrained:
``P0``) and ``full`` (the whole pool, no selection: ``P-bar`` and the full-pool training FLOPs ``F``). The metric is
the completion loss on the target's test split (``hf_select/metrics/target_loss``); ``performance = 100 * exp(-loss)``.
Model-based selectors score the trained tokens (the training's ``max_length``); perplexity runs the CCDS preset
(``preset="ccds"``, strategy ``top_ppl``) when the installed selector has it, its default otherwise; LESS runs
``--less-checkpoints`` checkpoints (the paper: 4), priced for exactly those. Printed, and kept in ``sweep_meta.json``.

Writes into ``--output-dir`` (default ``./runs/sweep``, outside tracked files): ``sweep.csv``, ``sweep_frontier.png``
(runs, Pareto front, utility fits drawn over the FLOPs they were fitted on), ``sweep_utility.png``, ``sweep_meta.json``
(command, settings, machine, versions) and cached selections. A rerun resumes only a sweep with the same settings
(methods and fractions may be added); other settings are refused (``--overwrite`` replaces that sweep), and a folder
hf_select did not write is never touched.

    python examples/sweep.py --output-dir examples/results/sweep800   # the README's sweep (~1 h on 2 idle CPU cores)
    python examples/sweep.py --pool-rows 60 --methods random bm25 --fractions 0.1 0.5 --max-steps 2   # smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
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
METRIC_NAME = "target_test_loss"
CSV_FILE, META_FILE = "sweep.csv", "sweep_meta.json"
# Settings that do not change what a run measures: they may differ between a sweep and its resumption.
NOT_KEYED = ("output_dir", "methods", "fractions", "overwrite")


@dataclass
class SweepConfig:
    """Knobs of the sweep (the defaults are the README's sweep, sized for about an hour on 2 idle CPU cores)."""

    output_dir: str = field(default=os.path.join("runs", "sweep"),
                            metadata={"help": "Where the CSV, plots and cached selections go (default ./runs/sweep)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an earlier sweep with other settings there."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": "Selection methods."})
    fractions: list[float] = field(default_factory=lambda: list(FRACTIONS), metadata={"help": "Data fractions."})
    pool_rows: int = field(default=800, metadata={"help": "Rows of the embedded pool (stratified subsample)."})
    target_domain: str = field(default="numpy", metadata={"help": "Target task of the embedded pool."})
    eval_rows: int = field(default=64, metadata={"help": "Held-out test rows scored per run."})
    max_length: int = field(default=64, metadata={"help": "Tokens per training / eval / scored example."})
    epochs: float = field(default=1.0, metadata={"help": "Training epochs over each subset."})
    max_steps: int = field(default=-1, metadata={"help": "Cap on optimizer steps per run (-1: no cap)."})
    batch_size: int = field(default=8, metadata={"help": "Per-device train batch size."})
    learning_rate: float = field(default=3e-4, metadata={"help": "LoRA learning rate."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank of the fine-tuning."})
    bf16: bool = field(default=True, metadata={"help": "CPU bf16 autocast for training (faster on recent x86)."})
    seed: int = field(default=0, metadata={"help": "Seed of the pool subsample, the selectors and training."})
    train_convention: str = field(default="full", metadata={
        "help": "Training-FLOP convention of every run and of the selection's backward passes: 'full' (6N per token, "
                "the paper's) or 'lora' (4N + 6L)."})
    less_checkpoints: int = field(default=1, metadata={
        "help": "LESS warm-up epochs = checkpoints (the paper: 4; 1 keeps the sweep near an hour on 2 CPU cores)."})
    selector_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "perplexity": {"dtype": "bfloat16"},
        "less": {"lora_r": 8, "lora_alpha": 32, "projection_dim": 1024, "train_batch_size": 8,
                 "autocast_dtype": "bfloat16"},
    }, metadata={"help": "Per-method selector options (JSON on the command line)."})


# --------------------------------------------------------------------------------------------- what each method runs
def _config_fields(method: str) -> set[str]:
    from hf_select.selectors.base import get_selector, get_selector_class

    cls = get_selector_class(method)
    names = {f.name for f in dataclasses.fields(cls.config_class)}
    return names | ({"preset"} if "preset" in inspect.signature(get_selector).parameters else set())


def resolve_methods(cfg: SweepConfig) -> dict[str, dict[str, Any]]:
    """Per method: the selector options and strategy really used (guards for presets that may not be installed)."""
    plans: dict[str, dict[str, Any]] = {}
    for method in cfg.methods:
        fields = _config_fields(method)
        options = dict(cfg.selector_options.get(method, {}))
        strategy, notes = "top", []
        if "max_length" in fields:  # score the tokens that are trained
            options["max_length"] = cfg.max_length
        if method == "perplexity":
            if "preset" in fields:
                options.setdefault("preset", "ccds")
                from hf_select.strategies import STRATEGIES

                strategy = "top_ppl" if "top_ppl" in STRATEGIES else "top"
                notes.append(f"CCDS preset, strategy {strategy}")
            else:
                notes.append("this hf_select has no CCDS preset for perplexity: its default scoring and 'top' order")
        if method == "less":
            options["warmup_epochs"] = cfg.less_checkpoints
            notes.append(f"{cfg.less_checkpoints} warm-up epoch(s) = checkpoint(s) (the paper: 4)")
        plans[method] = {"options": options, "strategy": strategy, "notes": "; ".join(notes)}
    return plans


def settings_of(cfg: SweepConfig, plans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything a run's result depends on (resolved selector options included): the sweep's identity."""
    keyed = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_KEYED}
    keyed["resolved"] = {m: {"options": p["options"], "strategy": p["strategy"]} for m, p in sorted(plans.items())}
    return json.loads(json.dumps(keyed, sort_keys=True, default=str))


def config_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------- output and resume
def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs) or "unknown"


def prepare_output(cfg: SweepConfig, settings: dict[str, Any], meta: dict[str, Any]) -> str:
    """The sweep folder: resumed when it holds a sweep with the same settings, else created (or replaced on request)."""
    from hf_select.atomic import OutputExistsError, atomic_dir, is_hf_select_output

    out = os.path.abspath(cfg.output_dir)
    key = config_key(settings)
    meta_path = os.path.join(out, META_FILE)
    if is_hf_select_output(out) and os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("config_key") == key:
            return out
        if not cfg.overwrite:
            raise SystemExit(f"sweep.py: --output-dir {out} holds a sweep with other settings "
                             f"({_differences(old.get('settings', {}), settings)}); its runs cannot be reused. Choose "
                             "another --output-dir, or pass --overwrite to replace that sweep.")
    try:
        with atomic_dir(out, overwrite=cfg.overwrite, kind="sweep", argument="--output-dir",
                        overwrite_flag="--overwrite") as tmp, \
                open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as f:
            json.dump({**meta, "config_key": key, "settings": settings}, f, indent=2, default=str)
    except OutputExistsError as err:
        raise SystemExit(f"sweep.py: {err}") from None
    return out


# ------------------------------------------------------------------------------------------------------------- the runs
def _selection(method: str, plan: dict[str, Any], pool: Any, target: Any, cfg: SweepConfig, out: str,
               model_path: str, tokenizer: Any):
    """Score the pool once per method (cached in the sweep folder); every fraction takes a prefix of the ranking."""
    from hf_select import SelectionResult, select

    folder = os.path.join(out, "selections", method)
    if os.path.exists(os.path.join(folder, "selection.json")):
        res = SelectionResult.load(folder)
        if len(res.scores) == pool.num_rows:
            return res
    options = dict(plan["options"])
    if method in ("perplexity", "less"):
        options.setdefault("model", model_path)
        options.setdefault("tokenizer", tokenizer)
    res = select(pool, method, target=target if method != "random" else None, fraction=1.0, seed=cfg.seed,
                 strategy=plan["strategy"], **options)
    res.save(folder)
    return res


def _prefix(res: Any, fraction: float, cfg: SweepConfig):
    import numpy as np

    from hf_select import SelectionResult

    n = int(np.isfinite(res.scores).sum())
    k = max(1, min(n, math.floor(fraction * n + 0.5)))
    config = {**res.config, "fraction": fraction, "k": k, "train_convention": cfg.train_convention}
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


def _run(name: str, res: Any, fraction: float, ctx: dict[str, Any]) -> dict[str, Any]:
    """Train on the ``fraction`` prefix of ``res``'s ranking, evaluate, and return the CSV row."""
    cfg, out = ctx["cfg"], ctx["out"]
    sub = _prefix(res, fraction, cfg)
    trainer = _train(sub, ctx["pool"], cfg, ctx["model_path"], ctx["tokenizer"],
                     os.path.join(out, "runs", f"{name}-{fraction:g}"))
    summary = trainer.cost_summary()
    if summary.train_convention != cfg.train_convention:
        raise RuntimeError(f"the trainer counted {summary.train_convention!r} FLOPs, the sweep "
                           f"{cfg.train_convention!r}")
    start = time.perf_counter()
    loss = _evaluate(trainer.model, ctx["tokenizer"], ctx["test"], cfg, ctx["metric"])
    sel_flops, sel_seconds = (0.0, 0.0) if name == "full" else (res.cost.flops, res.cost.seconds)
    train = summary.train_flops_measured
    return {"method": name, "fraction": fraction, "k": sub.k, "selection_flops": sel_flops, "train_flops": train,
            "total_flops": sel_flops + train, "metric": loss, "performance": 100 * math.exp(-loss),
            "selection_seconds": sel_seconds, "train_seconds": summary.train_seconds,
            "eval_seconds": time.perf_counter() - start, "seconds": sel_seconds + summary.train_seconds,
            "steps": summary.global_step, "train_tokens": summary.train_tokens,
            "train_convention": cfg.train_convention}


def _summarise(out: str, cfg: SweepConfig) -> None:
    from hf_select.cost import pareto_frontier, profiles_from_runs, read_runs
    from hf_select.cost.plots import plot_frontier, plot_utility

    try:
        table = read_runs(os.path.join(out, CSV_FILE), argument="sweep.csv")
    except ValueError as err:  # no method run yet
        print(f"nothing to summarise: {err}")
        return
    points = table.runs + ([{"method": "full", "flops": table.full_train_flops, "performance": table.full_performance}]
                           if table.full_performance is not None else [])
    front = pareto_frontier(points)
    print("\nPareto frontier (total FLOPs -> performance = 100*exp(-test loss)):")
    for p in front:
        print(f"  {p['method']:>11}  {p['flops']:.3g} FLOPs  {p['performance']:.3f}")
    print("methods on the frontier:", ", ".join(sorted({p["method"] for p in front})))
    if table.full_train_flops is None or table.full_performance is None:
        print("no 'full' run yet: utility fits need it (P-bar and F)")
        return
    enough = [r for r in table.runs if sum(q["method"] == r["method"] for q in table.runs) >= 3]
    fits = {}
    if enough:
        fitted = profiles_from_runs(enough, ceiling=table.full_performance, flops_full=table.full_train_flops,
                                    base_performance=table.base_performance)
        fits = {m: model for m, (_, model) in fitted.items()}
    for method, fit in fits.items():
        print(f"  utility fit {method:>11}: p0={fit.p0:.3f} lam={fit.lam:.3g} rmse={fit.residual:.3g} over "
              f"{fit.flops_range[0]:.3g}-{fit.flops_range[1]:.3g} FLOPs")
    try:
        plot_frontier(points, os.path.join(out, "sweep_frontier.png"), fits=fits or None,
                      title=f"Miniature CCDS sweep: {len(points)} runs, target={cfg.target_domain}")
        if fits:
            plot_utility(fits, os.path.join(out, "sweep_utility.png"))
    except ImportError as err:
        print(f"plots skipped: {err}")


def _meta(cfg: SweepConfig, argv: list[str], plans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import hf_select
    from hf_select.cost.convention import describe_train_convention
    from hf_select.cost.record import hardware_info
    from hf_select.import_utils import package_version

    return {"command": "python examples/sweep.py " + " ".join(argv), "config": dataclasses.asdict(cfg),
            "methods": {m: p["notes"] for m, p in plans.items() if p["notes"]},
            "train_convention": describe_train_convention(cfg.train_convention), "metric": METRIC_NAME,
            "performance": "100 * exp(-metric)", "hardware": hardware_info(),
            "versions": {"hf_select": hf_select.__version__,
                         **{n: package_version(n) for n in ("torch", "transformers", "trl", "peft", "datasets")}}}


def run(cfg: SweepConfig, argv: list[str]) -> list[dict[str, Any]]:
    import evaluate
    from transformers import AutoModelForCausalLM

    import hf_select
    from hf_select import load_builtin_pool, load_builtin_target
    from hf_select.cost.runs import append_run, csv_rows
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    plans = resolve_methods(cfg)
    out = prepare_output(cfg, settings_of(cfg, plans), _meta(cfg, argv, plans))
    csv_path = os.path.join(out, CSV_FILE)
    done = {(r["method"], f"{float(r['fraction']):.4f}") for r in csv_rows(csv_path)}
    model_path = smollm2_local_path()
    tokenizer = load_tokenizer(model_path)
    pool = load_builtin_pool(max_rows=cfg.pool_rows, seed=cfg.seed)
    target = load_builtin_target("validation", domain=cfg.target_domain)
    test_all = load_builtin_target("test", domain=cfg.target_domain)
    test = test_all.select(range(min(cfg.eval_rows, test_all.num_rows)))
    metric = evaluate.load(os.path.join(os.path.dirname(hf_select.__file__), "metrics", "target_loss"))
    ctx = {"cfg": cfg, "out": out, "pool": pool, "test": test, "metric": metric, "model_path": model_path,
           "tokenizer": tokenizer}
    print(f"pool {pool.num_rows} rows, target test {test.num_rows} rows, training FLOPs: {cfg.train_convention}")
    for method, plan in plans.items():
        if plan["notes"]:
            print(f"  {method}: {plan['notes']}")

    if ("base", f"{0.0:.4f}") not in done:
        start = time.perf_counter()
        base = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
        loss = _evaluate(base, tokenizer, test, cfg, metric)
        append_run(csv_path, {"method": "base", "fraction": 0.0, "k": 0, "selection_flops": 0.0, "train_flops": 0.0,
                           "total_flops": 0.0, "metric": loss, "performance": 100 * math.exp(-loss),
                           "eval_seconds": time.perf_counter() - start, "seconds": 0.0, "steps": 0,
                           "train_convention": cfg.train_convention})
        print(f"base model: test loss {loss:.4f}")
    if ("full", f"{1.0:.4f}") not in done:  # the whole pool, no selection: P-bar and F
        everything = _selection("random", {"options": {}, "strategy": "top"}, pool, None, cfg, out, model_path,
                                tokenizer)
        row = _run("full", everything, 1.0, ctx)
        append_run(csv_path, row)
        print(f"full pool: loss {row['metric']:.4f}, {row['train_flops']:.3g} training FLOPs (F)")
    for method, plan in plans.items():
        todo = [f for f in cfg.fractions if (method, f"{f:.4f}") not in done]
        if not todo:
            continue
        try:
            res = _selection(method, plan, pool, target, cfg, out, model_path, tokenizer)
        except (ImportError, ValueError, TypeError) as err:
            print(f"skipping {method}: {err}")
            continue
        print(f"{method}: scored {pool.num_rows} rows in {res.cost.seconds:.1f}s, {res.cost.flops:.3g} FLOPs")
        for fraction in todo:
            row = _run(method, res, fraction, ctx)
            append_run(csv_path, row)
            print(f"  {method:>11} {100 * fraction:5.1f}% k={row['k']:4d}: loss {row['metric']:.4f}, "
                  f"{row['total_flops']:.3g} FLOPs, {row['train_seconds']:.0f}s train")
    _summarise(out, cfg)
    return csv_rows(csv_path)


def parse(argv: list[str]) -> SweepConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SweepConfig()
    for f in dataclasses.fields(SweepConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        help_ = f.metadata.get("help", "")
        if isinstance(value, bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value, help=help_,
                           nargs="?", const=True)
        elif isinstance(value, list):
            p.add_argument(flag, nargs="+", type=type(value[0]), default=value, help=help_)
        elif isinstance(value, dict):
            p.add_argument(flag, type=json.loads, default=value, help=help_ + " (JSON)")
        elif f.name == "train_convention":
            p.add_argument(flag, choices=("full", "lora"), default=value, help=help_)
        else:
            p.add_argument(flag, type=type(value), default=value, help=help_)
    ns = p.parse_args(argv)
    cfg = SweepConfig(**vars(ns))
    from hf_select import list_selectors

    unknown = sorted(set(cfg.methods) - set(METHODS) - set(list_selectors()))
    if unknown:
        raise SystemExit(f"sweep.py: unknown method(s) {unknown}; known: "
                         f"{sorted(set(METHODS) | set(list_selectors()))}")
    if any(not 0 < f < 1 for f in cfg.fractions):
        raise SystemExit("sweep.py: fractions must be in (0, 1); the whole pool is the 'full' run, always made.")
    if cfg.less_checkpoints < 1:
        raise SystemExit("sweep.py: --less-checkpoints must be at least 1.")
    return cfg


if __name__ == "__main__":
    args = sys.argv[1:]
    run(parse(args), args)
