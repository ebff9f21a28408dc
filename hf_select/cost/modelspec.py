"""What the FLOP formulas need to know about a model: its parameter counts and shape, from a config or a number.

Dense decoders (Llama-, Mistral-, Qwen2-, GPT-2-style) are read from a transformers config, a mapping, or a path to a
``config.json`` (or its folder); a bare parameter count is accepted where the shape is not needed.

Example:
    >>> from hf_select.cost.modelspec import model_spec
    >>> model_spec(1e9).n_params
    1000000000.0
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Model types whose MLP is gated (three projection matrices: gate, up, down) rather than two.
GATED_MODEL_TYPES = frozenset({
    "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi3", "olmo",
    "olmo2", "granite", "cohere", "smollm3", "deepseek_v2", "internlm2", "exaone", "glm", "yi",
})

@dataclass(frozen=True)
class ModelSpec:
    """What the FLOP formulas need to know about a model."""

    n_params: float                 # total parameter count (the "N" of the 6N convention)
    n_matmul: float                 # parameters multiplying activations per token (layers + LM head)
    n_layers: int | None = None
    d_attn: int | None = None       # n_heads * head_dim


def _first(cfg: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        value = cfg.get(name)
        if value is not None:
            return value
    return default


def load_config(config: Any) -> dict[str, Any]:
    """A config as a plain dict: a transformers ``PretrainedConfig``, a mapping, or a path to ``config.json``/its folder."""
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No model config at {path!r}: pass a config.json file or a folder containing one.")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    elif isinstance(config, Mapping):
        data = dict(config)
    elif hasattr(config, "to_dict"):
        data = dict(config.to_dict())
    elif hasattr(getattr(config, "config", None), "to_dict"):  # a transformers model: use its config
        data = dict(config.config.to_dict())
    else:
        raise TypeError(f"Expected a parameter count, a transformers config, a dict or a config path; "
                        f"got {type(config).__name__}.")
    text_config = data.get("text_config")  # multimodal configs keep the language model under text_config
    if isinstance(text_config, Mapping) and _first(data, "num_hidden_layers", "n_layer") is None:
        data = {**data, **text_config}
    return data


def _shape(cfg: Mapping[str, Any]) -> dict[str, Any]:
    n_layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    d_model = _first(cfg, "hidden_size", "n_embd", "d_model", "dim")
    n_heads = _first(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = _first(cfg, "vocab_size")
    missing = [n for n, v in (("num_hidden_layers", n_layers), ("hidden_size", d_model),
                              ("num_attention_heads", n_heads), ("vocab_size", vocab)) if v is None]
    if missing:
        raise ValueError(f"The model config lacks {missing}; pass a parameter count instead of the config.")
    head_dim = _first(cfg, "head_dim", default=d_model // n_heads)
    n_kv = _first(cfg, "num_key_value_heads", "n_kv_heads", default=n_heads)
    d_ff = _first(cfg, "intermediate_size", "n_inner", "ffn_dim", "d_ff", default=4 * d_model)
    gated = cfg.get("model_type") in GATED_MODEL_TYPES or cfg.get("hidden_act") in ("silu", "swish")
    return {"n_layers": int(n_layers), "d_model": int(d_model), "n_heads": int(n_heads), "head_dim": int(head_dim),
            "n_kv": int(n_kv), "d_ff": int(d_ff), "vocab": int(vocab), "gated": gated,
            "tied": bool(cfg.get("tie_word_embeddings", True))}


def _layer_matmul_params(s: Mapping[str, Any]) -> int:
    d, q, kv = s["d_model"], s["n_heads"] * s["head_dim"], s["n_kv"] * s["head_dim"]
    attention = d * q + 2 * d * kv + q * d
    mlp = (3 if s["gated"] else 2) * d * s["d_ff"]
    return attention + mlp


def count_params_from_config(config: Any, *, include_embeddings: bool = True) -> int:
    """Parameters of a dense decoder from its config (Llama-, Mistral-, Qwen2-, GPT-2-style).

    With ``include_embeddings=True`` (the default; Chinchilla's convention and what ``model.num_parameters()``
    reports) it counts the attention projections (grouped-query aware), the MLP (gated when the model type is), one
    weight vector per norm (two per layer, one final), the token embedding and the LM head unless tied. With
    ``include_embeddings=False`` it is Kaplan's non-embedding count: the attention and MLP weight matrices of the
    layers only (Kaplan's ``2 * n_layer * d_model * (2 * d_attn + d_ff)`` for a plain MLP; embeddings, LM head and
    the sub-leading norms left out). Biases and learned position embeddings are never counted. For
    mixture-of-experts models pass the active parameter count directly instead.

    Example:
        >>> count_params_from_config({"model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576,
        ...     "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536,
        ...     "vocab_size": 49152, "tie_word_embeddings": True})   # SmolLM2-135M: 134,515,008 parameters
        134515008
    """
    s = _shape(load_config(config))
    n = s["n_layers"] * _layer_matmul_params(s)
    if include_embeddings:
        n += (2 * s["n_layers"] + 1) * s["d_model"] + s["vocab"] * s["d_model"] * (1 if s["tied"] else 2)
    return int(n)


def model_spec(model: Any, *, n_layers: int | None = None, d_model: int | None = None,
               lm_head: bool = True) -> ModelSpec:
    """Resolve a parameter count or a config (object, dict, path) into a :class:`ModelSpec`.

    A bare parameter count is used as both ``n_params`` and ``n_matmul``; give ``n_layers`` and ``d_model`` with it for
    the detailed convention's attention term. ``lm_head=False`` drops the output projection (encoders).
    """
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, (int, float, np.integer, np.floating)) and not isinstance(model, bool):
        if not (math.isfinite(model) and model > 0):
            raise ValueError(f"A parameter count must be a positive number, got {model!r}.")
        return ModelSpec(float(model), float(model), n_layers, d_model)
    cfg = load_config(model)
    s = _shape(cfg)
    matmul = s["n_layers"] * _layer_matmul_params(s) + (s["vocab"] * s["d_model"] if lm_head else 0)
    total = count_params_from_config(cfg)
    return ModelSpec(float(total), float(matmul), s["n_layers"], s["n_heads"] * s["head_dim"])
