# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,assets]"]
# ///
"""Perplexity scoring of SmolLM2-135M-Instruct on the embedded pool: hf_select's engine vs the naive HF loop.

Baseline (what most scripts do): fp32 weights, dataset order, right-padded batches of 16, full ``[B, L, V]`` logits,
``log_softmax`` in fp32. Ours: ``hf_select.scoring`` (bf16 autocast, length-bucketed batches under a token budget,
LM head only on scored positions, chunked log-sum-exp). Each method runs in its own spawned process so peak memory
(RSS sampled every few ms, minus the idle process) is measured per method. Printed: tokens/s ratio, peak-memory
ratio, achieved FLOP/s (detailed count: matmul weights + attention) as a fraction of this machine's measured bf16
matmul peak, and the Spearman rank agreement of our bf16 scores with the fp32 baseline. Optionally
(``--compare-packed``) the packed mode, which is how the CPU default of ``hf_select.scoring.dispatch`` was chosen.

``--out FILE`` appends the row to a CSV (published: ``examples/benchmarks/results/bench_perplexity.csv``), with machine
and versions.

Run:
    python examples/benchmarks/bench_perplexity.py --n-examples 500
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import threading
import time



from _results import add_out_argument, save_rows  # noqa: E402  (beside this script)

def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-examples", type=int, default=500, help="Embedded-pool examples to score.")
    p.add_argument("--max-length", type=int, default=1024, help="Token cut of each example (both methods).")
    p.add_argument("--baseline-batch-size", type=int, default=16)
    p.add_argument("--max-tokens-per-batch", type=int, default=8192, help="Our token budget per forward.")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's).")
    p.add_argument("--compare-packed", action="store_true", help="Also time our packed mode.")
    add_out_argument(p, "bench_perplexity")
    return p


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Sample the resident set size in a thread; ``peak - start`` is the memory a block added."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def __enter__(self) -> "PeakRSS":
        self.start = _rss_bytes()
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def texts_and_path(n: int):
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    path = smollm2_local_path()
    pool = load_builtin_pool(max_rows=n, seed=0)
    return text_view(pool, "full", tokenizer=load_tokenizer(path)), path


def run_method(method: str, texts: list[str], path: str, args: dict, queue) -> None:
    import numpy as np
    import torch

    if args["threads"]:
        torch.set_num_threads(args["threads"])
    idle = _rss_bytes()
    from hf_select.scoring.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer(path)
    model = load_causal_lm(path, dtype="float32")
    with PeakRSS() as mem:
        start = time.perf_counter()
        if method == "baseline":
            scores, tokens, lengths = _baseline(model, tok, texts, args)
        else:
            mode = "packed" if method == "ours_packed" else "bucketed"
            scores, tokens, lengths = _ours(model, tok, texts, args, mode)
        seconds = time.perf_counter() - start
    queue.put({"method": method, "seconds": seconds, "tokens": tokens, "peak_rss": mem.peak, "idle_rss": idle,
               "scores": np.asarray(scores).tolist(), "lengths": lengths, "threads": torch.get_num_threads()})


def _baseline(model, tok, texts, args):
    import torch

    scores, tokens, lengths = [], 0, []
    bs = args["baseline_batch_size"]
    with torch.no_grad():
        for i in range(0, len(texts), bs):
            enc = tok(texts[i:i + bs], return_tensors="pt", padding=True, truncation=True,
                      max_length=args["max_length"])
            logits = model(**enc).logits  # full [B, L, V] fp32
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            labels = enc["input_ids"][:, 1:]
            mask = enc["attention_mask"][:, 1:].bool()
            nll = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
            per = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
            scores.extend(per.tolist())
            tokens += int(enc["attention_mask"].sum())
            lengths.extend(enc["attention_mask"].sum(1).tolist())
    return scores, tokens, lengths


def _ours(model, tok, texts, args, mode):
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.pipeline import nll_for_texts

    out = nll_for_texts(model, tok, texts, NLLConfig(dtype="bfloat16", batching=mode, show_progress=False,
                                                     max_tokens_per_batch=args["max_tokens_per_batch"]),
                        max_length=args["max_length"])
    return out.mean_nll, out.forward_tokens, out.lengths.tolist()


def bf16_peak_flops(threads: int | None, seconds: float = 3.0) -> float:
    """Best FLOP/s of bf16 matmuls shaped like SmolLM2's MLP on a 4096-token batch (this machine's usable peak)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a = torch.randn(4096, 576, dtype=torch.bfloat16)
    b = torch.randn(576, 1536, dtype=torch.bfloat16)
    best, end = 0.0, time.perf_counter() + seconds
    a @ b
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 4096 * 576 * 1536 / (time.perf_counter() - t))
    return best


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = make_parser().parse_args(argv)
    import numpy as np
    import torch
    import transformers
    from scipy.stats import spearmanr

    from hf_select.cost.flops import forward_flops
    from hf_select.cost.record import hardware_info

    texts, path = texts_and_path(args.n_examples)
    knobs = {"threads": args.threads, "max_length": args.max_length, "baseline_batch_size": args.baseline_batch_size,
             "max_tokens_per_batch": args.max_tokens_per_batch}
    methods = ["baseline", "ours"] + (["ours_packed"] if args.compare_packed else [])
    ctx = mp.get_context("spawn")
    results = {}
    for method in methods:
        queue = ctx.Queue()
        proc = ctx.Process(target=run_method, args=(method, texts, path, knobs, queue))
        proc.start()
        results[method] = queue.get()
        proc.join()
        r = results[method]
        print(f"{method:12s} {r['seconds']:8.1f}s  {r['tokens'] / r['seconds']:8.1f} tok/s  "
              f"peak RSS +{(r['peak_rss'] - r['idle_rss']) / 2**20:7.0f} MiB", flush=True)
    peak = bf16_peak_flops(args.threads)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path, local_files_only=True).to_dict()
    base, ours = results["baseline"], results["ours"]
    lengths = ours["lengths"]
    flops = forward_flops(config, lengths, convention="detailed")
    achieved = flops / ours["seconds"]
    speed = (ours["tokens"] / ours["seconds"]) / (base["tokens"] / base["seconds"])
    mem = (ours["peak_rss"] - ours["idle_rss"]) / max(base["peak_rss"] - base["idle_rss"], 1)
    b_scores, o_scores = np.array(base["scores"]), np.array(ours["scores"])
    ok = np.isfinite(b_scores) & np.isfinite(o_scores)
    rho = float(spearmanr(b_scores[ok], o_scores[ok]).statistic)
    print(f"examples={len(texts)} tokens={ours['tokens']} threads={ours['threads']}")
    print(f"tokens/s ratio (ours / baseline): {speed:.2f}x   (goal >= 6x)")
    print(f"peak memory ratio (ours / baseline): {mem:.2f}x   (goal <= 0.5x)")
    print(f"achieved {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of measured bf16 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s   (goal >= 50%)")
    print(f"Spearman(ours bf16, baseline fp32) = {rho:.4f}   (goal >= 0.99); max |diff| = "
          f"{np.abs(b_scores[ok] - o_scores[ok]).max():.4f}")
    if "ours_packed" in results:
        p = results["ours_packed"]
        print(f"packed / bucketed tokens/s: {(p['tokens'] / p['seconds']) / (ours['tokens'] / ours['seconds']):.2f}x")
    hw = hardware_info()
    row = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "processor": hw.get("processor"),
           "cpu_count": hw.get("cpu_count"),
           "threads": ours["threads"], "load_avg_1m": os.getloadavg()[0], "torch": torch.__version__,
           "transformers": transformers.__version__, "n_examples": len(texts), "tokens": ours["tokens"],
           "max_length": args.max_length, "baseline_tok_s": base["tokens"] / base["seconds"],
           "ours_tok_s": ours["tokens"] / ours["seconds"], "speedup": speed,
           "baseline_peak_mib": (base["peak_rss"] - base["idle_rss"]) / 2**20,
           "ours_peak_mib": (ours["peak_rss"] - ours["idle_rss"]) / 2**20, "memory_ratio": mem,
           "bf16_peak_gflops": peak / 1e9, "ours_gflops": achieved / 1e9, "peak_fraction": achieved / peak,
           "spearman_bf16_vs_fp32": rho,
           "packed_vs_bucketed": ((results["ours_packed"]["tokens"] / results["ours_packed"]["seconds"])
                                  / (ours["tokens"] / ours["seconds"])) if "ours_packed" in results else ""}
    save_rows(args.out, [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
