import os

import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.models import (  # noqa: E402
    ensure_pad_token,
    load_causal_lm,
    load_tokenizer,
    model_fingerprint,
    resolve_dtype,
    tiny_llama,
)


def test_missing_path_is_a_clear_error_without_hub_call(tmp_path, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):  # any Hub access fails the test
        raise AssertionError("Hub was contacted")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(ValueError, match="does not exist"):
        load_causal_lm(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="does not exist"):
        load_causal_lm("HuggingFaceTB/SmolLM2-135M")  # a Hub id is not a local path
    with pytest.raises(ValueError, match="config.json"):
        load_causal_lm(str(tmp_path))
    with pytest.raises(TypeError, match="model"):
        load_causal_lm(42)


def test_roundtrip_and_dtype(tmp_path):
    model = tiny_llama(vocab_size=64, seed=3)
    model.save_pretrained(tmp_path)
    loaded = load_causal_lm(str(tmp_path), dtype="bf16")
    assert next(loaded.parameters()).dtype == torch.bfloat16 and not loaded.training
    assert model_fingerprint(str(tmp_path)) == model_fingerprint(tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int3")


def test_tiny_llama_deterministic_and_fingerprint():
    a, b, c = tiny_llama(vocab_size=64, seed=1), tiny_llama(vocab_size=64, seed=1), tiny_llama(vocab_size=64, seed=2)
    assert torch.equal(a.lm_head.weight, b.lm_head.weight)
    assert model_fingerprint(a) == model_fingerprint(b) != model_fingerprint(c)
    with torch.no_grad():
        b.model.layers[0].mlp.up_proj.weight[0, 0] += 1.0
    assert model_fingerprint(a) != model_fingerprint(b)
    assert tiny_llama().config.vocab_size == 49152


def test_tokenizer_without_pad_token(byte_tokenizer):
    import copy

    tok = copy.deepcopy(byte_tokenizer)
    assert tok.pad_token is None
    ensure_pad_token(tok)
    assert tok.pad_token == tok.eos_token
    with pytest.raises(ValueError, match="tokenizer"):
        load_tokenizer(tiny_llama(vocab_size=32))  # an in-memory model has no tokenizer folder


@pytest.mark.slow
def test_smollm2_local_copy(smollm2_path):
    assert os.path.isfile(os.path.join(smollm2_path, "model.safetensors"))
    tok = load_tokenizer(smollm2_path)
    assert tok.pad_token is not None and tok.chat_template


def test_fast_dtype():
    from hf_select.scoring.models import DTYPES, fast_dtype

    assert fast_dtype("cpu") in DTYPES
    assert fast_dtype("meta") == "float32"  # no fast reduced-precision path known: exact
