"""The compiled CPU path (torch.compile of the decoder and of the NLL chunk) computes what the eager engine computes."""

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring import compiled
from hf_select.scoring.encoding import TokenizedExamples
from hf_select.scoring.compiled import compiled_token_nll, resolve_compile
from hf_select.scoring.engine import NLLConfig, score_nll
from hf_select.scoring.nll import reference_token_nll

needs_compiler = pytest.mark.skipif(compiled.cxx_compiler() is None, reason="torch.compile on CPU needs a C++ compiler")


def test_resolve_compile_decisions(monkeypatch):
    assert resolve_compile("auto", "cpu", tokens=10, min_tokens=100)[0] is False
    assert resolve_compile("auto", "cuda", tokens=10**9, min_tokens=0)[0] is False
    assert resolve_compile("off", "cpu", tokens=10**9, min_tokens=0) == (False, "compile=off")
    monkeypatch.setattr(compiled, "cxx_compiler", lambda: "/usr/bin/g++")
    assert resolve_compile("auto", "cpu", tokens=100, min_tokens=100)[0] is True
    assert resolve_compile("on", "cpu", tokens=1, min_tokens=100)[0] is True
    monkeypatch.setattr(compiled, "cxx_compiler", lambda: None)
    enabled, reason = resolve_compile("on", "cpu", tokens=1, min_tokens=100)
    assert not enabled and "C++ compiler" in reason
    with pytest.raises(ValueError, match="compile='yes'"):
        resolve_compile("yes", "cpu", tokens=1, min_tokens=1)
    with pytest.raises(ValueError, match="compile_min_tokens"):
        resolve_compile("auto", "cpu", tokens=1, min_tokens=-1)


def test_unknown_compile_mode_fails_before_scoring(tiny_model):
    with pytest.raises(ValueError, match="compile="):
        score_nll(tiny_model, TokenizedExamples.from_ids([[1, 2, 3]]), NLLConfig(compile="fast", show_progress=False))


@needs_compiler
@pytest.mark.parametrize("bias", [False, True])
def test_compiled_token_nll_equals_reference(bias):
    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(301, 24, generator=g), torch.randn(97, 24, generator=g)
    b = torch.randn(97, generator=g) if bias else None
    y = torch.randint(0, 97, (301,), generator=g)
    y[::7] = -100
    out = compiled_token_nll(h, w, y, 64, bias=b)  # 301 = 4 full chunks + a padded one
    ref = reference_token_nll(h, w, y, bias=b)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert torch.all(out[::7] == 0)
    out16 = compiled_token_nll(h.bfloat16(), w.bfloat16(), y, 64, bias=None if b is None else b.bfloat16())
    assert (out16 - ref).abs().max() < 0.1 * ref.abs().max()


@needs_compiler
def test_compiled_token_nll_rejects_out_of_range_labels():
    h, w = torch.randn(5, 8), torch.randn(11, 8)
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        compiled_token_nll(h, w, torch.tensor([0, 3, 11, -100, 2]), 4)


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(1)
    ids = [rng.integers(0, 128, size=int(n)).tolist() for n in rng.integers(1, 60, size=19)]
    return TokenizedExamples.from_ids(ids)


@needs_compiler
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_scores_match_eager_fp32(tiny_model, examples, dtype):
    ref = score_nll(tiny_model, examples, NLLConfig(dtype="float32", compile="off", show_progress=False,
                                                    max_tokens_per_batch=200))
    res = score_nll(tiny_model, examples, NLLConfig(dtype=dtype, compile="on", show_progress=False,
                                                    max_tokens_per_batch=200, lm_head_chunk=32))
    assert res.plan["compile"]["enabled"] is True and "failed" not in res.plan["compile"]
    assert res.plan["cpu_workers"] == 1  # auto: a compiled decoder runs on torch's threads, one batch at a time
    np.testing.assert_array_equal(res.num_targets, ref.num_targets)
    tol = 1e-4 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(res.mean_nll, ref.mean_nll, atol=tol, rtol=0, equal_nan=True)
    assert compiled._COMPILED_DECODERS.get(tiny_model.get_decoder()) is not None  # cached for the next shard
    assert all("forward" not in vars(layer) for layer in tiny_model.get_decoder().layers)  # layers given back


def test_auto_stays_eager_for_a_small_pool(tiny_model, examples):
    res = score_nll(tiny_model, examples, NLLConfig(dtype="float32", show_progress=False))
    assert res.plan["compile"]["enabled"] is False and "compile_min_tokens" in res.plan["compile"]["reason"]


def test_failed_compilation_falls_back_to_eager(tiny_model, examples, monkeypatch, caplog):
    from hf_select.testing import tiny_llama

    model = tiny_llama(vocab_size=128, seed=0)  # its own decoder: the failure is remembered per decoder

    def broken_compile(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(compiled, "cxx_compiler", lambda: "/usr/bin/g++")
    monkeypatch.setattr(compiled, "_NLL_CHUNK", {})
    ref = score_nll(model, examples, NLLConfig(dtype="float32", compile="off", show_progress=False))
    with caplog.at_level(logging.WARNING, logger="hf_select.scoring.compiled"):
        res = score_nll(model, examples, NLLConfig(dtype="float32", compile="on", show_progress=False))
    np.testing.assert_allclose(res.mean_nll, ref.mean_nll, atol=1e-6, equal_nan=True)
    info = res.plan["compile"]
    assert info["enabled"] is False and "InvalidCxxCompiler" in info["failed"][0]
    assert "eager" in caplog.text
    again = score_nll(model, examples, NLLConfig(dtype="float32", compile="on", show_progress=False))
    assert again.plan["compile"]["enabled"] is False and "failed earlier" in again.plan["compile"]["reason"]


@needs_compiler
def test_compiled_decoder_sees_new_weights(tiny_model, examples):
    """The compiled graph takes the weights as inputs: changed weights change the scores (no stale copy)."""
    config = NLLConfig(dtype="float32", compile="on", show_progress=False)
    before = score_nll(tiny_model, examples, config).mean_nll
    weight = tiny_model.model.layers[0].mlp.down_proj.weight
    saved = weight.data.clone()
    try:
        with torch.no_grad():
            weight.mul_(3.0)
        after = score_nll(tiny_model, examples, config)
        eager = score_nll(tiny_model, examples, NLLConfig(dtype="float32", compile="off", show_progress=False))
    finally:
        with torch.no_grad():
            weight.copy_(saved)
    assert after.plan["compile"]["enabled"] is True
    assert np.nanmax(np.abs(after.mean_nll - before)) > 1e-3
    np.testing.assert_allclose(after.mean_nll, eager.mean_nll, atol=1e-4, rtol=0, equal_nan=True)


def test_model_selectors_pass_the_compile_knobs_to_the_engine():
    import hf_select as hs

    sel = hs.get_selector("perplexity", compile="off", compile_min_tokens=7, show_progress=False)
    config = sel.engine_config()
    assert (config.compile, config.compile_min_tokens) == ("off", 7)
    assert hs.get_selector("perplexity").engine_config().compile == "auto"


def test_regional_compilation_needs_identical_unhooked_layers(tiny_model):
    from hf_select.scoring.compiled import regional_layers

    decoder = tiny_model.get_decoder()
    assert regional_layers(decoder) is decoder.layers
    layer = decoder.layers[0]
    layer.forward = layer.forward  # an instance attribute, as accelerate's hooks set: not shared with the others
    try:
        assert regional_layers(decoder) is None
    finally:
        del layer.forward
    assert regional_layers(torch.nn.Linear(2, 2)) is None


@needs_compiler
def test_compiled_layers_shared_by_explicit_workers(tiny_model, examples):
    ref = score_nll(tiny_model, examples, NLLConfig(dtype="float32", compile="off", show_progress=False,
                                                    max_tokens_per_batch=100))
    res = score_nll(tiny_model, examples, NLLConfig(dtype="float32", compile="on", cpu_workers=2,
                                                    show_progress=False, max_tokens_per_batch=100))
    assert res.plan["compile"]["enabled"] is True and res.plan["cpu_workers"] == 2
    np.testing.assert_allclose(res.mean_nll, ref.mean_nll, atol=1e-4, rtol=0, equal_nan=True)
    assert all("forward" not in vars(layer) for layer in tiny_model.get_decoder().layers)  # layers given back
