"""``less``: gradient-based influence selection (LESS, Xia et al. 2024, "LESS: Selecting Influential Data for Targeted
Instruction Tuning"; as used by Yin & Rush 2025, "Compute-Constrained Data Selection").

1. **Warm-up**: LoRA training on a random ``warmup_fraction`` of the pool for ``warmup_epochs`` epochs through the one
   LoRA trainer (:func:`hf_select.scoring.finetune.train_lora`: AdamW, transformers' linear schedule with
   ``warmup_ratio``), keeping the LoRA weights and the Adam moments after every epoch (one checkpoint per epoch).
2. For each checkpoint ``c``: per-example LoRA gradients of the pool, **Adam-preconditioned** with that checkpoint's
   moments (``m' = b1 m + (1-b1) g``, ``v' = b2 v + (1-b2) g^2``, feature ``m' / sqrt(v' + eps)``), and plain gradients
   of the target examples; both randomly projected to ``projection_dim`` (seeded, same matrix for every checkpoint and
   process) and L2-normalised.
3. ``score(x) = max_subtask mean_{t in subtask} sum_c w_c * cos(feature_c(x), grad_c(t))`` where ``w_c`` is the mean
   learning rate of epoch ``c``'s optimizer steps, normalised to sum 1 (LESS eq. 3 and ``matching.py``). Subtasks
   come from ``target_subtask_column`` (else one task).

Per-example gradients are exact and batched (one backward per batch: length-bucketed padded rows on CPU, packed
rows on CUDA, see :mod:`hf_select.scoring.gradients`), and projected layer by layer (:mod:`hf_select.scoring.projection`). The cost
record is :func:`hf_select.cost.flops.less_pipeline_flops` for the run's own lengths, projection and checkpoints
(measured seconds per stage beside it), so :meth:`LessSelector.estimate_cost` and a run count the same FLOPs.

Checked against princeton-nlp/LESS (``less/scripts/train/base_training_args.sh``, ``less/data_selection/
collect_grad_reps.py``, ``matching.py``). Same as LESS: LoRA r=128, alpha=512, dropout 0.1 on q,k,v,o; warm-up on 5%
of the pool for 4 epochs at lr 2e-5, linear schedule, warm-up ratio 0.03, AdamW (0.9, 0.999, 1e-8), no weight decay;
checkpoint = end of each epoch; Adam-preconditioned pool gradients, plain target gradients, unit-normalised 8192-d
projections; mean within a subtask, max across subtasks. Documented deviations (defaults chosen for CPU budgets;
each is a knob):

==========================  ======================================  ==========================================
knob                        LESS                                    here (default)
==========================  ======================================  ==========================================
``max_length``              2048 (``max_seq_length``)               512
``train_batch_size``        32 (1 per device x 32 accumulation,     32 examples per optimizer step
                            one process)
gradient batch              1 example per backward                  ``gradient_batch_size`` / ``gradient_max_tokens``
                                                                    per backward (same per-example gradients)
``projection_kind``         dense Rademacher (TRAK), fp16 input     ``"sparse_sign"`` (``projection_nnz=4``
                                                                    non-zeros per coordinate; ``"rademacher"``
                                                                    gives LESS's)
``dtype``                   bfloat16 base                           ``"auto"``: bfloat16 where fast, else float32
==========================  ======================================  ==========================================

Example (tiny random model and a byte-level tokenizer, so it runs anywhere in seconds)::

    >>> import hf_select as hs
    >>> from hf_select.testing import tiny_test_setup
    >>> model, tok = tiny_test_setup()
    >>> pool = [{"prompt": f"Q{i}: add {i} and 1.", "completion": f" {i + 1}"} for i in range(12)]
    >>> target = [{"prompt": "Q: add 3 and 1.", "completion": " 4"}]
    >>> sel = hs.get_selector("less", model=model, tokenizer=tok, lora_r=4, lora_alpha=8, warmup_fraction=0.5,
    ...                       warmup_epochs=2, projection_dim=64, learning_rate=1e-3, show_progress=False)
    >>> scores = sel.score(pool, target=target)
    >>> scores.shape, [s.name for s in sel.last_cost.stages][:2]
    ((12,), ['load', 'encode'])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Selector, SelectorConfig, register_selector

LESS_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class LessConfig(SelectorConfig):
    """Knobs of LESS (defaults follow Xia et al. 2024 unless noted); all of them go into the cost record."""

    model: Any = field(default=None, metadata={"help": "Causal LM: a local folder or a transformers model object."})
    tokenizer: Any = field(default=None, metadata={"help": "Tokenizer object or local folder (default: the model's)."})
    dtype: str | None = field(default="auto", metadata={
        "help": "Weight dtype of the frozen base: 'auto' (bfloat16 where the hardware runs it fast: CPUs with "
                "AVX512-BF16/AMX, CUDA with bf16; else float32), 'float32', 'bfloat16', or None (keep the given "
                "model's). LoRA weights, Adam states and features stay float32, as in LESS."})
    autocast_dtype: str | None = field(default=None,
                                       metadata={"help": "Run forward/backward under torch.autocast in this dtype "
                                                         "(e.g. 'bfloat16'); None = the weights' dtype."})
    device: str | None = field(default=None, metadata={"help": "Torch device (default: cuda if available, else cpu)."})
    add_special_tokens: bool = field(default=True, metadata={
        "help": "Add the tokenizer's special tokens (e.g. BOS) once (hf_select.scoring.encoding)."})
    max_length: int = field(default=512, metadata={"help": "Tokens kept per example, longer ones are truncated "
                                                           "(LESS: 2048)."})
    loss_on: str = field(default="completion", metadata={"help": "'completion' (prompt tokens masked) or 'all'."})
    append_eos: bool = field(default=True, metadata={
        "help": "End each example with the EOS token, once: not when it already ends with it (a chat template's "
                "end-of-turn token)."})
    lora_r: int = field(default=128, metadata={"help": "LoRA rank (LESS: 128)."})
    lora_alpha: int = field(default=512, metadata={"help": "LoRA alpha (LESS: 512)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout during warm-up (LESS: 0.1)."})
    lora_target_modules: list[str] = field(default_factory=lambda: list(LESS_LORA_TARGETS),
                                           metadata={"help": "Modules with LoRA adapters (LESS: q,k,v,o)."})
    warmup_fraction: float = field(default=0.05, metadata={"help": "Fraction of the pool used for warm-up (LESS: 5%)."})
    warmup_epochs: int = field(default=4, metadata={"help": "Warm-up epochs = checkpoints (LESS: 4)."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate of the warm-up (LESS: 2e-5)."})
    warmup_ratio: float = field(default=0.03, metadata={"help": "Linear lr warm-up share of the steps (LESS: 0.03)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (also used for preconditioning)."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2 (also used for preconditioning)."})
    adam_eps: float = field(default=1e-8, metadata={"help": "AdamW eps (also used for preconditioning)."})
    train_batch_size: int = field(default=32, metadata={
        "help": "Examples per optimizer step (LESS script: 1 per device x 32 accumulation)."})
    projection_dim: int = field(default=8192, metadata={"help": "Dimension of the projected features (LESS: 8192)."})
    projection_kind: str = field(default="sparse_sign",
                                 metadata={"help": "'sparse_sign' (sparse JL, fast), 'rademacher' (as LESS/TRAK) or "
                                                   "'gaussian'."})
    projection_nnz: int = field(default=4, metadata={"help": "Non-zeros per coordinate for 'sparse_sign'."})
    gradient_batch_size: int = field(default=16, metadata={"help": "Examples per backward pass for the features."})
    gradient_max_tokens: int = field(default=512, metadata={"help": "Tokens per backward pass (packed row or padded "
                                                                    "batch); packed rows pay attention over the whole "
                                                                    "row on CPU, so keep it moderate."})
    gradient_batching: str = field(default="auto", metadata={
        "help": "'auto' (the measured default of the device: padded on CPU, packed on CUDA), 'packed' or 'padded'."})
    gradient_method: str = field(default="hooks", metadata={"help": "'hooks' (batched), 'vmap' or 'loop' (bs 1)."})
    pool_chunk_size: int = field(default=4096, metadata={"help": "Pool examples whose features are held at once."})
    target_subtask_column: str | None = field(default=None,
                                              metadata={"help": "Target column naming each example's subtask (mean "
                                                                "within, max across); None = one task."})
    checkpoint_weighting: str = field(default="lr", metadata={
        "help": "'lr' (mean lr of the epoch's steps, normalised to sum 1, as LESS) or 'uniform'."})

    def __post_init__(self) -> None:
        if not 0 < self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be in (0, 1], got {self.warmup_fraction}.")
        if self.warmup_epochs < 1:
            raise ValueError(f"warmup_epochs must be >= 1 (one checkpoint per epoch), got {self.warmup_epochs}.")
        if self.loss_on not in ("completion", "all"):
            raise ValueError(f"loss_on={self.loss_on!r}: use 'completion' or 'all'.")
        if self.checkpoint_weighting not in ("lr", "uniform"):
            raise ValueError(f"checkpoint_weighting={self.checkpoint_weighting!r}: use 'lr' or 'uniform'.")
        for name in ("max_length", "lora_r", "train_batch_size", "projection_dim", "gradient_batch_size",
                     "pool_chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")


def aggregate_subtasks(similarity: np.ndarray, subtasks: list[Any]) -> np.ndarray:
    """``[N, M]`` weighted cosines -> ``[N]``: mean over the targets of each subtask, then max over subtasks."""
    labels = np.asarray([str(s) for s in subtasks])
    means = [similarity[:, labels == s].mean(axis=1) for s in dict.fromkeys(labels.tolist())]
    return np.max(np.stack(means, axis=1), axis=1)


@register_selector("less")
class LessSelector(Selector):
    """LESS gradient-influence selector (see the module docstring)."""

    config_class = LessConfig
    requires_target = True
    default_view = "full"
    uses_causal_lm = True

    # -- model -------------------------------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any]:

        from ..import_utils import require
        from ..scoring.finetune import add_lora
        from ..scoring.loading import dtype_name, load_causal_lm, load_tokenizer, resolve_device

        require("peft", "the less selector")
        c = self.config
        if c.model is None:
            raise ValueError("less needs a model: pass model=<local folder, Hub id or transformers model>.")
        device = resolve_device(c.device)
        local = isinstance(c.model, (str, bytes)) or hasattr(c.model, "__fspath__")
        source = c.model if local else copy.deepcopy(c.model)
        self._dtype = dtype_name(c.dtype, device) if c.dtype is not None else None
        base = load_causal_lm(source, dtype=self._dtype, device=device)
        tokenizer = load_tokenizer(c.model, c.tokenizer)
        return add_lora(base, self.training_config()), tokenizer

    def training_config(self) -> Any:
        """The warm-up recipe for :func:`hf_select.scoring.finetune.train_lora` (one epoch = one checkpoint)."""
        from ..scoring.dispatch import gradient_batching
        from ..scoring.finetune import LoraTrainingConfig

        c = self.config
        return LoraTrainingConfig(
            epochs=c.warmup_epochs, learning_rate=c.learning_rate, lr_scheduler_type="linear",
            warmup_ratio=c.warmup_ratio, weight_decay=c.weight_decay, adam_beta1=c.adam_beta1,
            adam_beta2=c.adam_beta2, adam_epsilon=c.adam_eps, lora_r=c.lora_r, lora_alpha=c.lora_alpha,
            lora_dropout=c.lora_dropout, target_modules=list(c.lora_target_modules), batch_size=c.train_batch_size,
            micro_batch_size=c.gradient_batch_size, micro_batch_tokens=c.gradient_max_tokens,
            micro_batching=gradient_batching(c.gradient_batching, c.device), autocast_dtype=c.autocast_dtype,
            seed=c.seed)

    def _encode(self, data: Any, tokenizer: Any) -> Any:
        from ..scoring.encoding import encode_rows

        c = self.config
        return encode_rows(data, tokenizer, completion_only=c.loss_on == "completion", text_field=c.text_field,
                           max_length=c.max_length, add_special_tokens=c.add_special_tokens, append_eos=c.append_eos)

    def _subtasks(self, target: Any, n: int) -> list[Any]:
        col = self.config.target_subtask_column
        if col is None:
            return ["all"] * n
        if hasattr(target, "column_names"):
            if col not in target.column_names:
                raise ValueError(f"target_subtask_column={col!r} is not a target column; "
                                 f"columns: {target.column_names}.")
            return list(target[col])
        if isinstance(target, (list, tuple)) and target and isinstance(target[0], dict):
            if any(col not in row for row in target):
                raise ValueError(f"target_subtask_column={col!r} is missing from some target rows.")
            return [row[col] for row in target]
        raise ValueError(f"target_subtask_column={col!r} needs a target Dataset or list of dicts with that column.")

    # -- scoring -----------------------------------------------------------------------------------------------
    def pipeline_flops(self, model: Any, pool_lengths: list[int], target_lengths: list[int],
                       warmup_lengths: list[int] | None = None) -> list[Any]:
        """:func:`hf_select.cost.flops.less_pipeline_flops` for this configuration (checkpoints, projection)."""
        from ..cost.flops import less_pipeline_flops
        from ..scoring.finetune import trainable_lora_params

        c = self.config
        return less_pipeline_flops(model.get_base_model().config, pool_lengths, target_lengths,
                                   lora_params=trainable_lora_params(model), warmup_fraction=c.warmup_fraction,
                                   warmup_epochs=c.warmup_epochs, n_checkpoints=c.warmup_epochs,
                                   proj_dim=c.projection_dim, warmup_lengths=warmup_lengths,
                                   projection_kind=c.projection_kind, projection_nnz=c.projection_nnz)

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        import time

        import torch

        from ..scoring.finetune import plan_steps, train_lora
        from ..scoring.gradients import gradient_features, normalize_rows, trainable_parameters
        from ..scoring.loading import resolve_dtype
        from ..scoring.projection import ProjectionConfig, RandomProjector

        c = self.config
        with self.cost.stage("load"):
            model, tokenizer = self._load()
        with self.cost.stage("encode") as st:
            pool = self._encode(dataset, tokenizer)
            targets = self._encode(target, tokenizer)
            subtasks = self._subtasks(target, len(targets))
            st.detail.update(pool=pool.report(), target=targets.report())
        if (targets.num_targets == 0).all():
            raise ValueError("No target example has a token to take a loss on (empty completions?); give targets with "
                             "non-empty completions or set loss_on='all'.")
        params = trainable_parameters(model)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        device = next(p for _, p in params).device
        autocast_dtype = resolve_dtype(c.autocast_dtype, device) if c.autocast_dtype else None
        pool_len = pool.lengths.tolist()
        target_len = targets.lengths.tolist()
        rng = np.random.default_rng(c.seed)
        n_warm = max(1, int(round(c.warmup_fraction * len(pool))))
        warm_idx = np.sort(rng.choice(len(pool), size=n_warm, replace=False))
        flops = {s.name: s for s in self.pipeline_flops(model, pool_len, target_len, [pool_len[i] for i in warm_idx])}
        with self.cost.stage("warmup_train") as st:
            recipe = self.training_config()
            bar = self._progress(sum(plan_steps(n_warm, recipe)), "LESS warm-up", unit="step")
            run = train_lora(model, pool.subset(warm_idx), recipe, pad_token_id=pad_id, keep_checkpoints=True,
                             progress=bar.update_to if bar else None)
            if bar:
                bar.close()
            checkpoints = run.checkpoints
            st.tokens, st.flops = flops["warmup_train"].tokens, flops["warmup_train"].flops
            st.detail.update(examples=n_warm, epochs=c.warmup_epochs, lora_params=run.lora_params,
                             steps=run.steps, skipped_examples=run.skipped_examples, losses=run.losses,
                             learning_rates=[ck.lr for ck in checkpoints])
        projector = RandomProjector([p.numel() for _, p in params],
                                    ProjectionConfig(dim=c.projection_dim, kind=c.projection_kind, seed=c.seed,
                                                     nnz=c.projection_nnz))
        weights = [ck.lr if c.checkpoint_weighting == "lr" else 1.0 for ck in checkpoints]
        if not sum(weights) > 0:
            raise ValueError(f"Every warm-up optimizer step ran at learning rate 0 ({run.steps} step(s), the first one "
                             "is the schedule's warm-up start), so the checkpoints carry no weight: warm up on more "
                             "examples (warmup_fraction, smaller train_batch_size) or set warmup_ratio=0.")
        weights = [w / sum(weights) for w in weights]
        similarity = np.zeros((len(pool), len(targets)), dtype=np.float64)
        kw = {"batch_size": c.gradient_batch_size, "max_tokens": c.gradient_max_tokens, "method": c.gradient_method,
              "batching": c.gradient_batching, "pad_token_id": pad_id, "autocast_dtype": autocast_dtype}
        for k, ck in enumerate(checkpoints, start=1):
            with torch.no_grad():
                for n, p in params:
                    p.copy_(ck.weights[n])
            timings: dict[str, float] = {}
            name = f"checkpoint{k}/target_gradients"
            with self.cost.stage(name, tokens=flops[name].tokens, flops=flops[name].flops):
                tfeat = normalize_rows(gradient_features(model, targets, projector, timings=timings, **kw))
            name = f"checkpoint{k}/pool_gradients"
            with self.cost.stage(name, tokens=flops[name].tokens, flops=flops[name].flops):
                bar = self._progress(len(pool), f"LESS checkpoint {k}/{len(checkpoints)}")
                for start in range(0, len(pool), c.pool_chunk_size):
                    chunk = pool.subset(range(start, min(start + c.pool_chunk_size, len(pool))))
                    feats = gradient_features(model, chunk, projector, adam_state=ck.adam, timings=timings,
                                              progress=bar.update_to if bar else None, **kw)
                    block = (normalize_rows(feats) @ tfeat.T).double().numpy()
                    similarity[start:start + len(chunk)] += weights[k - 1] * block
                    if bar:
                        bar.base += len(chunk)
                if bar:
                    bar.close()
            proj_seconds = timings.get("projection", 0.0)
            self.cost.stages[-1].seconds -= proj_seconds  # projection time was measured inside the hooks
            name = f"checkpoint{k}/projection"
            self.cost.add_stage(name, flops=flops[name].flops, seconds=proj_seconds, **flops[name].detail)
        start = time.perf_counter()
        scores = aggregate_subtasks(similarity, subtasks)
        self.cost.add_stage("influence", flops=flops["influence"].flops, seconds=time.perf_counter() - start,
                            subtasks=len(set(map(str, subtasks))), checkpoint_weights=weights)
        self.cost.notes["less_config"] = {**self.config.to_dict(), "resolved_dtype": self._dtype}
        return scores

    def estimate_cost(self, dataset: Any, target: Any = None) -> Any:
        """Analytic FLOPs of the whole pipeline (loads the model and tokenises; no forward or backward pass): the
        warm-up at its expected share of the pool's tokens."""
        from ..cost.record import SelectionCost, hardware_info

        if target is None:
            raise ValueError("less needs target examples to estimate its cost: pass target=...")
        model, tokenizer = self._load()
        pool = self._encode(dataset, tokenizer)
        targets = self._encode(target, tokenizer)
        stages = self.pipeline_flops(model, pool.lengths.tolist(), targets.lengths.tolist())
        return SelectionCost(stages=stages, hardware=hardware_info(),
                             notes={"selector": self.name, "estimated": True, "less_config": self.config.to_dict()})

    def _progress(self, total: int, desc: str, unit: str = "ex") -> Any:
        if not self.config.show_progress:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit)
        bar.base = 0
        bar.update_to = lambda done: bar.update(bar.base + done - bar.n)
        return bar
