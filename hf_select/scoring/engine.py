"""The scoring loop: per-example summed token NLL of tokenised examples under a causal LM.

:func:`score_nll` runs the decoder (no LM head) over batches from :mod:`.batching`, gathers the hidden states of the
scored positions only, and turns them into per-token NLL with the chunked / fused LM head of :mod:`.nll`; sums and
counts per example are accumulated in float64. Nothing of size ``tokens x vocabulary`` is ever held in fp32.

Example:
    >>> from hf_select.scoring.engine import NLLConfig, score_nll
    >>> from hf_select.scoring.encoding import TokenizedExamples
    >>> from hf_select.testing import tiny_llama
    >>> ex = TokenizedExamples.from_ids([[1, 5, 9, 3], [1, 7], [4]])
    >>> res = score_nll(tiny_llama(vocab_size=16), ex, NLLConfig(dtype="float32", show_progress=False))
    >>> res.num_targets.tolist(), bool(res.mean_nll[2] != res.mean_nll[2])   # one-token example: nothing scored
    ([3, 1, 0], True)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .batching import collate, plan_batches
from .compiled import COMPILE_MODES, DEFAULT_COMPILE_MIN_TOKENS, compiled_path
from .dispatch import ExecutionPlan, apply_attn_implementation, choose_plan
from .encoding import TokenizedExamples
from .loading import DTYPES, dtype_name, resolve_dtype
from .nll import DEFAULT_CHUNK_SIZE, forward_token_nll
from .workers import map_batches, resolve_cpu_workers


@dataclass
class NLLConfig:
    """How to run NLL scoring (every knob of the engine; the selectors expose the same fields)."""

    dtype: str = field(default="auto", metadata={
        "help": f"Compute dtype, one of {DTYPES}: 'auto' (bfloat16 where the device runs it fast, else float32), "
                "'bfloat16' (autocast, fp32 log-sum-exp; ~4x faster than fp32 on a bf16-capable CPU), 'float16' or "
                "'float32' (exact reference)."})
    max_tokens_per_batch: int = field(default=8192, metadata={
        "help": "Token budget of one forward pass (rows x padded length, or the length of a packed row)."})
    batching: str = field(default="auto", metadata={
        "help": "'auto' (measured default per device), 'bucketed', 'packed' or 'single'."})
    attn_implementation: str = field(default="auto", metadata={
        "help": "'auto' (flash_attention_2 on CUDA with flash-attn, else sdpa), 'sdpa', 'eager', 'flash_attention_2'."})
    nll_backend: str = field(default="auto", metadata={
        "help": "'auto' (Triton kernel on CUDA, chunked torch elsewhere), 'torch', 'triton' or 'full'."})
    cast_weights: bool = field(default=True, metadata={
        "help": "With a reduced dtype, hold all weights in it while scoring (fastest; ~1.7x over autocast with fp32 "
                "weights on CPU); False casts only linear layers, keeping an fp32 residual stream."})
    lm_head_chunk: int = field(default=DEFAULT_CHUNK_SIZE, metadata={
        "help": "Tokens per LM-head chunk of the torch NLL (memory ~ chunk x vocabulary)."})
    device: str = field(default="auto", metadata={"help": "'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1', ..."})
    compile: str = field(default="auto", metadata={
        "help": f"torch.compile the decoder and the LM-head NLL chunk, one of {COMPILE_MODES}: 'auto' on CPU for "
                "pools of at least compile_min_tokens tokens (~1.6x the eager engine after a one-off ~40-70 s "
                "compile on 2 cores), falling back to eager with a logged reason when compiling fails "
                "(scoring/compiled.py)."})
    compile_min_tokens: int = field(default=DEFAULT_COMPILE_MIN_TOKENS, metadata={
        "help": "With compile='auto': compile only when the examples hold at least this many tokens to score."})
    cpu_workers: int | str = field(default="auto", metadata={
        "help": "CPU only: batches scored concurrently by this many threads, each running torch on one core "
                "(scoring/workers.py; eager: 1.06-1.3x the one-batch loop on 2 cores, scores unchanged). 'auto' = "
                "torch.get_num_threads() eager, 1 with a compiled decoder (its fused kernels split well over "
                "threads); 1 = one batch at a time with torch's intra-op threads."})
    show_progress: bool = field(default=True, metadata={"help": "tqdm progress bar with tokens/s."})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_nll(sum_nll: np.ndarray, num_targets: np.ndarray) -> np.ndarray:
    """``sum_nll / num_targets`` per example, NaN where no token was scored."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(num_targets > 0, sum_nll / np.maximum(num_targets, 1), np.nan)


@dataclass
class NLLScores:
    """Per-example results of :func:`score_nll` (arrays indexed like the examples)."""

    sum_nll: np.ndarray
    num_targets: np.ndarray
    forward_tokens: int = 0
    padded_tokens: int = 0
    attention_pairs: int = 0
    seconds: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_nll(self) -> np.ndarray:
        """Mean NLL per scored token; NaN where nothing was scored (empty / one-token example)."""
        return mean_nll(self.sum_nll, self.num_targets)

    @property
    def perplexity(self) -> np.ndarray:
        return np.exp(self.mean_nll)

    @property
    def scored_tokens(self) -> int:
        return int(self.num_targets.sum())


def autocast_context(device: Any, dtype: str) -> Any:
    """``torch.autocast`` for a reduced-precision dtype, a null context for float32 (``"auto"``: the fast dtype of
    ``device``)."""
    import torch

    torch_dtype = resolve_dtype(dtype, device)
    if torch_dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch_dtype)


def prepare_model(model: Any, config: NLLConfig, plan: ExecutionPlan | None = None) -> ExecutionPlan:
    """The execution plan of ``config`` (unless ``plan`` is given), applied to ``model``: its attention
    implementation set and the model moved to the plan's device."""
    plan = plan or choose_plan(model, device=config.device, attn_implementation=config.attn_implementation,
                               batching=config.batching, nll_backend=config.nll_backend)
    apply_attn_implementation(model, plan.attn_implementation)
    if next(model.parameters()).device != plan.device:
        model.to(plan.device)
    return plan


def score_nll(model: Any, examples: TokenizedExamples, config: NLLConfig | None = None, *,
              rows: Sequence[int] | None = None, plan: ExecutionPlan | None = None) -> NLLScores:
    """Summed NLL and scored-token count of each example (only ``rows`` when given; others stay 0).

    The model is used as is (its weights' dtype and device); ``config.dtype`` sets the autocast dtype.
    """
    import torch

    config = config or NLLConfig()
    if config.max_tokens_per_batch < 1:
        raise ValueError(f"max_tokens_per_batch must be >= 1, got {config.max_tokens_per_batch}.")
    plan = prepare_model(model, config, plan)
    device = plan.device
    dtype = dtype_name(config.dtype, device)
    n = len(examples)
    num_targets = examples.num_targets
    candidates = range(n) if rows is None else rows
    todo = [i for i in candidates if num_targets[i] > 0]
    batches = plan_batches(examples.lengths, plan.batching, config.max_tokens_per_batch, rows=todo)
    sums = torch.zeros(n, dtype=torch.float64)
    counts = torch.zeros(n, dtype=torch.int64)
    decoder = model.get_decoder() if plan.nll_backend != "full" else None
    fast = compiled_path(decoder, device=device, mode=config.compile, min_tokens=config.compile_min_tokens,
                         tokens=int(examples.lengths[num_targets > 0].sum()), nll_backend=plan.nll_backend)
    workers, workers_reason = resolve_cpu_workers(config.cpu_workers, device, num_batches=len(batches),
                                                  compiled=fast.enabled, model=model)
    pad_id = getattr(model.config, "pad_token_id", None)
    pad_id = 0 if pad_id is None or isinstance(pad_id, list) else int(pad_id)
    forward_tokens = padded = 0
    lengths = examples.lengths
    progress = _progress(sum(int(lengths[i]) for i in todo), config.show_progress)
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), weights_in(model, dtype, all_parameters=config.cast_weights) as head_weight:
            def run(rows_b: list[int]) -> tuple[Any, Any, int, int]:
                # inference_mode and autocast are per thread: entered here, in the thread that runs the batch
                with torch.inference_mode(), autocast_context(device, dtype):
                    batch = collate(examples, rows_b, plan.batching, pad_token_id=pad_id).to(device)
                    nll = forward_token_nll(model, batch, backend=plan.nll_backend, chunk_size=config.lm_head_chunk,
                                            head_weight=head_weight, decoder=fast.decoder, nll_fn=fast.token_nll)
                    seg = torch.as_tensor(batch.rows, dtype=torch.long)[batch.segments.cpu()]
                    return seg, nll.double().cpu(), batch.real_tokens, batch.padded_tokens

            # closing(): the workers stop on an error too; a compiled decoder compiles on the first batch, inline
            results = contextlib.closing(map_batches(run, batches, workers, first_inline=fast.enabled))
            with results as done:
                for seg, nll, real, pad in done:
                    sums.index_add_(0, seg, nll)
                    counts.index_add_(0, seg, torch.ones_like(seg))
                    forward_tokens += real
                    padded += pad
                    if progress is not None:
                        progress.update(real)
                        progress.set_postfix(tok_s=f"{forward_tokens / max(time.perf_counter() - start, 1e-9):.0f}")
    finally:
        if progress is not None:
            progress.close()
        model.train(was_training)
    pairs = int(sum(int(lengths[i]) * (int(lengths[i]) + 1) // 2 for i in todo))
    return NLLScores(sums.numpy(), counts.numpy(), forward_tokens, padded, pairs, time.perf_counter() - start,
                     {**plan.to_dict(), "dtype": dtype, "compile": fast.info(),
                      "cpu_workers": workers, "cpu_workers_reason": workers_reason})


@contextlib.contextmanager
def weights_in(model: Any, dtype: str, *, all_parameters: bool = True) -> Any:
    """Hold the model's weights in ``dtype`` for the duration of the block, then restore the originals exactly.

    Under autocast, fp32 weights would be cast again at every call (a copy per layer per batch); casting once saves
    that. ``all_parameters=True`` casts every floating parameter (embeddings and norms too: the residual stream runs in
    ``dtype``, the fastest path); ``False`` casts only linear layers (residual stream stays fp32). Yields the LM-head
    weight in ``dtype``. ``float32`` changes nothing.
    """
    import torch

    target = resolve_dtype(dtype)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if target == torch.float32:
        yield getattr(head, "weight", None)
        return
    if all_parameters:
        params = [p for p in model.parameters() if p.is_floating_point()]
    else:
        params = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    saved = []
    for param in {id(p): p for p in params}.values():
        if param.dtype != target:
            saved.append((param, param.data))
            param.data = param.data.to(target)
    try:
        weight = getattr(head, "weight", None)
        yield weight.to(target) if weight is not None else None
    finally:
        for param, data in saved:
            param.data = data


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with transformers
        return None
    return tqdm(total=total, unit="tok", unit_scale=True, desc="scoring", leave=False)
