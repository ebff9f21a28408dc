"""Offline assets: SmolLM2 converted once (atomic folder, file lock), MiniLM located."""

import os

import pytest

from hf_select.testing import require_minilm, require_smollm2


@pytest.mark.slow
@require_smollm2
def test_smollm2_local_copy(smollm2_path):
    from hf_select.scoring.loading import load_tokenizer

    assert os.path.isfile(os.path.join(smollm2_path, "model.safetensors"))
    tok = load_tokenizer(smollm2_path)
    assert tok.pad_token is not None and tok.chat_template


@require_smollm2
def test_conversion_is_atomic_and_locked(tmp_path, monkeypatch):
    """A failed conversion leaves nothing behind; a finished one is an hf_select folder (marker), reused after."""
    import hf_select.scoring.assets as assets
    from hf_select.atomic import is_hf_select_output

    calls = []

    def broken(gguf, out):
        (out / "config.json").write_text("{}")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(assets, "_dequantise_gguf", broken)
    with pytest.raises(RuntimeError, match="killed"):
        assets.smollm2_local_path(tmp_path)
    assert [p for p in os.listdir(tmp_path) if not p.endswith(".lock")] == []

    def fake(gguf, out):
        calls.append(out)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"x")

    monkeypatch.setattr(assets, "_dequantise_gguf", fake)
    path = assets.smollm2_local_path(tmp_path)
    assert is_hf_select_output(path) and len(calls) == 1
    assert assets.smollm2_local_path(tmp_path) == path and len(calls) == 1


@require_minilm
def test_minilm_path():
    from hf_select.scoring.assets import minilm_local_path

    assert os.path.isdir(minilm_local_path())
