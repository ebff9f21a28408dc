"""``hf-select sft``: select, then supervised fine-tuning with TRL, from one TRL-style YAML.

The YAML holds fields of ``trl.SFTConfig``, ``trl.ModelConfig`` (model path, LoRA), :class:`hf_select.SelectionConfig`
(selector, target, k / fraction / budget_flops, strategy, filters, ...) and :class:`ScriptArguments`, parsed with TRL's
``TrlParser`` (see ``examples/sft.yaml``)::

    hf-select sft --config examples/sft.yaml
    hf-select sft --config examples/sft.yaml --max_steps 2 --learning_rate 1e-4   # overrides of YAML fields
    accelerate launch -m hf_select.cli.sft --config examples/sft.yaml --max_steps 2

``seed`` is shared: it seeds training and the selection. Without a size (``k``, ``fraction`` or ``budget_flops``) the
run is plain SFT on every row. ``model_name_or_path`` is a saved folder, a Hub id (read from the local Hugging Face
cache when offline) or ``smollm2`` (the offline SmolLM2-135M-Instruct); ``dataset`` is a jsonl/json/parquet/csv file,
a ``save_to_disk`` folder or ``builtin`` (the embedded pool); ``target`` likewise, or ``builtin:<split>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any

BUILTIN = "builtin"
SMOLLM2_ALIAS = "smollm2"
SHARED_FIELDS = frozenset({"seed"})  # fields SelectionConfig shares with SFTConfig: one option sets both


@dataclass
class ScriptArguments:
    """The pool and what the trainer records, beside SFTConfig / ModelConfig / SelectionConfig."""

    dataset: str = field(default=BUILTIN, metadata={"help": "Pool: a file, a save_to_disk folder, or 'builtin'."})
    dataset_max_rows: int | None = field(default=None, metadata={"help": "Use at most this many pool rows."})
    flops_convention: str = field(default="6N", metadata={"help": "FLOP tally convention: '6N' or 'detailed' (LoRA "
                                                                  "runs are priced 4N + 6L under '6N')."})
    selection_repo: str | None = field(default=None, metadata={"help": "Hub repo of the selection, for the card."})


def make_parser():
    """The ``TrlParser`` of ``hf-select sft``: options of SFTConfig, ModelConfig, SelectionConfig and ScriptArguments.

    SFTConfig owns the shared ``--seed`` (default and help). The parser builds SFTConfig, ModelConfig and
    ScriptArguments; the SelectionConfig options come back as a namespace that :func:`parse_args` turns into the
    :class:`~hf_select.SelectionConfig` (with the shared seed), since TRL's parser gives each option to one dataclass.
    """
    from ..import_utils import require

    require("trl", "hf-select sft")
    from trl import ModelConfig, SFTConfig, TrlParser

    from ..config import SelectionConfig

    names = {f.name for f in dataclasses.fields(SelectionConfig)}
    trl_names = {f.name for cls in (SFTConfig, ModelConfig) for f in dataclasses.fields(cls)}
    shared = names & trl_names
    if shared != SHARED_FIELDS:  # a new TRL field would silently take over a selection option
        raise RuntimeError(f"SelectionConfig shares {sorted(shared)} with SFTConfig/ModelConfig (expected "
                           f"{sorted(SHARED_FIELDS)}); rename the new field in hf_select.config.")
    parser = TrlParser((SelectionConfig, SFTConfig, ModelConfig, ScriptArguments), conflict_handler="resolve")
    parser.dataclass_types = [SFTConfig, ModelConfig, ScriptArguments]
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[Any, Any, Any, ScriptArguments]:
    """``(SelectionConfig, SFTConfig, ModelConfig, ScriptArguments)`` from ``--config <yaml>`` and overrides."""
    from ..config import SelectionConfig

    training_args, model_args, script_args, rest = make_parser().parse_args_and_config(argv)
    options = {k: v for k, v in vars(rest).items() if k not in SHARED_FIELDS}
    return SelectionConfig(**options, seed=training_args.seed), training_args, model_args, script_args


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
        raise ValueError("model_name_or_path is required: a local model folder, a Hub id or 'smollm2'.")
    if name == SMOLLM2_ALIAS:
        from ..scoring.models import smollm2_local_path

        return smollm2_local_path()
    from ..scoring.loading import model_source

    return model_source(name, "model_name_or_path")  # a folder, or a Hub id (local HF cache first)


def selection_config(sel: Any, training_args: Any) -> Any:
    """``sel`` ready for the trainer (``target`` loaded, epochs from SFTConfig), or ``None`` for plain SFT."""
    if not sel.is_sized():
        return None
    target = _load_data(sel.target, "target") if isinstance(sel.target, str) else sel.target
    epochs = sel.train_epochs if sel.train_epochs != 1.0 else float(training_args.num_train_epochs)
    return dataclasses.replace(sel, target=target, train_epochs=epochs)


def train(sel_args: Any, training_args: Any, model_args: Any, script_args: ScriptArguments) -> Any:
    """Build the model, tokenizer, data and :class:`SelectiveSFTTrainer`; train; save model, selection, cost."""
    from trl import get_peft_config

    from ..atomic import check_output_dir
    from ..scoring.loading import load_causal_lm, load_tokenizer
    from ..trainer import SelectiveSFTTrainer

    # the selection is saved after training: refuse a folder of the user's there before any work
    check_output_dir(os.path.join(training_args.output_dir, "selection"), overwrite=True,
                     argument="output_dir/selection")
    path = _model_path(model_args.model_name_or_path)
    selection = selection_config(sel_args, training_args)  # validated (and the target read) before the model loads
    # TRL's dtype "auto" means the checkpoint's dtype
    model = load_causal_lm(path, dtype=None if model_args.dtype in (None, "auto") else model_args.dtype).train()
    tokenizer = load_tokenizer(path)
    pool = _load_data(script_args.dataset, "dataset", script_args.dataset_max_rows)
    extra = {}
    if selection is not None:
        extra = dict(selection=selection, flops_convention=script_args.flops_convention,
                     selection_repo=script_args.selection_repo)
    trainer = SelectiveSFTTrainer(model=model, args=training_args, train_dataset=pool, processing_class=tokenizer,
                                  peft_config=get_peft_config(model_args), **extra)
    trainer.train()
    trainer.save_model(training_args.output_dir)
    if trainer.selection is not None and trainer.is_world_process_zero():
        trainer.selection.save(os.path.join(training_args.output_dir, "selection"))
    return trainer


def _report(trainer: Any) -> str:
    from ..cost.formatting import format_flops

    if trainer.selection is None:
        return f"trained on all {trainer.train_dataset.num_rows} rows for {trainer.state.global_step} steps"
    s = trainer.cost_summary()
    return (f"selected {s.num_selected} of {s.pool_rows} rows with {s.selector}; trained {s.global_step} steps; "
            f"FLOPs: selection {format_flops(s.selection_flops)} + training {format_flops(s.train_flops_measured)} "
            f"(predicted {format_flops(s.train_flops_predicted)}) = {format_flops(s.total_flops)}"
            + (" [stopped by budget]" if s.stopped_by_budget else ""))


def main(argv: list[str] | None = None) -> int:
    trainer = train(*parse_args(argv))
    if trainer.is_world_process_zero():
        print(f"hf-select sft: {_report(trainer)} -> {trainer.args.output_dir}")
        if trainer.selection is not None:
            print(trainer.cost_summary())
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("sft", help="Select, then fine-tune with TRL's SFTTrainer (TRL-style YAML).",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML with SFTConfig / ModelConfig / SelectionConfig / script "
                                                    "fields. Any other --field value pair overrides that field.")
    p.set_defaults(_accepts_overrides=True)
    return p


def run(args: argparse.Namespace) -> int:
    if not os.path.exists(args.config):
        raise FileNotFoundError(f"--config {args.config!r} does not exist.")
    return main(["--config", args.config, *getattr(args, "overrides", [])])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
