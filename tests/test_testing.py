"""hf_select.testing: tiny models per architecture, toy tokenizers and require_* markers."""

import pytest

import hf_select.testing as testing


def test_require_markers_skip_on_missing_packages():
    mark = testing.require("a_package_that_does_not_exist")
    assert mark.mark.name == "skipif" and mark.mark.args[0] is True
    assert "a_package_that_does_not_exist" in mark.kwargs["reason"]
    assert testing.require("numpy").mark.args[0] is False
    assert testing.require_torch.mark.name == "skipif"  # any MARKERS key as require_<name>
    with pytest.raises(AttributeError):
        testing.require_something_unknown  # noqa: B018


@testing.require_transformers
def test_tiny_models_and_tokenizers():
    llama = testing.tiny_llama(vocab_size=64, seed=1)
    assert llama.config.vocab_size == 64 and not llama.training
    assert testing.tiny_causal_lm("gpt2").config.model_type == "gpt2"
    with pytest.raises(ValueError, match="architecture"):
        testing.tiny_causal_lm("nope")
    assert testing.toy_tokenizer()("ab")["input_ids"] == [97, 98]
    assert testing.toy_tokenizer(add_bos=True)("ab")["input_ids"] == [2, 97, 98]
    model, tok = testing.tiny_test_setup()
    assert model.config.vocab_size == len(tok) == 259 and tok.eos_token == "</s>"
