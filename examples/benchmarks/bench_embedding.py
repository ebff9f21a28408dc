# /// script
# requires-python = ">=3.10"
# dependencies = ["hf-select[models]", "sentence-transformers"]
# ///
"""Embedding the pool with all-MiniLM-L6-v2 (offline): naive HF loop, sentence-transformers, hf_select; three figures.

All methods embed the same texts (mean pooling over real tokens, L2-normalised, cut at the model's 256 tokens):

- ``naive``: the model card's snippet in a loop: ``AutoModel`` in fp32, dataset order, padded batches of 32, mean
  pooling with the attention mask.
- ``competent``: ``SentenceTransformer(path).encode(texts, batch_size=32, normalize_embeddings=True)`` (fp32; it
  sorts texts by character length and pads per batch), what a careful user calls.
- ``competent_bf16w``: the same call on ``SentenceTransformer(path).bfloat16()`` (bf16 weights: what a careful user
  on a bf16-capable CPU may write instead).
- ``ours_float32`` / ``ours_bfloat16``: ``EmbeddingSelector.encode``: one tokenisation pass, batches sorted by
  *token* length, ``inference_mode``, fp32 or bf16 autocast (the ``dtype="auto"`` choice on bf16-capable CPUs).

Three figures per method: texts/s against ``naive`` and ``competent``, and the achieved FLOP/s (weight matmuls plus
attention over the real tokens, detailed count) as a fraction of the measured bf16 and fp32 matmul peak for MiniLM's
GEMM shapes. Agreement: min cosine with ``competent``'s embeddings (goal >= 0.999). Methods run interleaved; nothing
is written unless ``--out FILE`` is given.

Run (the README figures):  python examples/benchmarks/bench_embedding.py --n-texts 2000 --out /tmp/bench_embedding.csv
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _results import add_out_argument  # noqa: E402  (beside this script)


def load_texts(n: int, view: str) -> list[str]:
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view

    return text_view(load_builtin_pool(max_rows=n), view)


def naive_loop(model, tok, texts: list[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    """The model-card snippet in a loop: fp32, dataset order, padded batches, masked mean pooling."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            enc = tok(texts[start:start + batch_size], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--view", default="query", choices=["query", "full"])
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved timed rounds (best kept).")
    parser.add_argument("--batch-size", type=int, default=64, help="Our batch size (naive and competent use 32).")
    parser.add_argument("--peak-tokens", type=int, default=4096, help="Rows of the GEMMs timed for the peak.")
    add_out_argument(parser, "bench_embedding")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from _bench import interleave, matmul_peak, model_gemms, print_table, three_figures, write_csv
    from sentence_transformers import SentenceTransformer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    import hf_select as hs
    from hf_select.cost.flops import embedding_selection_flops
    from hf_select.selectors.embedding import default_model_path

    texts = load_texts(args.n_texts, args.view)
    path = default_model_path()
    st = SentenceTransformer(path, device="cpu", local_files_only=True)
    max_length = st.max_seq_length
    hf_model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    hf_tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    st_bf16 = SentenceTransformer(path, device="cpu", local_files_only=True).bfloat16()
    methods = {
        "naive": lambda t: naive_loop(hf_model, hf_tok, t, max_length),
        "competent": lambda t: st.encode(t, batch_size=32, normalize_embeddings=True, convert_to_numpy=True),
        "competent_bf16w": lambda t: np.asarray(st_bf16.encode(t, batch_size=32, normalize_embeddings=True,
                                                               convert_to_tensor=True).float()),
    }
    for dtype in ("float32", "bfloat16"):
        sel = hs.get_selector("embedding", dtype=dtype, batch_size=args.batch_size, show_progress=False)
        methods[f"ours_{dtype}"] = sel.encode
    for fn in methods.values():  # load + first-call costs out of the timing
        fn(texts[:8])
    timings = interleave(methods, args.repeats, texts)

    lengths = [len(x) for x in sel.tokenize(texts)]
    config = AutoConfig.from_pretrained(path, local_files_only=True).to_dict()
    flops = embedding_selection_flops(config, lengths, convention="detailed")[0].flops
    gemms = model_gemms(config, lm_head=False, gated=False)
    peaks = {"bfloat16": matmul_peak(gemms, "bfloat16", tokens=args.peak_tokens),
             "float32": matmul_peak(gemms, "float32", tokens=args.peak_tokens)}
    ref = timings["competent"].output
    rate = {name: len(texts) / t.wall for name, t in timings.items()}
    rows = []
    for name, t in timings.items():
        emb = t.output
        cos = (emb * ref).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
        rows.append({"method": name, "rate": rate[name], "wall_s": t.wall, "cpu_s": t.cpu,
                     **three_figures(rate[name], rate["naive"], rate["competent"], flops / t.wall, peaks, timings,
                                     name),
                     "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                     "agreement": f"cosine vs competent min {cos.min():.6f}"})
    print(f"{len(texts):,} {args.view} texts, {sum(lengths):,} tokens; torch threads {torch.get_num_threads()}")
    print_table(rows, "texts/s", peaks)
    write_csv(args.out, [{"n_texts": len(texts), "view": args.view, "n_tokens": sum(lengths),
                          "batch_size": args.batch_size, "repeats": args.repeats, "threads": torch.get_num_threads(),
                          **{k: v for k, v in r.items() if k != "agreement"}} for r in rows],
              "sentence-transformers", "transformers", "torch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
