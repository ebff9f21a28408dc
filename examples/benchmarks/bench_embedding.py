# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models]", "sentence-transformers"]
# ///
"""Embedding selector vs ``SentenceTransformer.encode`` on the same model (all-MiniLM-L6-v2, offline) and texts.

- Baseline: ``SentenceTransformer(path).encode(texts, batch_size=32, normalize_embeddings=True)`` (fp32; it sorts by
  character length and pads per batch).
- Ours: ``EmbeddingSelector.encode``: one tokenisation pass, batches sorted by *token* length, ``inference_mode``,
  in float32 and in bfloat16 autocast (the ``dtype="auto"`` choice on CPUs with AVX512-BF16 / AMX).

Printed per variant: seconds (minimum over interleaved repeats), speed ratio vs the baseline (goal >= 1.5x), and the
cosine agreement with the baseline embeddings (min and mean over texts; goal >= 0.999). ``--out FILE`` appends them to a
CSV (published: ``examples/benchmarks/results/bench_embedding.csv``) with machine, versions and the load average.

Run:  python examples/benchmarks/bench_embedding.py [--n-texts 2000] [--view query|full] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np



from _results import add_out_argument, run_info, save_rows  # noqa: E402  (beside this script)

def load_texts(n: int, view: str) -> list[str]:
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view

    return text_view(load_builtin_pool(max_rows=n), view)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--view", default="query", choices=["query", "full"])
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved timed runs per variant (min reported).")
    parser.add_argument("--batch-size", type=int, default=64, help="Our batch size (the baseline keeps its 32).")
    add_out_argument(parser, "bench_embedding")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from sentence_transformers import SentenceTransformer

    import hf_select as hs
    from hf_select.selectors.embedding import default_model_path

    texts = load_texts(args.n_texts, args.view)
    path = default_model_path()
    st = SentenceTransformer(path, device="cpu", local_files_only=True)
    variants = {
        "sentence_transformers": lambda: st.encode(texts, batch_size=32, normalize_embeddings=True,
                                                   convert_to_numpy=True),
    }
    for dtype in ("float32", "bfloat16"):
        sel = hs.get_selector("embedding", dtype=dtype, batch_size=args.batch_size, show_progress=False)
        sel.encode(texts[:8])  # load + warm-up
        variants[f"hf_select_{dtype}"] = (lambda s: (lambda: s.encode(texts)))(sel)
    st.encode(texts[:8])
    seconds: dict[str, float] = {name: float("inf") for name in variants}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            out, t = timed(fn)
            outputs[name], seconds[name] = out, min(seconds[name], t)
    ref = outputs["sentence_transformers"]
    n_tokens = int(sum(len(x) for x in sel.tokenize(texts)))
    load = os.getloadavg()[0]
    print(f"{len(texts):,} {args.view} texts, {n_tokens:,} tokens; torch threads {torch.get_num_threads()}; "
          f"load average {load:.1f}")
    rows = []
    for name, t in seconds.items():
        cos = (outputs[name] * ref).sum(1) / (np.linalg.norm(outputs[name], axis=1) * np.linalg.norm(ref, axis=1))
        ratio = seconds["sentence_transformers"] / t
        print(f"{name:24s} {t:8.2f} s  {len(texts) / t:7.0f} texts/s  speed ratio {ratio:5.2f}x  "
              f"cosine min {cos.min():.6f} mean {cos.mean():.6f}")
        rows.append({"variant": name, "seconds": round(t, 3), "texts_per_s": round(len(texts) / t, 1),
                     "speed_ratio": round(ratio, 3), "cos_min": float(cos.min()), "cos_mean": float(cos.mean())})
    print("goals: cosine >= 0.999 (float32 must reach it), speed ratio >= 1.5x")

    common = {
        **run_info("sentence-transformers", "transformers", "torch"), "torch_threads": torch.get_num_threads(),
        "n_texts": len(texts), "view": args.view, "n_tokens": n_tokens,
        "batch_size": args.batch_size, "repeats": args.repeats,
    }
    save_rows(args.out, [{**common, **row} for row in rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
