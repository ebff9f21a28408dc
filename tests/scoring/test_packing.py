"""Packing only where exact (issue 11 bug 1): packed rows equal one-at-a-time scoring on the allow-listed
architectures; OPT and Bloom leak across packed examples, so scoring and LESS gradients fall back to padded rows."""

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hf_select.scoring.batching import collate  # noqa: E402
from hf_select.scoring.encoding import TokenizedExamples  # noqa: E402
from hf_select.scoring.engine import NLLConfig, score_nll  # noqa: E402
from hf_select.scoring.nll import forward_token_nll  # noqa: E402
from hf_select.scoring.packing import PACKING_EXACT, packing_check  # noqa: E402
from hf_select.testing import TINY_ARCHITECTURES, tiny_causal_lm  # noqa: E402

EXACT = ("llama", "gpt2", "qwen2", "gpt_neox", "phi", "falcon")
LEAKY = ("opt", "bloom")


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(0)
    return TokenizedExamples.from_ids([rng.integers(3, 128, size=int(n)).tolist() for n in (9, 5, 12, 7, 3)])


def _raw_packed_vs_single(model, examples):
    """Max |NLL difference| of a forced packed row vs one example per forward (no dispatch involved)."""
    with torch.no_grad():
        packed = forward_token_nll(model, collate(examples, range(len(examples)), "packed"))
        single = torch.cat([forward_token_nll(model, collate(examples, [i], "single")) for i in range(len(examples))])
    return float((packed - single).abs().max())


def test_allow_list_is_the_tested_set():
    assert set(PACKING_EXACT) == set(EXACT)
    assert set(EXACT) | set(LEAKY) == set(TINY_ARCHITECTURES)


@pytest.mark.parametrize("arch", EXACT)
def test_allow_listed_architectures_pack_exactly(arch, examples):
    model = tiny_causal_lm(arch)
    assert _raw_packed_vs_single(model, examples) < 1e-5
    exact, reason = packing_check(model)
    assert exact and arch in reason
    packed = score_nll(model, examples, NLLConfig(dtype="float32", batching="packed", show_progress=False))
    single = score_nll(model, examples, NLLConfig(dtype="float32", batching="single", show_progress=False))
    assert packed.plan["batching"] == "packed"
    np.testing.assert_allclose(packed.sum_nll, single.sum_nll, rtol=0, atol=1e-4)


@pytest.mark.parametrize("arch", LEAKY)
def test_leaky_architectures_fall_back_to_padded_batches(arch, examples, caplog):
    model = tiny_causal_lm(arch)
    assert _raw_packed_vs_single(model, examples) > 1e-3  # packing really would change the scores
    exact, reason = packing_check(model)
    assert not exact and "leak" in reason
    with caplog.at_level(logging.WARNING, logger="hf_select"):
        asked = score_nll(model, examples, NLLConfig(dtype="float32", batching="packed", show_progress=False))
    assert asked.plan["batching"] == "bucketed" and "leak" in asked.plan["reasons"]["packing"]
    assert any("not packing" in r.message for r in caplog.records)
    single = score_nll(model, examples, NLLConfig(dtype="float32", batching="single", show_progress=False))
    np.testing.assert_allclose(asked.sum_nll, single.sum_nll, rtol=0, atol=1e-4)


def test_unverified_architecture_in_reduced_precision_is_not_packed():
    model = tiny_causal_lm("opt").to(torch.bfloat16)
    exact, reason = packing_check(model)
    assert not exact and "float32" in reason


@pytest.mark.parametrize("arch", ["opt", "llama"])
def test_less_gradient_features_pack_only_where_exact(arch):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    from hf_select.scoring.gradients import gradient_features

    model = get_peft_model(tiny_causal_lm(arch, seed=1), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj",
                                                                                                     "v_proj"],
                                                                   init_lora_weights=False))
    rng = np.random.default_rng(1)
    ids = [rng.integers(3, 128, size=int(n)).tolist() for n in (8, 5, 11, 6)]
    ex = TokenizedExamples.from_ids(ids, labels=[[-100] * 2 + x[2:] for x in ids])
    loop = gradient_features(model, ex, None, method="loop")
    packed = gradient_features(model, ex, None, batching="packed", max_tokens=64)
    rel = float((packed - loop).norm() / loop.norm())
    assert rel < 1e-4, (arch, rel)  # OPT: padded rows (packing would give a relative error ~1)
