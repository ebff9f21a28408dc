"""A short LoRA fine-tune of a reference model on target examples (perplexity "tuned on target", CoLoR-Filter).

The model is copied (the caller's model is never changed), LoRA adapters (``peft``) are trained on the target texts
with AdamW for ``epochs`` passes in length-bucketed batches (loss: mean token NLL, completion tokens only when asked),
then merged into the copy, which is returned in eval mode with a record of what it cost.

Example:
    >>> from hf_select.scoring.finetune import LoraFinetuneConfig, lora_finetune
    >>> from hf_select.scoring.encoding import TokenizedExamples
    >>> from hf_select.testing import tiny_llama
    >>> base = tiny_llama(vocab_size=32)
    >>> ex = TokenizedExamples.from_ids([[1, 2, 3, 4, 5, 6]] * 4)
    >>> tuned, info = lora_finetune(base, ex, LoraFinetuneConfig(epochs=2, learning_rate=1e-2, dtype="float32"))
    >>> info["losses"][-1] < info["losses"][0], info["steps"]
    (True, 2)
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..import_utils import require
from .batching import collate, plan_batches
from .encoding import TokenizedExamples
from .engine import autocast_context
from .nll import forward_token_nll


@dataclass
class LoraFinetuneConfig:
    """LoRA fine-tuning recipe (every value goes into the cost record and the cache key)."""

    epochs: float = field(default=1.0, metadata={"help": "Passes over the target examples (fractions allowed)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate of the adapters."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                      metadata={"help": "Module names that get adapters."})
    max_tokens_per_batch: int = field(default=2048, metadata={"help": "Token budget of one training step."})
    dtype: str = field(default="bfloat16", metadata={"help": "Autocast dtype of the training forward/backward."})
    lm_head_chunk: int = field(default=256, metadata={"help": "Tokens per LM-head chunk of the loss."})
    seed: int = field(default=0, metadata={"help": "Order of the examples and adapter initialisation."})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lora_finetune(model: Any, examples: TokenizedExamples, config: LoraFinetuneConfig | None = None) -> tuple[Any,
                                                                                                               dict]:
    """Copy ``model``, train LoRA adapters on ``examples``, merge them; return ``(tuned_model, info)``.

    ``info``: ``steps``, ``losses`` (mean per epoch), ``tokens`` (forward tokens over all epochs), ``lora_params``,
    ``seconds``, ``example_tokens`` (lengths of the examples seen, for FLOP counts).
    """
    require("peft", "LoRA fine-tuning on the target examples")
    import torch
    from peft import LoraConfig, get_peft_model

    config = config or LoraFinetuneConfig()
    if config.epochs <= 0:
        raise ValueError(f"epochs must be > 0 for a fine-tune, got {config.epochs}.")
    todo = [i for i in range(len(examples)) if examples.num_targets[i] > 0]
    if not todo:
        raise ValueError("No target example has a token to train on (all empty or one token long).")
    start = time.perf_counter()
    device = next(model.parameters()).device
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        work = copy.deepcopy(model).float()
        peft_model = get_peft_model(work, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                      lora_dropout=config.lora_dropout,
                                                      target_modules=list(config.target_modules),
                                                      bias="none", task_type="CAUSAL_LM"))
    finally:
        torch.random.set_rng_state(rng_state)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    lora_params = int(sum(p.numel() for p in params))
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    lengths = examples.lengths
    order_all: list[int] = []
    full_epochs, frac = int(config.epochs), config.epochs - int(config.epochs)
    epochs_rows = [list(rng.permutation(todo)) for _ in range(full_epochs)]
    if frac > 0:
        epochs_rows.append(list(rng.permutation(todo))[:max(1, int(round(frac * len(todo))))])
    losses, steps, tokens = [], 0, 0
    peft_model.train()
    for rows in epochs_rows:
        epoch_loss, epoch_batches = 0.0, 0
        batches = plan_batches(lengths, "bucketed", config.max_tokens_per_batch, rows=rows)
        rng.shuffle(batches)
        for rows_b in batches:
            batch = collate(examples, rows_b, "bucketed").to(device)
            with autocast_context(device, config.dtype):
                nll = forward_token_nll(peft_model, batch, chunk_size=config.lm_head_chunk)
            loss = nll.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            epoch_loss += float(loss.detach())
            epoch_batches += 1
            steps += 1
            tokens += batch.real_tokens
        order_all.extend(rows)
        losses.append(epoch_loss / max(epoch_batches, 1))
    merged = peft_model.merge_and_unload().eval()
    target_dtype = next(model.parameters()).dtype
    if target_dtype != torch.float32:
        merged = merged.to(target_dtype)
    info = {"steps": steps, "losses": losses, "tokens": tokens, "lora_params": lora_params,
            "seconds": time.perf_counter() - start, "example_tokens": [int(lengths[i]) for i in order_all],
            "recipe": config.to_dict()}
    return merged, info
