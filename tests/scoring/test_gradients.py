"""Per-example LoRA gradient features: batched == batch-size-1, projection keeps the ranking, Adam preconditioning."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")
from scipy.stats import spearmanr  # noqa: E402

from hf_select.scoring.encoding import TokenizedExamples  # noqa: E402
from hf_select.scoring.gradients import (  # noqa: E402
    AdamState,
    gradient_features,
    normalize_rows,
    trainable_parameters,
)
from hf_select.scoring.projection import ProjectionConfig, RandomProjector  # noqa: E402

VOCAB = 64


def lora_model(seed=0, targets=("q_proj", "v_proj")):
    from peft import LoraConfig, get_peft_model

    from hf_select.testing import tiny_llama

    torch.manual_seed(seed)
    model = tiny_llama(vocab_size=VOCAB, seed=seed)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=list(targets), lora_dropout=0.0, init_lora_weights=False)
    return get_peft_model(model, cfg)


def examples(n, seed=0, prompt=2):
    g = torch.Generator().manual_seed(seed)
    ids, labels = [], []
    for _ in range(n):
        length = int(torch.randint(prompt + 2, 14, (1,), generator=g))
        row = torch.randint(3, VOCAB, (length,), generator=g).tolist()
        ids.append(row)
        labels.append([-100] * prompt + row[prompt:])
    return TokenizedExamples.from_ids(ids, labels=labels)


@pytest.fixture(scope="module")
def model():
    return lora_model()


def test_batched_equals_batch_size_one(model):
    ex = examples(7)
    params = trainable_parameters(model)
    assert all("lora_" in n for n, _ in params)
    exact_loop = gradient_features(model, ex, None, method="loop")
    assert exact_loop.abs().max() > 0
    for batching, max_tokens in (("packed", 2048), ("packed", 20), ("padded", None)):
        exact = gradient_features(model, ex, None, batch_size=4, batching=batching, max_tokens=max_tokens)
        assert torch.allclose(exact, exact_loop, atol=1e-6, rtol=1e-4), batching
    proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=128, seed=5))
    packed = gradient_features(model, ex, proj)
    padded = gradient_features(model, ex, proj, batch_size=3, batching="padded")
    single = gradient_features(model, ex, proj, method="loop")
    assert torch.allclose(packed, single, atol=1e-6, rtol=1e-4)
    assert torch.allclose(padded, single, atol=1e-6, rtol=1e-4)
    assert torch.allclose(packed, proj.project(exact_loop), atol=1e-5, rtol=1e-4)


def test_vmap_matches_hooks(model):
    ex = examples(4, seed=1)
    a = gradient_features(model, ex, None, batch_size=4, method="vmap")
    b = gradient_features(model, ex, None, batch_size=4, method="hooks")
    assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_gradient_equals_autograd_of_mean_loss(model):
    """Feature of one example == autograd gradient of its mean completion NLL (from the full logits)."""
    ex = examples(1, seed=2)
    params = trainable_parameters(model)
    ids = torch.tensor([ex.input_ids[0].tolist()])
    labels = torch.tensor([ex.labels(0).tolist()])
    logits = model(input_ids=ids).logits[0, :-1]
    loss = torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=-100)
    grads = torch.autograd.grad(loss, [p for _, p in params])
    want = torch.cat([g.reshape(-1) for g in grads])
    got = gradient_features(model, ex, None)[0]
    assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)


def test_adam_preconditioning(model):
    ex = examples(3, seed=3)
    params = trainable_parameters(model)
    g = torch.Generator().manual_seed(0)
    m = [torch.randn(p.shape, generator=g) * 1e-3 for _, p in params]
    v = [torch.rand(p.shape, generator=g) * 1e-5 for _, p in params]
    state = AdamState(m, v, beta1=0.9, beta2=0.999, eps=1e-8)
    raw = gradient_features(model, ex, None, method="loop")
    flat_m, flat_v = torch.cat([t.reshape(-1) for t in m]), torch.cat([t.reshape(-1) for t in v])
    m2 = 0.9 * flat_m + 0.1 * raw
    v2 = 0.999 * flat_v + 0.001 * raw**2
    want = m2 / torch.sqrt(v2 + 1e-8)
    got = gradient_features(model, ex, None, adam_state=state, batch_size=2)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)


def test_projected_scores_rank_agree_with_exact():
    model = lora_model(seed=1, targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj"))
    params = trainable_parameters(model)
    pool, target = examples(60, seed=10), examples(5, seed=11)
    exact_pool = normalize_rows(gradient_features(model, pool, None, batch_size=16))
    exact_target = normalize_rows(gradient_features(model, target, None, batch_size=16))
    proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=8192, seed=0))
    proj_pool = normalize_rows(gradient_features(model, pool, proj, batch_size=16))
    proj_target = normalize_rows(gradient_features(model, target, proj, batch_size=16))
    exact_scores = (exact_pool @ exact_target.T).mean(1).numpy()
    proj_scores = (proj_pool @ proj_target.T).mean(1).numpy()
    assert sum(p.numel() for _, p in params) > 2000
    rho = spearmanr(exact_scores, proj_scores).statistic
    assert rho >= 0.95, rho
    assert np.std(exact_scores) > 0


def test_features_reproducible_in_a_separate_process(model, tmp_path):
    ex = examples(3, seed=4)
    params = trainable_parameters(model)
    proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=64, seed=9))
    here = gradient_features(model, ex, proj, batch_size=2)
    state = {n: p.detach() for n, p in params}
    torch.save(state, tmp_path / "lora.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_gradients import lora_model, examples
        from hf_select.scoring.gradients import gradient_features, trainable_parameters
        from hf_select.scoring.projection import ProjectionConfig, RandomProjector
        model = lora_model()
        state = torch.load({str(tmp_path / "lora.pt")!r})
        params = trainable_parameters(model)
        with torch.no_grad():
            for n, p in params:
                p.copy_(state[n])
        proj = RandomProjector([p.numel() for _, p in params], ProjectionConfig(dim=64, seed=9))
        torch.save(gradient_features(model, examples(3, seed=4), proj, batch_size=3), {str(tmp_path / "f.pt")!r})
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONHASHSEED": "7"})
    assert out.returncode == 0, out.stderr[-2000:]
    there = torch.load(tmp_path / "f.pt")
    assert torch.allclose(here, there, atol=1e-6, rtol=1e-5)


def test_bad_inputs(model):
    with pytest.raises(ValueError, match="method"):
        gradient_features(model, examples(1), None, method="magic")
    with pytest.raises(ValueError, match="batching"):
        gradient_features(model, examples(1), None, batching="ragged")
    with pytest.raises(ValueError, match="empty"):
        gradient_features(model, TokenizedExamples.from_ids([]), None)
    with pytest.raises(ValueError, match="projector segments"):
        gradient_features(model, examples(1), RandomProjector([3], ProjectionConfig(dim=4)))
