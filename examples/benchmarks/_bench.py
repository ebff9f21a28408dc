"""Shared by the benchmark scripts: interleaved timing, the physical limit (measured matmul peak), three figures.

Every benchmark reports, from one run, three figures per method: the speed ratio against the *naive* loop, against
the *competent* loop (what a careful user writes in ten lines; defined exactly in each script's docstring) and the
achieved FLOP/s as a fraction of this machine's *measured* matmul peak for the model's own GEMM shapes (in bf16 and
fp32). Methods run interleaved in one process (round-robin, best wall time kept) so that all of them see the same
machine load; the CPU seconds of the process are recorded too (less sensitive to other processes on a shared machine),
and so is the load average.

Example:
    >>> gemms = model_gemms({"hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
    ...                      "num_key_value_heads": 1, "num_hidden_layers": 2, "vocab_size": 32})
    >>> [(k, n, count) for k, n, count in gemms][:3]
    [(8, 8, 2), (8, 4, 4), (8, 8, 2)]
    >>> round(ratio(100.0, 25.0), 2), fmt_ratio(None)
    (4.0, '-')
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def model_gemms(config: Mapping[str, Any], *, lm_head: bool = True, gated: bool = True) -> list[tuple[int, int, int]]:
    """``(in, out, count)`` of every weight matmul one token goes through (attention q/k/v/o, MLP, LM head)."""
    h = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or h // heads)
    kv = int(config.get("num_key_value_heads") or heads) * head_dim
    inter = int(config["intermediate_size"])
    layers = int(config["num_hidden_layers"])
    out = [(h, heads * head_dim, layers), (h, kv, 2 * layers), (heads * head_dim, h, layers)]
    out += [(h, inter, (2 if gated else 1) * layers), (inter, h, layers)]
    if lm_head:
        out.append((h, int(config["vocab_size"]), 1))
    return out


def matmul_peak(gemms: list[tuple[int, int, int]], dtype: str, *, tokens: int = 4096, repeats: int = 5,
                device: str = "cpu") -> float:
    """FLOP/s of this machine on ``gemms`` (``[tokens, in] @ [in, out]``, weighted by count; best of ``repeats``).

    This is the physical limit of a forward pass made of these matmuls: attention, norms and the softmax of the
    loss are extra work on top, so no method reaches 100%.
    """
    import torch

    counts: dict[tuple[int, int], int] = {}
    for k, n, c in gemms:
        counts[(k, n)] = counts.get((k, n), 0) + c
    total_flops = total_seconds = 0.0
    for (k, n), weight in counts.items():
        a = torch.randn(tokens, k, dtype=getattr(torch, dtype), device=device)
        b = torch.randn(k, n, dtype=getattr(torch, dtype), device=device)
        sync = torch.cuda.synchronize if a.is_cuda else (lambda: None)
        a @ b
        sync()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - start)
        total_flops += weight * 2.0 * tokens * k * n
        total_seconds += weight * best
    return total_flops / total_seconds


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` or ``None`` when either is missing."""
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(x: float | None, suffix: str = "x") -> str:
    return "-" if x is None else f"{x:.2f}{suffix}"


@dataclass
class Timing:
    """Best wall seconds and the CPU seconds of that run, over the interleaved rounds of one method."""

    wall: float = float("inf")
    cpu: float = float("inf")
    output: Any = None
    runs: list[float] = field(default_factory=list)


def interleave(methods: Mapping[str, Callable[..., Any]], rounds: int, *args: Any,
               log: Callable[[str], None] | None = print) -> dict[str, Timing]:
    """Call every method with ``args`` once per round, in turn; keep each one's best wall time (+ CPU time, output)."""
    out = {name: Timing() for name in methods}
    for r in range(rounds):
        for name, fn in methods.items():
            cpu, wall = time.process_time(), time.perf_counter()
            result = fn(*args)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            t = out[name]
            t.runs.append(wall)
            if wall < t.wall:
                t.wall, t.cpu, t.output = wall, cpu, result
            if log:
                log(f"  round {r + 1}/{rounds} {name:24s} {wall:8.2f} s wall {cpu:8.2f} s cpu  "
                    f"load {os.getloadavg()[0]:.1f}")
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Sample the resident set size in a thread; ``added`` is the memory the block added at its peak (bytes)."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.peak, self.start, self._stop = interval, 0, 0, threading.Event()

    def __enter__(self) -> PeakRSS:  # noqa: PYI034 - a final helper class
        self.start = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def added(self) -> int:
        return self.peak - self.start


def three_figures(rate: float, naive: float | None, competent: float | None, flops_per_s: float | None,
                  peaks: Mapping[str, float], timings: Mapping[str, Timing] | None = None,
                  name: str | None = None) -> dict[str, float | None]:
    """The three figures of one method: ``x_naive``, ``x_competent`` and ``peak_<dtype>`` fractions.

    With ``timings`` and the method's ``name``, also ``x_competent_cpu``: the ratio of CPU seconds (what other
    processes on a shared machine disturb least; meaningful with one torch thread).
    """
    figures: dict[str, float | None] = {"x_naive": ratio(rate, naive), "x_competent": ratio(rate, competent)}
    if timings is not None and name is not None and "competent" in timings:
        figures["x_competent_cpu"] = ratio(timings["competent"].cpu, timings[name].cpu)
    for dtype, peak in peaks.items():
        figures[f"peak_{dtype}"] = ratio(flops_per_s, peak)
    return figures


def print_table(rows: list[Mapping[str, Any]], unit: str, peaks: Mapping[str, float]) -> None:
    """One line per method: rate, the three figures and whatever agreement column the benchmark added."""
    peak_cols = list(peaks)
    print(f"\n{'method':26s} {unit:>10s} {'x naive':>8s} {'x compet.':>9s} {'(cpu-s)':>8s} "
          + " ".join(f"{'%' + d + ' peak':>10s}" for d in peak_cols) + "  agreement")
    for r in rows:
        pk = " ".join(f"{fmt_ratio(None if r.get(f'peak_{d}') is None else 100 * r[f'peak_{d}'], '%'):>10s}"
                      for d in peak_cols)
        print(f"{r['method']:26s} {r['rate']:10.1f} {fmt_ratio(r['x_naive']):>8s} {fmt_ratio(r['x_competent']):>9s} "
              f"{fmt_ratio(r.get('x_competent_cpu')):>8s} {pk}  {r.get('agreement', '')}")
    print("peaks measured here: " + ", ".join(f"{d} {p / 1e9:.0f} GFLOP/s" for d, p in peaks.items())
          + f"; load average {os.getloadavg()[0]:.1f}")


def write_csv(out: str | None, rows: list[Mapping[str, Any]], *distributions: str) -> None:
    """Append ``rows`` with machine, versions and load average (``_results.run_info``) to ``out`` when given
    (``_results.save_rows``: ``--out`` is opt-in, nothing is written otherwise)."""
    from _results import run_info, save_rows

    info = run_info(*distributions) if out else {}
    save_rows(out, [{**info, **row} for row in rows])
