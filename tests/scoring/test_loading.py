"""One place for model sources, devices and dtypes: folders, Hub ids (cache first, offline respected), objects."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hf_select.scoring.loading import DTYPES, dtype_name, ensure_pad_token, fast_dtype  # noqa: E402
from hf_select.scoring.loading import load_causal_lm, load_config, load_tokenizer, model_source  # noqa: E402
from hf_select.scoring.loading import resolve_device, resolve_dtype  # noqa: E402
from hf_select.testing import tiny_llama, toy_tokenizer  # noqa: E402


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_causal_lm(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="does not exist"):
        load_causal_lm("./smollm2")  # issue 14: a relative folder nobody has is not taken for a Hub id
    with pytest.raises(ValueError, match="config.json"):
        load_causal_lm(str(tmp_path))
    with pytest.raises(TypeError, match="model"):
        load_causal_lm(42)
    assert model_source("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"  # a Hub id is a source


def test_made_up_hub_id_offline_is_one_clear_line():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py
    with pytest.raises(ValueError) as info:
        load_causal_lm("hf-select-test/no-such-model")
    message = str(info.value)
    assert "\n" not in message
    assert "hf-select-test/no-such-model" in message and "HF_HUB_OFFLINE" in message and "hf download" in message
    with pytest.raises(ValueError, match="no-such-model"):
        load_tokenizer("hf-select-test/no-such-model")


def test_cached_hub_id_loads_offline_from_the_hf_cache(tmp_path):
    """A model in the local HF cache loads by its Hub id with HF_HUB_OFFLINE=1, as in transformers."""
    snapshot = tmp_path / "hub" / "models--hf-select-test--tiny" / "snapshots" / ("0" * 40)
    tiny_llama(vocab_size=128, seed=4).save_pretrained(snapshot)
    toy_tokenizer().save_pretrained(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    script = textwrap.dedent(
        """
        import json, sys
        from hf_select.scoring.loading import load_causal_lm, load_tokenizer
        from hf_select.scoring.fingerprint import model_fingerprint
        model = load_causal_lm("hf-select-test/tiny")
        tok = load_tokenizer("hf-select-test/tiny")
        print(json.dumps({"vocab": model.config.vocab_size, "ids": tok("ab")["input_ids"],
                          "fp": model_fingerprint("hf-select-test/tiny")}))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["vocab"] == 128 and got["ids"] == [97, 98] and len(got["fp"]) == 16


def test_roundtrip_and_dtype(tmp_path):
    model = tiny_llama(vocab_size=64, seed=3)
    model.save_pretrained(tmp_path)
    loaded = load_causal_lm(str(tmp_path), dtype="bf16")
    assert next(loaded.parameters()).dtype == torch.bfloat16 and not loaded.training
    assert load_config(str(tmp_path)).vocab_size == 64 and load_config(model) is model.config
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int3")


def test_one_dtype_table():
    assert dtype_name("bf16") == "bfloat16" and dtype_name(torch.float16) == "float16"
    assert dtype_name("auto", "cpu") == fast_dtype("cpu") in DTYPES
    assert fast_dtype("meta") == "float32"  # no fast reduced-precision path known: exact
    assert resolve_dtype("auto", "cpu") == getattr(torch, fast_dtype("cpu"))
    assert str(resolve_device(None)) in ("cpu", "cuda") and str(resolve_device("cpu")) == "cpu"


def test_tokenizer_without_pad_token(byte_tokenizer):
    import copy

    tok = copy.deepcopy(byte_tokenizer)
    assert tok.pad_token is None
    ensure_pad_token(tok)
    assert tok.pad_token == tok.eos_token
    with pytest.raises(ValueError, match="tokenizer"):
        load_tokenizer(tiny_llama(vocab_size=32))  # an in-memory model has no tokenizer folder
