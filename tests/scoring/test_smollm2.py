"""SmolLM2-135M: fp32 engine == HF reference (1e-4); bf16 rank-agrees with fp32 on embedded-pool examples.

The 500-example Spearman check lives in examples/benchmarks/bench_perplexity.py (minutes on a CPU); here 12 rows.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def test_fp32_equals_reference_and_bf16_rank_agrees(smollm2):
    from scipy.stats import spearmanr

    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.pipeline import nll_for_texts

    model, tok = smollm2
    texts = text_view(load_builtin_pool(max_rows=12, seed=1), "full", tokenizer=tok)
    fp32 = nll_for_texts(model, tok, texts, NLLConfig(dtype="float32", show_progress=False), max_length=128)
    ref = []
    with torch.no_grad():
        for i in range(4):
            ids = torch.tensor([tok(texts[i])["input_ids"][:128]])
            ref.append(model(ids, labels=ids).loss.item())
    np.testing.assert_allclose(fp32.mean_nll[:4], ref, atol=1e-4)
    bf16 = nll_for_texts(model, tok, texts, NLLConfig(dtype="bfloat16", show_progress=False), max_length=128)
    assert spearmanr(fp32.mean_nll, bf16.mean_nll).statistic >= 0.99
    assert np.abs(fp32.mean_nll - bf16.mean_nll).max() < 0.1
    assert next(model.parameters()).dtype == torch.float32
