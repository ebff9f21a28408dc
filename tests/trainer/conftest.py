"""Fixtures of the trainer tests: SmolLM2 tokenizer, a tiny random Llama; helpers live in trainer_helpers.py."""

import os
import sys

import pytest

from hf_select.import_utils import is_transformers_available, is_trl_available

sys.path.insert(0, os.path.dirname(__file__))

if not (is_transformers_available() and is_trl_available()):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def tokenizer():
    from hf_select.scoring.models import load_tokenizer, smollm2_local_path

    try:
        return load_tokenizer(smollm2_local_path())
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"SmolLM2 tokenizer unavailable: {err}")


@pytest.fixture
def tiny_model():
    from hf_select.testing import tiny_llama

    return tiny_llama(seed=0).train()
