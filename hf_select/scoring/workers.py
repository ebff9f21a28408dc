"""Scoring batches concurrently on a CPU: worker threads that each run torch on one core (inter-op parallelism).

Found by profiling the eager engine on the project's reference CPU (SmolLM2-135M, bf16, 2 cores): only ~27% of the
time was in matmuls; the rest were element-wise kernels (RMSNorm with its fp32 round trip, rotary embeddings, SiLU
gating, the fp32 log-softmax of the LM head), each split over the two intra-op threads at the cost of a
synchronisation. Two worker threads, each scoring its own batch with one intra-op thread, keep both cores busy without
those: 1.06-1.33x the tokens/s of the one-batch loop in the same process (``ours_eager`` vs ``ours_one_worker`` of
``examples/benchmarks/bench_perplexity.py``, 96-200 pool rows). torch releases the GIL inside every kernel, so threads
suffice: no second copy of the model, no process start-up.

Scores do not depend on the number of workers: each example is scored inside one batch, by one worker, with one
intra-op thread, and results are accumulated in batch order (bitwise equal to ``cpu_workers=1`` with
``torch.set_num_threads(1)``; with more intra-op threads the matmuls may round differently, as any thread count can).

``cpu_workers="auto"`` uses ``torch.get_num_threads()`` workers on CPU (the threads torch would have used; set
``OMP_NUM_THREADS`` / ``torch.set_num_threads`` to change it) and one elsewhere (a GPU runs one batch at a time).
With a compiled decoder (:mod:`.compiled`), ``"auto"`` is one worker: the fused kernels split well over torch's
threads (one compiled worker with 2 threads measured 2,967-3,218 tokens/s, two compiled workers of 1 thread
2,694-2,767); an explicit number is honoured (the workers share the compiled layers; the first batch runs alone, so
compiling happens once, before they start).

Worker threads share the model, so a module that changes its own state during a forward pass would let one batch
see another's: transformers' rotary embeddings of type ``dynamic`` and ``longrope`` recompute their frequencies per
call from the sequence length. A model with such a module (:func:`thread_unsafe_modules`) scores with one worker,
and the plan says why.

Example:
    >>> from hf_select.scoring.workers import map_batches, resolve_cpu_workers
    >>> resolve_cpu_workers(2, "cpu", num_batches=5, compiled=False)
    (2, 'cpu_workers=2')
    >>> resolve_cpu_workers("auto", "cuda", num_batches=5, compiled=False)[0]
    1
    >>> list(map_batches(lambda b: b * b, [1, 2, 3], workers=2))
    [1, 4, 9]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def check_cpu_workers(value: Any) -> None:
    """``ValueError`` unless ``value`` is ``"auto"`` or a positive int (the ``cpu_workers`` knob)."""
    if value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"cpu_workers must be 'auto' or a positive integer, got {value!r}.")


# Rotary-embedding types whose forward rewrites the module's frequencies (transformers' ``dynamic_rope_update``).
STATEFUL_ROPE_TYPES = ("dynamic", "longrope")


def thread_unsafe_modules(model: Any) -> list[str]:
    """Names of ``model``'s modules that change their own state in a forward pass (see the module docstring)."""
    found = []
    for name, module in getattr(model, "named_modules", lambda: [])():
        rope = getattr(module, "rope_type", None)
        kinds = rope.values() if isinstance(rope, dict) else [rope]
        if any(isinstance(k, str) and any(s in k for s in STATEFUL_ROPE_TYPES) for k in kinds):
            found.append(f"{name or type(module).__name__} (rope_type={rope!r})")
    return found


def resolve_cpu_workers(value: Any, device: Any, *, num_batches: int, compiled: bool,
                        model: Any = None) -> tuple[int, str]:
    """How many worker threads score the batches, and why (for the plan / cost record). ``model``: checked with
    :func:`thread_unsafe_modules` when more than one worker would run."""
    import torch

    check_cpu_workers(value)
    device_type = getattr(device, "type", str(device).split(":")[0])
    if device_type != "cpu":
        return 1, f"one batch at a time on {device_type}"
    if compiled and value == "auto":
        return 1, "auto: compiled decoder: one worker on torch's threads (measured faster than 1-thread workers)"
    wanted = max(1, torch.get_num_threads()) if value == "auto" else int(value)
    workers = max(1, min(wanted, num_batches))
    unsafe = thread_unsafe_modules(model) if workers > 1 and model is not None else []
    if unsafe:
        return 1, f"one worker: {', '.join(unsafe[:2])} changes its state per call (not safe across threads)"
    if value == "auto":
        return workers, f"auto: {workers} worker(s) of 1 thread ({wanted} torch threads, {num_batches} batches)"
    return workers, f"cpu_workers={value}" + (f" (only {num_batches} batches)" if workers < wanted else "")


def map_batches(fn: Callable[[T], R], batches: Iterable[T], workers: int, *, first_inline: bool = False
                ) -> Iterator[R]:
    """``map(fn, batches)`` in order; with ``workers > 1`` computed by that many threads, each with one intra-op
    torch thread (the process's thread count is restored afterwards). ``fn`` must enter its own torch contexts
    (``inference_mode`` and ``autocast`` are per thread). Unstarted batches are cancelled when the consumer stops or
    a batch raises."""
    if workers <= 1:
        yield from map(fn, batches)
        return
    from concurrent.futures import ThreadPoolExecutor

    import torch

    def one_thread(item: T) -> R:
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        return fn(item)

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hf_select-score")
    try:
        items = iter(batches)
        if first_inline:  # e.g. a compiled function: compiled once (for one thread), here, before workers share it
            for item in items:
                yield fn(item)
                break
        yield from pool.map(one_thread, items)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(previous)
