"""The one LoRA trainer of the selectors: LESS's warm-up, the perplexity selector's target fine-tune and CoLoR-Filter's
conditional model all train through :func:`train_lora`.

What one run does (the recipe of LESS's and CCDS's ``train.py``, i.e. ``transformers.Trainer`` with ``adamw_torch``,
``per_device_train_batch_size=1`` and gradient accumulation):

- examples are shuffled per epoch (seeded) and cut into optimizer steps of ``batch_size`` examples (the last step of
  an epoch may be smaller; fractional ``epochs`` train on the first share of one more shuffled pass);
- the loss of a step is the mean over its examples of each example's mean token NLL (labels ``-100`` are not
  scored); examples without any scored token are left out and counted;
- inside a step, examples run in micro-batches whose gradients accumulate: padded rows, or packed rows where
  :func:`~hf_select.scoring.packing.packing_check` finds packing exact for the architecture (else padded, with a
  logged reason); tokens come from :mod:`hf_select.scoring.encoding`, batches from
  :func:`~hf_select.scoring.batching.collate` and the loss from :func:`~hf_select.scoring.nll.forward_token_nll`
  (the NLL of the scoring engine);
- optimizer: ``torch.optim.AdamW`` (what Trainer's ``adamw_torch`` builds); schedule:
  ``transformers.get_scheduler(lr_scheduler_type, num_warmup_steps=ceil(warmup_ratio * total_steps))`` -- the same
  schedule functions ``Trainer`` uses, so the learning rate of optimizer step ``s`` (0-based) is
  ``learning_rate * lambda(s)``: with ``"linear"`` it is 0 at step 0, rises linearly to the peak at step
  ``warmup_steps`` and decays to 0 at ``total_steps``;
- with ``keep_checkpoints=True`` each epoch ends with a :class:`LoraCheckpoint`: the adapter weights, the Adam moments
  (what LESS preconditions with), the mean learning rate of the epoch's steps (LESS's checkpoint weight), and what
  :func:`train_lora` needs to resume from it exactly (step, schedule, dropout RNG state).

Why not ``Trainer`` itself: today's ``Trainer`` normalises the loss by the tokens of the whole accumulated batch
(``num_items_in_batch``), which weights long examples more than the per-example mean LESS and CCDS trained with, and
snapshotting the optimizer in memory at every epoch would need a callback reaching into it; this loop keeps their
convention, runs quietly offline on a CPU, and uses transformers' own schedule functions.

:func:`lora_finetune` wraps it for a reference model that must stay untouched: copy, add adapters, train, merge.
:func:`trainable_lora_params` counts the adapters a ``peft_config`` would train, exactly, without building them (the
trainer's FLOP budget and the selectors' cost estimates use it).

Example:
    >>> from hf_select.scoring.encoding import TokenizedExamples
    >>> from hf_select.scoring.finetune import LoraTrainingConfig, lora_finetune
    >>> from hf_select.testing import tiny_llama
    >>> base = tiny_llama(vocab_size=32)
    >>> ex = TokenizedExamples.from_ids([[1, 2, 3, 4, 5, 6]] * 4, labels=[[-100, -100, 3, 4, 5, 6]] * 4)
    >>> tuned, run = lora_finetune(base, ex, LoraTrainingConfig(epochs=2, learning_rate=1e-2, batch_size=2))
    >>> run.steps, run.losses[-1] < run.losses[0]
    (4, True)
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..import_utils import require
from .batching import collate, plan_batches
from .encoding import TokenizedExamples

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
MICRO_BATCHING = ("padded", "packed")
logger = logging.getLogger(__name__)


@dataclass
class LoraTrainingConfig:
    """A LoRA training recipe (every value goes into the cost record and the score-cache key)."""

    epochs: float = field(default=1.0, metadata={"help": "Passes over the examples (> 0; fractions allowed)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate of AdamW."})
    lr_scheduler_type: str = field(default="constant", metadata={
        "help": "A transformers schedule name ('constant', 'linear' as LESS and CCDS, 'cosine', ...)."})
    warmup_ratio: float = field(default=0.0, metadata={
        "help": "Share of the optimizer steps with a linear warm-up (ceil(ratio x steps), as Trainer)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "AdamW epsilon."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input while training."})
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS),
                                      metadata={"help": "Module names that get adapters."})
    batch_size: int = field(default=8, metadata={"help": "Examples per optimizer step."})
    micro_batch_size: int = field(default=16, metadata={"help": "Examples per forward/backward inside a step."})
    micro_batch_tokens: int = field(default=2048, metadata={"help": "Token cap of one micro-batch."})
    micro_batching: str = field(default="padded", metadata={
        "help": "'padded' (right-padded rows, exact on every architecture) or 'packed' (examples back to back; used "
                "only where hf_select.scoring.packing finds it exact for the architecture, else padded)."})
    autocast_dtype: str | None = field(default=None, metadata={
        "help": "Run forward/backward under torch.autocast in this dtype (e.g. 'bfloat16'; 'auto' = the device's "
                "fast dtype, hf_select.scoring.loading); None or 'float32' = the weights' dtype."})
    seed: int = field(default=0, metadata={"help": "Adapter initialisation, example order and dropout."})

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}.")
        for name in ("lora_r", "lora_alpha", "batch_size", "micro_batch_size", "micro_batch_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.micro_batching not in MICRO_BATCHING:
            raise ValueError(f"micro_batching={self.micro_batching!r}: use one of {MICRO_BATCHING}.")
        if self.autocast_dtype is not None:
            from .loading import dtype_name

            dtype_name(self.autocast_dtype, argument="autocast_dtype")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def peft_config(self) -> Any:
        """The ``peft.LoraConfig`` of this recipe (also what :func:`hf_select.trainer.lora.trainable_lora_params`
        counts, so estimates and runs price the same adapters)."""
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=list(self.target_modules), bias="none", task_type="CAUSAL_LM")


@dataclass
class LoraCheckpoint:
    """State at the end of one epoch: adapter weights, Adam moments, learning rate of the epoch, resume state."""

    epoch: int
    step: int                       # optimizer steps done
    weights: dict[str, Any]         # trainable parameter name -> tensor (clone)
    adam: Any                       # hf_select.scoring.gradients.AdamState (same order as trainable_parameters)
    lr: float                       # mean learning rate of the epoch's optimizer steps (LESS's checkpoint weight)
    scheduler_state: dict[str, Any]
    torch_rng_state: Any            # dropout RNG: CPU state, and the CUDA device's when training there (the example
    #                                 order of every epoch is drawn from the seed up front)


@dataclass
class LoraRun:
    """What a training run did (for cost records and tests)."""

    steps: int
    losses: list[float]             # mean training loss per epoch
    learning_rates: list[float]     # learning rate used by every optimizer step
    epoch_steps: list[int]          # optimizer steps per epoch
    example_tokens: list[int]       # token counts of the examples trained on, every epoch (for FLOP counts)
    lora_params: int
    skipped_examples: int           # examples without a scored token (not trained on)
    seconds: float
    micro_batching: str = "padded"  # the layout used ('packed' only where exact for the architecture)
    checkpoints: list[LoraCheckpoint] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return int(sum(self.example_tokens))

    @property
    def epoch_learning_rates(self) -> list[float]:
        """Mean learning rate of each epoch's optimizer steps."""
        bounds = np.cumsum([0] + self.epoch_steps)
        return [float(np.mean(self.learning_rates[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "get_base_model") and hasattr(model, "peft_config")


def trainable_lora_params(model: Any, peft_config: Any = None) -> int | None:
    """Trainable parameters of ``model`` once ``peft_config`` is applied; ``None`` when training is not LoRA.

    ``model`` is a transformers model, a peft model (its trainable parameters are counted as they are), a config, or
    a local path holding ``config.json``. The ``peft_config`` is applied to a skeleton of the model on the ``meta``
    device (no memory, no weights), so every peft option (``r``, ``target_modules`` incl. ``"all-linear"``,
    ``rank_pattern``, ``modules_to_save``, ``bias``) is honoured exactly.

    Example:
        >>> from peft import LoraConfig
        >>> from hf_select.testing import tiny_llama
        >>> model = tiny_llama(vocab_size=64)           # hidden 32, 2 layers
        >>> trainable_lora_params(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        896
    """
    if is_peft_model(model):
        return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    if peft_config is None:
        return None
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from .loading import load_config

    config = load_config(model)
    with torch.device("meta"):
        try:
            skeleton = type(model)(copy.deepcopy(config)) if hasattr(model, "config") else None
        except TypeError:
            skeleton = None
        if skeleton is None:
            skeleton = AutoModelForCausalLM.from_config(copy.deepcopy(config))
    wrapped = get_peft_model(skeleton, copy.deepcopy(peft_config))
    return int(sum(p.numel() for p in wrapped.parameters() if p.requires_grad))


def add_lora(model: Any, config: LoraTrainingConfig) -> Any:
    """Wrap ``model`` (in place) with the recipe's adapters, initialised from ``config.seed`` without touching the
    global torch RNG."""
    require("peft", "LoRA training")
    import torch
    from peft import get_peft_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return get_peft_model(model, config.peft_config())


def lora_finetune(model: Any, examples: TokenizedExamples, config: LoraTrainingConfig | None = None, *,
                  pad_token_id: int = 0) -> tuple[Any, LoraRun]:
    """Train adapters on a float32 copy of ``model`` and merge them; ``(tuned copy in model's dtype, run)``.

    ``model`` itself is never changed.
    """
    config = config or LoraTrainingConfig()
    peft_model = add_lora(copy.deepcopy(model).float(), config)
    run = train_lora(peft_model, examples, config, pad_token_id=pad_token_id)
    merged = peft_model.merge_and_unload().eval()
    dtype = next(model.parameters()).dtype
    return (merged if merged.dtype == dtype else merged.to(dtype)), run


def _epoch_orders(n: int, epochs: float, rng: np.random.Generator) -> list[np.ndarray]:
    full, frac = int(epochs), epochs - int(epochs)
    orders = [rng.permutation(n) for _ in range(full)]
    if frac > 0:
        orders.append(rng.permutation(n)[:max(1, int(round(frac * n)))])
    return orders


def plan_steps(n: int, config: LoraTrainingConfig) -> list[int]:
    """Optimizer steps of each epoch for ``n`` trainable examples (``ceil(examples / batch_size)`` per epoch)."""
    rng = np.random.default_rng(config.seed)
    return [math.ceil(len(order) / config.batch_size) for order in _epoch_orders(n, config.epochs, rng)]


def train_lora(model: Any, examples: TokenizedExamples, config: LoraTrainingConfig, *, pad_token_id: int = 0,
               keep_checkpoints: bool = False, resume_from: LoraCheckpoint | None = None,
               progress: Callable[[int], None] | None = None) -> LoraRun:
    """Train the trainable parameters of ``model`` (a peft model from :func:`add_lora`) on ``examples``.

    Args:
        model: the model to train in place (its trainable parameters are the adapters).
        examples: examples from :func:`hf_select.scoring.encoding.encode` (their scored tokens define the loss).
        config: the recipe (the same one on resume).
        pad_token_id: padding id of padded micro-batches.
        keep_checkpoints: keep a :class:`LoraCheckpoint` at the end of every epoch.
        resume_from: continue from this checkpoint of an earlier run with the same config and examples; the result
            equals the uninterrupted run.
        progress: called with the number of optimizer steps done after each step.
    """
    import torch
    from transformers import get_scheduler

    from .gradients import AdamState, per_example_losses, trainable_parameters

    start = time.perf_counter()
    if not isinstance(examples, TokenizedExamples):
        raise TypeError(f"examples must be TokenizedExamples (hf_select.scoring.encoding.encode), got "
                        f"{type(examples).__name__}.")
    todo = np.flatnonzero(examples.num_targets > 0).astype(np.int64)
    if todo.size == 0:
        raise ValueError("No example has a token to train on (all empty, one token long, or without labels).")
    params = trainable_parameters(model)
    lora_params = trainable_lora_params(model)
    optimizer = torch.optim.AdamW([p for _, p in params], lr=config.learning_rate,
                                  betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_epsilon,
                                  weight_decay=config.weight_decay)
    epoch_steps = plan_steps(len(todo), config)
    total = sum(epoch_steps)
    try:
        scheduler = get_scheduler(config.lr_scheduler_type, optimizer,
                                  num_warmup_steps=math.ceil(config.warmup_ratio * total), num_training_steps=total)
    except ValueError as err:
        raise ValueError(f"lr_scheduler_type={config.lr_scheduler_type!r}: {err}") from None
    orders = [todo[o] for o in _epoch_orders(len(todo), config.epochs, np.random.default_rng(config.seed))]
    first_epoch, step = 0, 0
    device = next(p for _, p in params).device
    layout = _layout(model, config)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        if resume_from is not None:
            first_epoch, step = resume_from.epoch, resume_from.step
            _restore(optimizer, scheduler, params, resume_from)
            _set_rng_state(resume_from.torch_rng_state, device)
        lengths = examples.lengths.tolist()
        autocast = _autocast(device, config.autocast_dtype)
        losses, lrs, tokens, checkpoints = [], [], [], []
        model.train()
        try:
            for epoch in range(first_epoch, len(orders)):
                order, epoch_loss = orders[epoch], 0.0
                for s0 in range(0, len(order), config.batch_size):
                    rows = order[s0:s0 + config.batch_size]
                    lrs.append(float(optimizer.param_groups[0]["lr"]))
                    optimizer.zero_grad(set_to_none=True)
                    for micro in _micro_batches(rows, lengths, config, layout):
                        batch = collate(examples, micro, layout, pad_token_id=pad_token_id).to(device)
                        with autocast():
                            loss = per_example_losses(model, batch).sum() / len(rows)
                        loss.backward()
                        epoch_loss += float(loss.detach())
                    optimizer.step()
                    scheduler.step()
                    step += 1
                    tokens.extend(lengths[i] for i in rows)
                    if progress is not None:
                        progress(step)
                losses.append(epoch_loss / epoch_steps[epoch])
                if keep_checkpoints:
                    state = [optimizer.state[p] for _, p in params]
                    checkpoints.append(LoraCheckpoint(
                        epoch=epoch + 1, step=step, weights={n: p.detach().clone() for n, p in params},
                        adam=AdamState([s["exp_avg"].clone() for s in state], [s["exp_avg_sq"].clone() for s in state],
                                       config.adam_beta1, config.adam_beta2, config.adam_epsilon),
                        lr=float(np.mean(lrs[-epoch_steps[epoch]:])), scheduler_state=scheduler.state_dict(),
                        torch_rng_state=_rng_state(device)))
        finally:
            model.eval()
    return LoraRun(steps=step, losses=losses, learning_rates=lrs, epoch_steps=epoch_steps[first_epoch:],
                   example_tokens=[int(t) for t in tokens], lora_params=lora_params,
                   skipped_examples=len(examples) - len(todo), seconds=time.perf_counter() - start,
                   micro_batching=layout, checkpoints=checkpoints)


def _restore(optimizer: Any, scheduler: Any, params: list[tuple[str, Any]], ck: LoraCheckpoint) -> None:
    """Put the adapters, the Adam state and the schedule back where ``ck`` left them."""
    import torch

    with torch.no_grad():
        for i, (name, p) in enumerate(params):
            p.copy_(ck.weights[name])
            optimizer.state[p] = {"step": torch.tensor(float(ck.step)), "exp_avg": ck.adam.exp_avg[i].clone(),
                                  "exp_avg_sq": ck.adam.exp_avg_sq[i].clone()}
    scheduler.load_state_dict(ck.scheduler_state)
    for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr()):
        group["lr"] = lr


def _rng_state(device: Any) -> Any:
    import torch

    return (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_rng_state(state: Any, device: Any) -> None:
    import torch

    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _layout(model: Any, config: LoraTrainingConfig) -> str:
    """``"packed"`` when asked for and exact for the architecture, else ``"padded"`` (the reason is logged)."""
    from .packing import packing_check

    if config.micro_batching != "packed":
        return "padded"
    exact, why = packing_check(model)
    if not exact:
        logger.warning("hf_select: LoRA training uses padded micro-batches: %s.", why)
    return "packed" if exact else "padded"


def _micro_batches(rows: Sequence[int], lengths: Sequence[int], config: LoraTrainingConfig,
                   layout: str) -> list[list[int]]:
    """Micro-batches of ``rows``: first-fit-decreasing packed rows, or length-sorted padded rows (one planner,
    :func:`hf_select.scoring.batching.plan_batches`)."""
    if layout == "packed":
        return plan_batches(lengths, "packed", config.micro_batch_tokens, rows=rows)
    return plan_batches(lengths, "bucketed", config.micro_batch_tokens, rows=rows,
                        max_rows=config.micro_batch_size, max_padding=None)


def _autocast(device: Any, dtype: str | None) -> Callable[[], Any]:
    import contextlib

    from .engine import autocast_context

    if dtype is None:
        return contextlib.nullcontext
    return lambda: autocast_context(device, dtype)
