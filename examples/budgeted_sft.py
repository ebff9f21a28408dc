# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[train,assets]"]
# ///
"""Fine-tune under a total FLOP budget: selection is paid first, training gets the rest and stops at the budget.

    python examples/budgeted_sft.py --selector embedding --budget-flops 2e14 --pool-rows 1000

``budget_flops`` sizes the subset (the largest k whose predicted training fits after the selection cost, see
``hf_select.cost.budget``); during training a callback tallies FLOPs from the real token counts of every batch and
stops (saving a checkpoint) once selection + training reaches the budget. A budget below the selection cost is refused
with the minimum. The measured summary lands in ``<output-dir>/hf_select_cost.json`` and the model card.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--selector", default="embedding")
    p.add_argument("--budget-flops", type=float, default=2e14)
    p.add_argument("--pool-rows", type=int, default=1000)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--output-dir", default="runs/budgeted_sft")
    args = p.parse_args(argv)

    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from hf_select import SelectionConfig, SelectiveSFTTrainer, load_builtin_pool, load_builtin_target
    from hf_select.cost.formatting import format_flops
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    path = smollm2_local_path()
    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    trainer = SelectiveSFTTrainer(
        model=model, processing_class=tokenizer, train_dataset=load_builtin_pool(max_rows=args.pool_rows),
        args=SFTConfig(output_dir=args.output_dir, use_cpu=True, bf16=True, max_length=args.max_length,
                       per_device_train_batch_size=4, learning_rate=5e-5, num_train_epochs=args.epochs,
                       logging_steps=5, save_strategy="no", report_to="none"),
        selector=args.selector,
        selection=SelectionConfig(target=load_builtin_target("validation"), budget_flops=args.budget_flops,
                                  train_model=model.config, train_epochs=args.epochs),
    )
    plan = trainer.cost_summary().to_dict()  # before training: the selection and the predicted training
    print("plan:", json.dumps({k: plan[k] for k in ("selector", "num_selected", "pool_rows", "selection_flops",
                                                     "train_flops_predicted", "budget_flops")}, default=str))
    trainer.train()
    s = trainer.cost_summary()
    print(s)
    print(f"spent {format_flops(s.total_flops)} of {format_flops(args.budget_flops)} FLOPs; stopped by budget: "
          f"{s.stopped_by_budget} at step {s.budget_stop_step}")


if __name__ == "__main__":
    main()
