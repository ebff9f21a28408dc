"""The CPU fast path of NLL scoring: ``torch.compile`` of the decoder and of the LM-head NLL chunk.

Found by profiling the engine on a bf16 CPU (SmolLM2-135M, 2 cores, AMX): matmuls were only ~39% of the time; the rest
was dtype casts inside RMSNorm (~13%), the fp32 log-softmax of the chunked cross-entropy over the 49k vocabulary (~13%),
attention (~11%) and element-wise ops (~12%). Compiling fuses the norms, rotary embeddings and SiLU-gating of the
decoder into a few C++ loops (matmuls stay oneDNN / MKL calls), and the LM-head chunk (the same
:func:`~hf_select.scoring.nll.logits_nll` as the eager path: fp32 cross-entropy of ``h @ W.T``) into one pass over each
``[chunk, V]`` tile without an fp32 copy of it (the eager chunk was ~3x slower than its matmul). The decoder's layers
are identical, so one compiled layer forward serves all of them (regional compilation, :class:`RegionalDecoder`; the
whole decoder is compiled when its layers differ). Measured gain over the eager engine (2 cores, 200 pool rows,
``examples/benchmarks/bench_perplexity.py``): 1.57x over eager with its 2 worker threads (2,775 vs 1,765 tokens/s;
2.94x the competent plain loop); ranks stay within bf16 noise of fp32 (Spearman >= 0.999). Dynamic int8
quantisation of the linears was measured too and rejected (slower than bf16 on AMX, Spearman 0.85). Matmuls stay
the same oneDNN / MKL calls, so a CPU without AMX (where matmuls are a larger share) gains less but never loses once
compiling is paid for.

Compiling costs time once per process (~40-65 CPU-seconds for SmolLM2-135M with a cold inductor cache, less with a
warm one), so ``compile="auto"`` turns it on only on CPU and only for pools of at least ``compile_min_tokens`` tokens.
Compiled, the batches run one at a time on torch's intra-op threads (``cpu_workers="auto"`` resolves to 1): the fused
kernels split well over threads, and one compiled worker with 2 threads measured faster than 2 compiled workers of 1
thread (2,967-3,218 vs 2,694-2,767 tokens/s, 200 pool rows, 2 cores), while eager scoring gains from 2 workers
(:mod:`.workers`). An explicit ``cpu_workers=N`` runs N workers on the compiled layers too (they share one installation
of the compiled forward, :class:`RegionalDecoder`).
Any failure (no C++ compiler, an unsupported model) falls back to eager scoring with the reason logged and recorded
in the plan; the result is never different in kind, only in speed.

Example:
    >>> from hf_select.scoring.compiled import resolve_compile
    >>> resolve_compile("auto", "cpu", tokens=1_000, min_tokens=1_000_000)
    (False, 'auto: 1000 tokens < compile_min_tokens=1000000 (compiling would not pay off)')
    >>> resolve_compile("off", "cpu", tokens=10**9, min_tokens=1)
    (False, 'compile=off')
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .nll import IGNORE_INDEX, _check, logits_nll, token_nll

logger = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")
# Tokens to score below which compile="auto" stays eager. Measured on SmolLM2-135M (2-core Xeon, bf16): compiling
# costs ~40-65 CPU-seconds once (regional, cold inductor cache) and saves ~0.15-0.2 ms per token (1,190 -> 1,510
# tokens per CPU-second), so it pays off from ~300-400k tokens; 1M (~10k pool rows of ~100 tokens) leaves a margin
# for slower CPUs and compilers.
DEFAULT_COMPILE_MIN_TOKENS = 1_000_000

# decoder module -> its compiled wrapper, or the reason compiling it failed (kept for the life of the module).
_COMPILED_DECODERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_NLL_CHUNK: dict[str, Any] = {}


def cxx_compiler() -> str | None:
    """Path of the C++ compiler inductor would use on CPU (``$CXX`` or its default), or ``None`` when missing."""
    from torch._inductor import config as inductor_config

    candidates = [c for c in getattr(getattr(inductor_config, "cpp", None), "cxx", ()) if isinstance(c, str)]
    candidates += [os.environ.get("CXX", ""), "g++", "clang++", "c++"]
    for name in candidates:
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


def resolve_compile(mode: str, device: Any, *, tokens: int, min_tokens: int) -> tuple[bool, str]:
    """Whether to compile, and why: ``"on"`` / ``"off"`` as given; ``"auto"``: CPU with at least ``min_tokens``."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile={mode!r} is not known; use one of {COMPILE_MODES}.")
    if not isinstance(min_tokens, int) or min_tokens < 0:
        raise ValueError(f"compile_min_tokens must be a non-negative integer, got {min_tokens!r}.")
    if mode == "off":
        return False, "compile=off"
    device_type = getattr(device, "type", str(device).split(":")[0])
    if mode == "auto":
        if device_type != "cpu":
            return False, f"auto: compiled scoring is the CPU path (device {device_type})"
        if tokens < min_tokens:
            return False, f"auto: {tokens} tokens < compile_min_tokens={min_tokens} (compiling would not pay off)"
    if device_type == "cpu" and cxx_compiler() is None:
        return False, "no C++ compiler found (torch.compile needs one on CPU; set $CXX or install g++): eager"
    return True, "compile=on" if mode == "on" else f"auto: CPU, {tokens} tokens >= compile_min_tokens={min_tokens}"


def _nll_chunk(hidden: Any, weight: Any, labels: Any, bias: Any) -> Any:
    """NLL of one ``[chunk, H]`` tile through :func:`~hf_select.scoring.nll.logits_nll` (the one cross-entropy of
    hf_select), traced by torch.compile: the fp32 upcast, log-softmax and gather fuse into one pass over the tile.
    Measured against a compiled ``logsumexp - gather`` (SmolLM2 head, 256 rows, bf16, 1 thread, under load): 48 vs
    87 ms per chunk (the matmul alone 42 ms), identical values."""
    logits = hidden @ weight.T
    if bias is not None:
        logits = logits + bias
    return logits_nll(logits, labels)


def _compiled_nll_chunk() -> Any:
    if "fn" not in _NLL_CHUNK:
        import torch

        _NLL_CHUNK["fn"] = torch.compile(_nll_chunk, dynamic=False)
    return _NLL_CHUNK["fn"]


def compiled_token_nll(hidden: Any, weight: Any, labels: Any, chunk_size: int | None = 256, *,
                       ignore_index: int = IGNORE_INDEX, bias: Any = None) -> Any:
    """Per-token NLL like :func:`~hf_select.scoring.nll.chunked_token_nll`, each chunk one compiled fused kernel.

    Every chunk has the static shape ``[chunk_size, H]`` (the last one is zero-padded), so one compilation serves the
    whole run. Labels outside ``[0, V)`` other than ``ignore_index`` raise instead of reading out of bounds.
    """
    import torch

    _check(hidden, weight, labels, bias)
    step = chunk_size or 256
    if step <= 0:
        raise ValueError(f"chunk_size must be positive or None, got {chunk_size}.")
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    flat_y = labels.reshape(-1)
    ignored = flat_y == ignore_index
    y = torch.where(ignored, torch.zeros_like(flat_y), flat_y)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= weight.shape[0]):
        raise ValueError(f"labels must be token ids in [0, {weight.shape[0]}) or ignore_index={ignore_index}; got "
                         f"[{int(y.min())}, {int(y.max())}] (does the tokenizer have more tokens than the model?).")
    w = weight if weight.dtype == flat_h.dtype else weight.to(flat_h.dtype)
    b = None if bias is None else bias.to(flat_h.dtype)
    n = y.shape[0]
    pad = -n % step
    if pad:
        flat_h = torch.cat([flat_h, flat_h.new_zeros(pad, flat_h.shape[1])])
        y = torch.cat([y, y.new_zeros(pad)])
    fn = _compiled_nll_chunk()
    out = torch.empty(n + pad, dtype=torch.float32, device=flat_h.device)
    for start in range(0, n + pad, step):
        out[start:start + step] = fn(flat_h[start:start + step], w, y[start:start + step], b)
    out = out[:n].masked_fill(ignored, 0.0)
    return out.reshape(labels.shape)


class _Fallback:
    """Call ``fast``; on its first failure log the reason, remember it, and use ``eager`` from then on."""

    def __init__(self, fast: Callable[..., Any], eager: Callable[..., Any], what: str, on_fail: Callable[[str], None]):
        self.fast, self.eager, self.what, self.on_fail = fast, eager, what, on_fail
        self.failed: str | None = None
        self.first_call_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed is None:
            start = time.perf_counter()
            try:
                out = self.fast(*args, **kwargs)
            except (ValueError, TypeError):  # bad input, not a compilation problem: the caller must see it
                raise
            except Exception as exc:  # noqa: BLE001 - compile errors have many types (dynamo, inductor, C++)
                self.failed = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc) else ''}"
                logger.warning("torch.compile of the %s failed (%s); scoring continues in eager mode.",
                               self.what, self.failed)
                self.on_fail(self.failed)
            else:
                if self.first_call_seconds is None:
                    self.first_call_seconds = time.perf_counter() - start
                return out
        return self.eager(*args, **kwargs)


def regional_layers(decoder: Any) -> Any:
    """The decoder's ``layers`` when they can share one compiled forward (a ``ModuleList`` of one class, none with
    its own ``forward`` attribute such as an accelerate hook), else ``None`` (then the whole decoder is compiled)."""
    import torch

    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0 or len({type(m) for m in layers}) != 1:
        return None
    if any("forward" in vars(m) for m in layers):
        return None
    return layers


class RegionalDecoder:
    """Run ``decoder`` with every layer calling one compiled layer forward (regional compilation).

    The layers are identical modules, so one compilation serves all of them: ~4x less compile time than compiling
    the whole decoder (measured on SmolLM2-135M: ~64 vs ~240 CPU-seconds cold), at the same speed (the fusions are
    inside the layers). The layers get the compiled forward only while a call runs: calls from several threads (the
    CPU workers of :mod:`.workers`) share one installation, counted under a lock, so no thread takes it away from
    another.
    """

    def __init__(self, decoder: Any, layers: Any) -> None:
        import torch

        self.decoder, self.layers = decoder, layers
        self.layer_forward = torch.compile(type(layers[0]).forward, dynamic=True)
        self._lock = threading.Lock()
        self._users = 0

    @contextlib.contextmanager
    def installed(self) -> Any:
        """The compiled forward on every layer for the duration of the block (nested / concurrent blocks share it)."""
        with self._lock:
            if self._users == 0:
                for layer in self.layers:
                    layer.forward = functools.partial(self.layer_forward, layer)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    for layer in self.layers:
                        del layer.forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.installed():
            return self.decoder(*args, **kwargs)


@dataclass
class CompiledPath:
    """What the engine calls for one run: the decoder and the per-token NLL function (compiled or eager)."""

    decoder: Any
    token_nll: Callable[..., Any]
    enabled: bool
    reason: str
    _parts: list[_Fallback] = field(default_factory=list, repr=False)

    def info(self) -> dict[str, Any]:
        """For the plan / cost record: whether compiled, why, failures and the first-call seconds (incl. compiling)."""
        failures = [p.failed for p in self._parts if p.failed]
        first = [p.first_call_seconds for p in self._parts if p.first_call_seconds is not None]
        return {"enabled": self.enabled and not failures, "reason": self.reason,
                **({"failed": failures} if failures else {}),
                **({"first_call_seconds": round(sum(first), 3)} if first else {})}


def compiled_path(decoder: Any, *, device: Any, mode: str, tokens: int, min_tokens: int,
                  nll_backend: str) -> CompiledPath:
    """The decoder and NLL function to score with: compiled when :func:`resolve_compile` says so, else eager.

    The compiled decoder is cached per decoder module (later calls, e.g. the next shard of a pool, reuse it); a
    decoder whose compilation failed once is not compiled again.
    """
    enabled, reason = resolve_compile(mode, device, tokens=tokens, min_tokens=min_tokens)
    if not enabled or decoder is None:
        return CompiledPath(decoder, token_nll, False, reason if decoder is not None else "model's own head: eager")
    previous = _COMPILED_DECODERS.get(decoder)
    if isinstance(previous, str):
        return CompiledPath(decoder, token_nll, False, f"compiling failed earlier ({previous}): eager")
    if previous is None:
        import torch

        def remember(failure: str) -> None:
            _COMPILED_DECODERS[decoder] = failure

        layers = regional_layers(decoder)
        fast = RegionalDecoder(decoder, layers) if layers is not None else torch.compile(decoder, dynamic=True)
        previous = _Fallback(fast, decoder, "decoder", remember)
        _COMPILED_DECODERS[decoder] = previous
    parts = [previous]
    nll_fn = token_nll
    if nll_backend == "torch":
        def eager_nll(*args: Any, **kwargs: Any) -> Any:
            return token_nll(*args, **kwargs)

        def fast_nll(hidden: Any, weight: Any, labels: Any, *, backend: str = "torch", chunk_size: int | None = 256,
                     ignore_index: int = IGNORE_INDEX, bias: Any = None) -> Any:
            return compiled_token_nll(hidden, weight, labels, chunk_size, ignore_index=ignore_index, bias=bias)

        nll_part = _Fallback(fast_nll, eager_nll, "LM-head NLL chunk", lambda failure: None)
        parts.append(nll_part)
        nll_fn = nll_part
    return CompiledPath(previous, nll_fn, True, reason, parts)
