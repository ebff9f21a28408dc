"""Analytic FLOPs of forward passes, training, and the selection pipelines of the paper.

Two conventions:

- ``"6N"`` (the paper's, Kaplan et al. 2020 / Hoffmann et al. 2022): a forward pass costs ``2N`` FLOPs per token and
  training ``6N`` (forward + backward, the backward costing twice the forward). ``N`` is the parameter count; from a
  config it is :func:`count_params_from_config` with embeddings included (Chinchilla's convention; Kaplan's
  non-embedding count is ``include_embeddings=False``).
- ``"detailed"``: per token ``2 * N_matmul`` where ``N_matmul`` counts the weights that really multiply activations
  (attention and MLP projections of every layer plus the LM head; the input embedding is a lookup and costs nothing),
  plus the attention scores and the attention-weighted values, ``4 * n_layers * d_attn * L**2`` per example of ``L``
  tokens (the PaLM / Chinchilla count, no discount for the causal mask, softmax ignored). In a packed batch examples do
  not attend to each other, so the attention term is ``sum(L_i**2)`` over the *examples*, never ``(sum L_i)**2``.
  Training is 3x the forward.

Lengths are per-example token counts (a sequence); a plain number means a total token count and is accepted only by the
``"6N"`` convention, which does not need per-example lengths. Biases, norms and softmax are not counted in FLOPs.

Example:
    >>> from hf_select.cost.flops import forward_flops, train_flops
    >>> forward_flops(1_000_000, [10, 30])          # 2 N per token, 40 tokens
    80000000.0
    >>> train_flops(1_000_000, 40)                  # 6 N per token
    240000000.0
    >>> cfg = {"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
    ...        "vocab_size": 10, "tie_word_embeddings": True, "model_type": "llama"}
    >>> forward_flops(cfg, [3, 5], convention="detailed")   # 2*(2*(256+384)+80)*8 + 4*2*8*(3**2+5**2)
    23936.0
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .record import StageCost

CONVENTIONS = ("6N", "detailed")
# Model types whose MLP is gated (three projection matrices: gate, up, down) rather than two.
GATED_MODEL_TYPES = frozenset({
    "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi3", "olmo",
    "olmo2", "granite", "cohere", "smollm3", "deepseek_v2", "internlm2", "exaone", "glm", "yi",
})
# LESS (Xia et al., 2024) defaults, as in the paper under study.
LESS_WARMUP_FRACTION = 0.05
LESS_WARMUP_EPOCHS = 4
LESS_CHECKPOINTS = 4
LESS_PROJ_DIM = 8192


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


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}.")


def _stats(lengths: Any, convention: str, argument: str = "lengths") -> tuple[float, float, int | None]:
    """(total tokens, sum of squared per-example lengths, number of examples) of ``lengths``."""
    if isinstance(lengths, (int, float, np.integer, np.floating)) and not isinstance(lengths, bool):
        if not (math.isfinite(lengths) and lengths >= 0):
            raise ValueError(f"{argument} must be a non-negative token count, got {lengths!r}.")
        if convention == "detailed":
            raise ValueError(f"convention='detailed' needs per-example lengths for the attention term; {argument} is "
                             f"a single total ({lengths!r}). Pass a list of token counts per example.")
        return float(lengths), 0.0, None
    arr = np.asarray(lengths, dtype=np.float64).ravel()
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise ValueError(f"{argument} must hold non-negative finite token counts per example.")
    return float(arr.sum()), float(np.square(arr).sum()), int(arr.size)


def _attention(spec: ModelSpec, sum_sq: float, convention: str) -> float:
    if convention != "detailed":
        return 0.0
    if spec.n_layers is None or spec.d_attn is None:
        raise ValueError("convention='detailed' needs the model shape: pass a transformers config (or n_layers= and "
                         "d_model= with a parameter count).")
    return 4.0 * spec.n_layers * spec.d_attn * sum_sq


def _per_token_params(spec: ModelSpec, convention: str) -> float:
    return spec.n_params if convention == "6N" else spec.n_matmul


def lengths_from_position_ids(position_ids: Any) -> list[int]:
    """Per-example lengths of a packed batch from its ``position_ids`` (each example restarts at 0).

    Example:
        >>> lengths_from_position_ids([[0, 1, 2, 0, 1, 0, 1, 2, 3]])
        [3, 2, 4]
    """
    ids = np.asarray(position_ids)
    rows = ids.reshape(-1, ids.shape[-1]) if ids.ndim > 1 else ids.reshape(1, -1)
    out: list[int] = []
    for row in rows:
        starts = np.flatnonzero(row == 0)
        if starts.size == 0 or starts[0] != 0:
            starts = np.concatenate([[0], starts])
        out.extend(int(n) for n in np.diff(np.append(starts, row.size)))
    return out


def forward_flops(model: Any, lengths: Any, *, convention: str = "6N", n_layers: int | None = None,
                  d_model: int | None = None) -> float:
    """FLOPs of one forward pass over examples of the given token ``lengths``."""
    _check_convention(convention)
    spec = model_spec(model, n_layers=n_layers, d_model=d_model)
    tokens, sum_sq, _ = _stats(lengths, convention)
    return 2.0 * _per_token_params(spec, convention) * tokens + _attention(spec, sum_sq, convention)


def train_flops(model: Any, lengths: Any, *, epochs: float = 1.0, convention: str = "6N",
                n_layers: int | None = None, d_model: int | None = None) -> float:
    """FLOPs of full fine-tuning (forward + backward = 3x forward) for ``epochs`` passes over ``lengths``."""
    if not (math.isfinite(epochs) and epochs >= 0):
        raise ValueError(f"epochs must be a non-negative number, got {epochs!r}.")
    return 3.0 * epochs * forward_flops(model, lengths, convention=convention, n_layers=n_layers, d_model=d_model)


def lora_train_flops(model: Any, lengths: Any, *, lora_params: float, epochs: float = 1.0, convention: str = "6N",
                     frozen_base: bool = True, n_layers: int | None = None, d_model: int | None = None) -> float:
    """FLOPs of LoRA training (or one forward+backward per example when ``epochs=1``).

    Per token: the frozen base costs ``2N`` forward and ``2N`` backward (gradients of the activations only; a frozen
    weight needs no weight gradient, the other ``2N`` of the usual ``6N``), the adapters ``6 * lora_params``; the
    attention term (detailed convention) is 3x its forward. ``frozen_base=False`` counts the plain ``6N`` instead.
    """
    _check_convention(convention)
    if not (math.isfinite(lora_params) and lora_params >= 0):
        raise ValueError(f"lora_params must be a non-negative parameter count, got {lora_params!r}.")
    spec = model_spec(model, n_layers=n_layers, d_model=d_model)
    tokens, sum_sq, _ = _stats(lengths, convention)
    base = (4.0 if frozen_base else 6.0) * _per_token_params(spec, convention)
    per_pass = (base + 6.0 * lora_params) * tokens + 3.0 * _attention(spec, sum_sq, convention)
    return epochs * per_pass


def perplexity_selection_flops(model: Any, pool_lengths: Any, *, convention: str = "6N") -> list[StageCost]:
    """Perplexity selection: one forward pass of the selector model over every pool example."""
    tokens, _, _ = _stats(pool_lengths, convention, "pool_lengths")
    flops = forward_flops(model, pool_lengths, convention=convention)
    return [StageCost("forward_pool", flops=flops, tokens=int(tokens), detail={"convention": convention})]


def embedding_selection_flops(model: Any, pool_lengths: Any, target_lengths: Any = (), *,
                              convention: str = "6N") -> list[StageCost]:
    """Embedding selection: ``2 * N_embed`` FLOPs per token of the pool and of the target (no LM head)."""
    stages = []
    for name, lengths, arg in (("encode_pool", pool_lengths, "pool_lengths"),
                               ("encode_target", target_lengths, "target_lengths")):
        tokens, sum_sq, _ = _stats(lengths, convention, arg)
        spec = model_spec(model, lm_head=False)
        flops = 2.0 * _per_token_params(spec, convention) * tokens + _attention(spec, sum_sq, convention)
        stages.append(StageCost(name, flops=flops, tokens=int(tokens), detail={"convention": convention}))
    return stages


def bm25_selection_flops(pool_lengths: Any = 0) -> list[StageCost]:
    """BM25 scoring: counted as 0 FLOPs (sparse CPU work; its measured seconds are what it costs)."""
    tokens, _, _ = _stats(pool_lengths, "6N", "pool_lengths")
    return [StageCost("bm25", flops=0.0, tokens=int(tokens), detail={"note": "sparse CPU work, ~0 FLOPs"})]


def dsir_selection_flops(pool_lengths: Any = 0) -> list[StageCost]:
    """DSIR (hashed n-gram importance weights): counted as 0 FLOPs, like BM25."""
    tokens, _, _ = _stats(pool_lengths, "6N", "pool_lengths")
    return [StageCost("dsir", flops=0.0, tokens=int(tokens), detail={"note": "hashed n-gram counts, ~0 FLOPs"})]


def less_pipeline_flops(model: Any, pool_lengths: Any, target_lengths: Any, *, lora_params: float,
                        n_pool: int | None = None, n_target: int | None = None,
                        warmup_fraction: float = LESS_WARMUP_FRACTION, warmup_epochs: float = LESS_WARMUP_EPOCHS,
                        n_checkpoints: int = LESS_CHECKPOINTS, proj_dim: int = LESS_PROJ_DIM,
                        convention: str = "6N", frozen_base: bool = True, warmup_lengths: Any = None,
                        projection_nnz: int | None = None) -> list[StageCost]:
    """Gradient (LESS) selection, stage by stage.

    1. ``warmup_train``: LoRA training on a random ``warmup_fraction`` of the pool for ``warmup_epochs`` (expected cost:
       the fraction of the pool's tokens and squared lengths).
    2. For each of the ``n_checkpoints`` checkpoints: a LoRA forward+backward per pool example and per target example
       (batch size one, so no padding), and the random projection of every gradient to ``proj_dim``: a
       ``lora_params x proj_dim`` matrix-vector product, ``2 * lora_params * proj_dim`` FLOPs per example (a dense
       projection, as LESS/TRAK); with ``projection_nnz`` (a sparse sign projection with that many non-zeros per input
       coordinate) ``2 * lora_params * projection_nnz``.
    3. ``influence``: cosine similarities, ``2 * n_pool * n_target * proj_dim`` per checkpoint.

    ``n_pool`` / ``n_target`` (numbers of examples) are read from the lengths when those are sequences; give them when
    the lengths are token totals. ``warmup_lengths``: the lengths of the warm-up examples actually drawn (a run's
    exact cost); default: the expected share ``warmup_fraction`` of the pool.
    """
    _check_convention(convention)
    if not 0 < warmup_fraction <= 1:
        raise ValueError(f"warmup_fraction must be in (0, 1], got {warmup_fraction!r}.")
    if not (isinstance(n_checkpoints, int) and n_checkpoints >= 1):
        raise ValueError(f"n_checkpoints must be a positive integer, got {n_checkpoints!r}.")
    if not (isinstance(proj_dim, int) and proj_dim >= 1):
        raise ValueError(f"proj_dim must be a positive integer, got {proj_dim!r}.")
    p_tokens, p_sq, p_n = _stats(pool_lengths, convention, "pool_lengths")
    t_tokens, t_sq, t_n = _stats(target_lengths, convention, "target_lengths")
    n_pool = p_n if n_pool is None else n_pool
    n_target = t_n if n_target is None else n_target
    if n_pool is None or n_target is None:
        raise ValueError("Token totals do not say how many examples there are: pass n_pool= and n_target=.")
    if not (math.isfinite(lora_params) and lora_params >= 0):
        raise ValueError(f"lora_params must be a non-negative parameter count, got {lora_params!r}.")
    spec = model_spec(model)

    def lora_pass(tokens: float, sum_sq: float) -> float:
        base = (4.0 if frozen_base else 6.0) * _per_token_params(spec, convention) + 6.0 * lora_params
        return base * tokens + 3.0 * _attention(spec, sum_sq, convention)

    if warmup_lengths is None:
        w_tokens, w_sq = warmup_fraction * p_tokens, warmup_fraction * p_sq
    else:
        w_tokens, w_sq, _ = _stats(warmup_lengths, convention, "warmup_lengths")
    stages = [StageCost("warmup_train", flops=warmup_epochs * lora_pass(w_tokens, w_sq),
                        tokens=int(round(warmup_epochs * w_tokens)),
                        detail={"warmup_fraction": warmup_fraction, "epochs": warmup_epochs})]
    if projection_nnz is not None and not (isinstance(projection_nnz, int) and projection_nnz >= 1):
        raise ValueError(f"projection_nnz must be a positive integer or None (dense), got {projection_nnz!r}.")
    projection = 2.0 * lora_params * (proj_dim if projection_nnz is None else projection_nnz)
    kind = "dense" if projection_nnz is None else "sparse_sign"
    for c in range(1, n_checkpoints + 1):
        stages.append(StageCost(f"checkpoint{c}/pool_gradients", flops=lora_pass(p_tokens, p_sq), tokens=int(p_tokens)))
        stages.append(StageCost(f"checkpoint{c}/target_gradients", flops=lora_pass(t_tokens, t_sq),
                                tokens=int(t_tokens)))
        stages.append(StageCost(f"checkpoint{c}/projection", flops=projection * (n_pool + n_target),
                                detail={"proj_dim": proj_dim, "lora_params": lora_params, "kind": kind}))
    stages.append(StageCost("influence", flops=2.0 * n_pool * n_target * proj_dim * n_checkpoints))
    return stages
