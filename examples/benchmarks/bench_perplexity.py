# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,assets]"]
# ///
"""Perplexity scoring (SmolLM2-135M-Instruct, embedded pool): naive loop, competent loops, hf_select; three figures.

Methods (all score the same texts cut to ``--max-length`` tokens; mean NLL per scored token of each row):

- ``naive``: fp32 weights, dataset order, right-padded batches of ``--batch-size``, full ``[B, L, V]`` logits,
  ``log_softmax`` in fp32 and a gather (what most scripts do). Its fp32 scores are the reference for agreement.
- ``competent``: the ten-line loop a careful user writes: rows sorted by token length, padded batches of
  ``--batch-size``, ``torch.autocast("cpu", bfloat16)`` over fp32 weights, full logits, ``cross_entropy`` in fp32.
- ``competent_bf16w``: the same loop on ``model.to(torch.bfloat16)`` without autocast (what a careful user on a bf16
  CPU may write instead).
- ``ours_eager``: ``hf_select.scoring`` with ``compile="off"`` (bf16 weights, length buckets under a token budget, LM
  head only on scored positions, chunked fp32 log-sum-exp) and the default ``cpu_workers="auto"``: as many worker
  threads as torch has threads, each scoring its own batch on one core (:mod:`hf_select.scoring.workers`).
- ``ours_one_worker``: the same with ``cpu_workers=1`` (one batch at a time on torch's intra-op threads, like the
  loops above): what the workers add.
- ``ours_compiled``: ``compile="on"`` (one worker): ``torch.compile`` of the decoder and of the LM-head NLL chunk
  (:mod:`hf_select.scoring.compiled`). Its one-off compile time is measured separately (warm-up of the compiled path
  minus warm-up of the eager one) and reported with the pool size from which it pays off.
- ``ours (default)``: what ``compile="auto"`` picks for this pool size (a line, not a separate run).

Three figures per method: tokens/s ratio against ``naive`` and against ``competent``, and achieved FLOP/s (detailed
count: weight matmuls incl. the LM head, plus attention, over the real tokens) as a fraction of this machine's measured
bf16 and fp32 matmul peak for SmolLM2's own GEMM shapes. Agreement: Spearman of each method's scores with ``naive``'s
fp32 scores. Methods run interleaved in one process (``--rounds`` rounds, best wall time kept); the CPU seconds and
the load average are printed too. Nothing is written unless ``--out FILE`` is given.

Run (the README figures):
    python examples/benchmarks/bench_perplexity.py --n-examples 400 --rounds 3 --out /tmp/bench_perplexity.csv
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _results import add_out_argument  # noqa: E402  (beside this script)

METHODS = ("naive", "competent", "competent_bf16w", "ours_eager", "ours_one_worker", "ours_compiled")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-examples", type=int, default=200, help="Embedded-pool rows to score.")
    p.add_argument("--max-length", type=int, default=1024, help="Token cut of each row (all methods).")
    p.add_argument("--batch-size", type=int, default=16, help="Rows per batch of the naive and competent loops.")
    p.add_argument("--max-tokens-per-batch", type=int, default=8192, help="Our token budget per forward.")
    p.add_argument("--rounds", type=int, default=2, help="Interleaved timing rounds (best wall time kept).")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's).")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="Subset to run (naive and competent are needed for their ratios).")
    p.add_argument("--profile", nargs="*", choices=METHODS, help="After timing, profile one pass of these methods.")
    p.add_argument("--warm-compile-cache", action="store_true",
                   help="Reuse inductor's on-disk kernel cache (default: a fresh one, so the cold compile time is "
                        "what is reported).")
    p.add_argument("--peak-tokens", type=int, default=4096, help="Rows of the GEMMs timed for the peak.")
    add_out_argument(p, "bench_perplexity")
    return p


def padded_loop(model, tok, texts, args, *, sort: bool, autocast: bool, log_softmax: bool, batch_size=None):
    """The naive (dataset order, log_softmax) and competent (sorted, cross_entropy) plain-transformers loops."""
    import numpy as np
    import torch

    device = next(model.parameters()).device
    batch_size = batch_size or args.batch_size
    ids = tok(list(texts), truncation=True, max_length=args.max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable") if sort else np.arange(len(ids))
    scores = np.full(len(ids), np.nan)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = tok.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt").to(device)
            logits = model(**batch).logits[:, :-1].float()
            labels, mask = batch["input_ids"][:, 1:], batch["attention_mask"][:, 1:]
            if log_softmax:
                nll = -torch.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
            else:
                nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
            per_row = (nll * mask).sum(1) / mask.sum(1)
            scores[rows] = per_row.double().cpu().numpy()
    return scores


def ours(model, tok, texts, args, compile_mode: str, **engine):
    """hf_select's engine (``engine``: more :class:`~hf_select.scoring.engine.NLLConfig` fields)."""
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.pipeline import nll_for_texts

    config = NLLConfig(dtype="bfloat16", compile=compile_mode, show_progress=False,
                       max_tokens_per_batch=args.max_tokens_per_batch, **engine)
    return nll_for_texts(model, tok, texts, config, max_length=args.max_length).mean_nll


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = make_parser().parse_args(argv)
    import tempfile
    import time

    cold_cache = None if args.warm_compile_cache else tempfile.TemporaryDirectory(prefix="bench_inductor_")
    if cold_cache is not None:  # removed when main returns
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cold_cache.name

    import numpy as np
    import torch
    from _bench import interleave, matmul_peak, model_gemms, print_table, three_figures, write_csv
    from scipy.stats import spearmanr
    from transformers import AutoConfig

    from hf_select.cost.flops import forward_flops
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view
    from hf_select.scoring.compiled import DEFAULT_COMPILE_MIN_TOKENS, resolve_compile
    from hf_select.scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path

    if args.threads:
        torch.set_num_threads(args.threads)
    path = smollm2_local_path()
    tok = load_tokenizer(path)
    texts = text_view(load_builtin_pool(max_rows=args.n_examples, seed=0), "full", tokenizer=tok)
    lengths = [len(x) for x in tok(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    tokens = int(sum(lengths))
    model = load_causal_lm(path, dtype="float32")
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16)
    runners = {
        "naive": lambda t: padded_loop(model, tok, t, args, sort=False, autocast=False, log_softmax=True),
        "competent": lambda t: padded_loop(model, tok, t, args, sort=True, autocast=True, log_softmax=False),
        "competent_bf16w": lambda t: padded_loop(model_bf16, tok, t, args, sort=True, autocast=False,
                                                 log_softmax=False),
        "ours_eager": lambda t: ours(model, tok, t, args, "off"),
        "ours_one_worker": lambda t: ours(model, tok, t, args, "off", cpu_workers=1),
        "ours_compiled": lambda t: ours(model, tok, t, args, "on"),
    }
    runners = {m: runners[m] for m in args.methods}
    print(f"{len(texts)} rows, {tokens} tokens (max_length {args.max_length}); torch threads "
          f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    warm = {}
    for name, fn in runners.items():  # first-call costs (oneDNN kernels, allocations, compiling) out of the timing
        start = time.perf_counter()
        fn(texts[:16])
        warm[name] = time.perf_counter() - start
    compile_s = warm["ours_compiled"] - warm["ours_eager"] if {"ours_compiled", "ours_eager"} <= set(warm) else None
    timings = interleave(runners, args.rounds, texts)

    config = AutoConfig.from_pretrained(path, local_files_only=True).to_dict()
    flops = forward_flops(config, lengths, convention="detailed")
    gemms = model_gemms(config)
    peaks = {"bfloat16": matmul_peak(gemms, "bfloat16", tokens=args.peak_tokens),
             "float32": matmul_peak(gemms, "float32", tokens=args.peak_tokens)}
    rate = {name: tokens / t.wall for name, t in timings.items()}
    ref = timings["naive"].output if "naive" in timings else None
    rows = []
    for name, t in timings.items():
        fig = three_figures(rate[name], rate.get("naive"), rate.get("competent"), flops / t.wall, peaks, timings, name)
        rho = None
        if ref is not None:
            ok = np.isfinite(ref) & np.isfinite(t.output)
            rho = float(spearmanr(ref[ok], t.output[ok]).statistic)
        bf16w = timings.get("competent_bf16w")
        rows.append({"method": name, "rate": rate[name], **fig,
                     "x_competent_bf16w": None if bf16w is None else bf16w.wall / t.wall,
                     "x_competent_bf16w_cpu": None if bf16w is None else bf16w.cpu / t.cpu,
                     "cpu_tok_s": tokens / t.cpu, "wall_s": t.wall, "cpu_s": t.cpu, "spearman_vs_fp32": rho,
                     "agreement": "" if rho is None else f"Spearman vs fp32 {rho:.5f}"})
    print_table(rows, "tok/s", peaks)
    for r in rows:
        if r["x_competent_bf16w"] is not None:
            print(f"{r['method']:26s} x competent_bf16w {r['x_competent_bf16w']:.2f} (cpu-s "
                  f"{r['x_competent_bf16w_cpu']:.2f})   {r['cpu_tok_s']:.0f} tokens per CPU-second")
    enabled, reason = resolve_compile("auto", "cpu", tokens=tokens, min_tokens=DEFAULT_COMPILE_MIN_TOKENS)
    print(f"ours (default) for this pool = {'ours_compiled' if enabled else 'ours_eager'} ({reason})")
    if compile_s is not None:
        saved = 1 / rate["ours_eager"] - 1 / rate["ours_compiled"]
        even = f"{compile_s / saved:,.0f} tokens" if saved > 0 else "never (compiled is not faster here)"
        print(f"compile time {compile_s:.1f} s (once per process); pays off from {even}; with it included, "
              f"ours_compiled on this pool runs at {tokens / (timings['ours_compiled'].wall + compile_s):.0f} tok/s")
    common = {"n_examples": len(texts), "tokens": tokens, "max_length": args.max_length, "rounds": args.rounds,
              "threads": torch.get_num_threads(), "compile_s": compile_s, "bf16_peak_gflops": peaks["bfloat16"] / 1e9,
              "fp32_peak_gflops": peaks["float32"] / 1e9}
    write_csv(args.out, [{**common, **{k: v for k, v in r.items() if k != "agreement"}} for r in rows],
              "torch", "transformers")
    for name in args.profile or []:
        profile(name, runners[name], texts)
    return 0


def profile(name: str, fn, texts) -> None:
    """Where the time of one pass goes (torch.profiler, top operators by self CPU time)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(texts)
    print(f"\nprofile of {name}:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    raise SystemExit(main())
