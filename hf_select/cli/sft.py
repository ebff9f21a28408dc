"""``hf-select sft``: select, then supervised fine-tuning with TRL, from one TRL-style YAML.

The YAML holds fields of ``trl.SFTConfig``, ``trl.ModelConfig`` (model path, LoRA), :class:`SelectionArguments` and
:class:`DataArguments`, parsed with TRL's ``TrlParser`` (see ``examples/sft.yaml``)::

    hf-select sft --config examples/sft.yaml
    hf-select sft --config examples/sft.yaml --max_steps 2 --learning_rate 1e-4   # overrides of YAML fields
    accelerate launch -m hf_select.cli.sft --config examples/sft.yaml --max_steps 2

Models and data are local only: ``model_name_or_path`` is a saved folder or ``smollm2`` (the offline
SmolLM2-135M-Instruct); ``dataset`` is a jsonl/json/parquet/csv file, a ``save_to_disk`` folder or ``builtin`` (the
embedded pool); ``target`` likewise, or ``builtin:<split>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SelectionArguments:
    """Command-line / YAML face of :class:`hf_select.SelectionConfig` (names prefixed where SFTConfig has the same)."""

    selector: str | None = field(default=None, metadata={"help": "Selector name; unset = plain SFT on all rows."})
    selector_kwargs: str | None = field(default=None, metadata={"help": "Selector options, a JSON object."})
    target: str | None = field(default=None, metadata={"help": "Target examples: a file, or builtin:<split>."})
    k: int | None = field(default=None, metadata={"help": "Rows to keep."})
    fraction: float | None = field(default=None, metadata={"help": "Fraction of the pool to keep, in (0, 1]."})
    budget_flops: float | None = field(default=None, metadata={"help": "Total FLOP budget (selection + training)."})
    strategy: str = field(default="top", metadata={"help": "top | bottom | band | threshold | gumbel | thirds."})
    strategy_kwargs: str | None = field(default=None, metadata={"help": "Strategy options, a JSON object."})
    selection_seed: int = field(default=0, metadata={"help": "Seed of the selector and randomised strategies."})
    refresh: str | None = field(default=None, metadata={"help": "Re-select every 'epoch' or every N steps."})
    ordering: str = field(default="shuffle", metadata={"help": "'shuffle' (default) or 'score' (curriculum)."})
    filters: str | None = field(default=None, metadata={"help": 'Filters, a JSON list like [{"name": "malformed"}].'})
    selection_cache_dir: str | None = field(default=None, metadata={"help": "Score cache of model-based selectors."})
    flops_convention: str = field(default="6N", metadata={"help": "FLOP tally convention: '6N' or 'detailed'."})
    selection_repo: str | None = field(default=None, metadata={"help": "Hub repo of the selection, for the card."})


@dataclass
class DataArguments:
    dataset: str = field(default="builtin", metadata={"help": "Pool: a file, a save_to_disk folder, or 'builtin'."})
    dataset_max_rows: int | None = field(default=None, metadata={"help": "Use at most this many pool rows."})


BUILTIN = "builtin"
SMOLLM2_ALIAS = "smollm2"


def _json(value: Any, name: str, kind: type) -> Any:
    if value is None or isinstance(value, kind):
        return value if value is not None else kind()
    try:
        out = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} must be a JSON {kind.__name__}, got {value!r}: {err}") from None
    if not isinstance(out, kind):
        raise ValueError(f"{name} must be a JSON {kind.__name__}, got {type(out).__name__}.")
    return out


def make_parser():
    """The ``TrlParser`` over (SFTConfig, ModelConfig, SelectionArguments, DataArguments)."""
    from ..import_utils import require

    require("trl", "hf-select sft")
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((SFTConfig, ModelConfig, SelectionArguments, DataArguments))


def _load_data(spec: str, argument: str, max_rows: int | None = None):
    from ..data.io import as_dataset

    if spec == BUILTIN or spec.startswith(BUILTIN + ":"):
        from ..data.builtin import load_builtin_pool, load_builtin_target

        if argument == "dataset":
            return load_builtin_pool(max_rows=max_rows)
        split = spec.split(":", 1)[1] if ":" in spec else "validation"
        return load_builtin_target(split)
    ds = as_dataset(spec, argument)
    if max_rows is not None and ds.num_rows > max_rows:
        ds = ds.shuffle(seed=0).select(range(max_rows))
    return ds


def _model_path(name: str | None) -> str:
    if not name:
        raise ValueError("model_name_or_path is required: a local model folder or 'smollm2'.")
    if name == SMOLLM2_ALIAS:
        from ..scoring.models import smollm2_local_path

        return smollm2_local_path()
    if not os.path.isdir(name):
        raise FileNotFoundError(f"model_name_or_path={name!r} is not a local folder (hf-select sft never downloads); "
                                "use a save_pretrained folder or 'smollm2'.")
    return name


def selection_config(args: SelectionArguments, *, tokenizer: Any = None, model_config: Any = None,
                     epochs: float = 1.0):
    """A :class:`SelectionConfig` from the parsed arguments (``None`` when no selector is set)."""
    from ..config import SelectionConfig
    from ..data.filters import build_filters

    if args.selector is None:
        return None
    target = _load_data(args.target, "target") if args.target else None
    return SelectionConfig(
        selector=args.selector, selector_kwargs=_json(args.selector_kwargs, "selector_kwargs", dict), target=target,
        k=args.k, fraction=args.fraction, budget_flops=args.budget_flops, strategy=args.strategy,
        strategy_kwargs=_json(args.strategy_kwargs, "strategy_kwargs", dict), seed=args.selection_seed,
        train_model=model_config if args.budget_flops is not None else None, train_epochs=epochs,
        filters=build_filters(_json(args.filters, "filters", list), tokenizer=tokenizer), refresh=args.refresh,
        ordering=args.ordering, cache_dir=args.selection_cache_dir,
    )


def train(training_args: Any, model_args: Any, sel_args: SelectionArguments, data_args: DataArguments) -> Any:
    """Build the model, tokenizer, data and :class:`SelectiveSFTTrainer`; train; save model, selection, cost."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config

    from ..atomic import check_output_dir
    from ..scoring.models import ensure_pad_token
    from ..trainer import SelectiveSFTTrainer

    # the selection is saved after training: refuse a folder of the user's there before any work
    check_output_dir(os.path.join(training_args.output_dir, "selection"), overwrite=True,
                     argument="output_dir/selection")
    path = _model_path(model_args.model_name_or_path)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if model_args.dtype not in (None, "auto"):
        import torch

        kwargs["dtype"] = getattr(torch, model_args.dtype)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    tokenizer = ensure_pad_token(AutoTokenizer.from_pretrained(path, local_files_only=True))
    pool = _load_data(data_args.dataset, "dataset", data_args.dataset_max_rows)
    selection = selection_config(sel_args, tokenizer=tokenizer, model_config=model.config,
                                 epochs=float(training_args.num_train_epochs))
    extra = {}
    if selection is not None:
        extra = dict(selector=sel_args.selector, selection=selection, flops_convention=sel_args.flops_convention,
                     selection_repo=sel_args.selection_repo)
    trainer = SelectiveSFTTrainer(model=model, args=training_args, train_dataset=pool, processing_class=tokenizer,
                                  peft_config=get_peft_config(model_args), **extra)
    trainer.train()
    trainer.save_model(training_args.output_dir)
    if trainer.selection is not None and trainer.is_world_process_zero():
        trainer.selection.save(os.path.join(training_args.output_dir, "selection"))
    return trainer


def _report(trainer: Any) -> str:
    if trainer.selection is None:
        return f"trained on all {trainer.train_dataset.num_rows} rows for {trainer.state.global_step} steps"
    s = trainer.cost_summary()
    return (f"selected {s['num_selected']} of {s['pool_rows']} rows with {s['selector']}; trained "
            f"{s['global_step']} steps; FLOPs: selection {s['selection_flops']:.3g} + training "
            f"{s['train_flops_measured']:.3g} (predicted {s['train_flops_predicted'] or 0:.3g}) = "
            f"{s['total_flops']:.3g}" + (" [stopped by budget]" if s["stopped_by_budget"] else ""))


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args_and_config(argv)
    trainer = train(*args)
    if trainer.is_world_process_zero():
        print(f"hf-select sft: {_report(trainer)} -> {trainer.args.output_dir}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("sft", help="Select, then fine-tune with TRL's SFTTrainer (TRL-style YAML).",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML with SFTConfig / ModelConfig / selection / data fields. "
                                                    "Any other --field value pair overrides that field of the YAML.")
    p.set_defaults(_accepts_overrides=True)
    return p


def run(args: argparse.Namespace) -> int:
    if not os.path.exists(args.config):
        raise FileNotFoundError(f"--config {args.config!r} does not exist.")
    return main(["--config", args.config, *getattr(args, "overrides", [])])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
