"""Analytic FLOPs of forward passes, training, and the selection pipelines of the paper.

What a training token costs is the *training* convention (``"full"``: 6N, ``"lora"``: 4N + 6L; see
:mod:`hf_select.cost.convention` and :func:`training_flops`). What ``N`` is, is the *counting* convention, one of two:

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

import math
from typing import Any

import numpy as np

from .convention import DEFAULT_TRAIN_CONVENTION, check_train_convention
from .modelspec import GATED_MODEL_TYPES, ModelSpec, count_params_from_config, load_config, model_spec  # noqa: F401
from .record import StageCost

CONVENTIONS = ("6N", "detailed")
# LESS (Xia et al., 2024) defaults, as in the paper under study: LoRA warm-up on 5% of the pool for 4 epochs, one
# checkpoint per epoch, gradients projected to 8192 dimensions by a dense Rademacher matrix (TRAK's projector).
LESS_WARMUP_FRACTION = 0.05
LESS_WARMUP_EPOCHS = 4
LESS_PROJ_DIM = 8192
LESS_PROJECTION_KIND = "rademacher"
SPARSE_PROJECTIONS = ("sparse_sign",)            # nnz multiply-adds per gradient coordinate
DENSE_PROJECTIONS = ("rademacher", "gaussian")   # proj_dim multiply-adds per gradient coordinate


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
                     n_layers: int | None = None, d_model: int | None = None) -> float:
    """FLOPs of LoRA training on a frozen base (the ``"lora"`` training convention) for ``epochs`` passes.

    Per token: the frozen base costs ``2N`` forward and ``2N`` backward (gradients of the activations only; a frozen
    weight needs no weight gradient, the other ``2N`` of the usual ``6N``), the adapters ``6 * lora_params``; the
    attention term (detailed convention) is 3x its forward. Prefer :func:`training_flops`, which takes the setting.
    """
    _check_convention(convention)
    _check_lora_params(lora_params)
    if not (math.isfinite(epochs) and epochs >= 0):
        raise ValueError(f"epochs must be a non-negative number, got {epochs!r}.")
    spec = model_spec(model, n_layers=n_layers, d_model=d_model)
    tokens, sum_sq, _ = _stats(lengths, convention)
    return epochs * _train_pass(spec, tokens, sum_sq, "lora", lora_params, convention)


def _check_lora_params(lora_params: Any) -> float:
    if isinstance(lora_params, bool) or not isinstance(lora_params, (int, float, np.integer, np.floating)) \
            or not math.isfinite(lora_params) or lora_params < 0:
        raise ValueError(f"lora_params must be a non-negative parameter count, got {lora_params!r}.")
    return float(lora_params)


def _train_pass(spec: ModelSpec, tokens: float, sum_sq: float, train_convention: str, lora_params: float,
                convention: str) -> float:
    """One forward+backward over ``tokens``: ``6N`` (full) or ``4N + 6L`` (lora) per token, attention 3x forward."""
    n = _per_token_params(spec, convention)
    per_token = 6.0 * n if train_convention == "full" else 4.0 * n + 6.0 * lora_params
    return per_token * tokens + 3.0 * _attention(spec, sum_sq, convention)


def training_flops(model: Any, lengths: Any, *, train_convention: str = DEFAULT_TRAIN_CONVENTION,
                   lora_params: float | None = None, epochs: float = 1.0, convention: str = "6N") -> float:
    """FLOPs of ``epochs`` training passes over ``lengths`` under the training convention (THE training-cost function).

    ``"full"``: :func:`train_flops` (6N per token; ``lora_params`` is ignored). ``"lora"``: :func:`lora_train_flops`
    (4N + 6L per token; ``lora_params`` required).

    Example:
        >>> training_flops(1e6, 10), training_flops(1e6, 10, train_convention="lora", lora_params=1e3)
        (60000000.0, 40060000.0)
    """
    check_train_convention(train_convention)
    if train_convention == "full":
        return train_flops(model, lengths, epochs=epochs, convention=convention)
    if lora_params is None:
        raise ValueError("train_convention='lora' prices training as 4N + 6L FLOPs per token and needs L: pass "
                         "lora_params=<trainable adapter parameters>, or use train_convention='full' (6N).")
    return lora_train_flops(model, lengths, lora_params=lora_params, epochs=epochs, convention=convention)


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


def projection_flops_per_example(lora_params: float, *, kind: str = LESS_PROJECTION_KIND, proj_dim: int = LESS_PROJ_DIM,
                                 nnz: int = 4) -> float:
    """FLOPs of projecting one gradient of ``lora_params`` coordinates: ``2 * L * proj_dim`` for a dense matrix
    (``"rademacher"``, ``"gaussian"``), ``2 * L * nnz`` for the sparse JL transform (``"sparse_sign"``).

    Example:
        >>> projection_flops_per_example(1000, proj_dim=64), projection_flops_per_example(1000, kind="sparse_sign")
        (128000.0, 8000.0)
    """
    if kind not in SPARSE_PROJECTIONS + DENSE_PROJECTIONS:
        raise ValueError(f"projection kind={kind!r} is not known; use one of {SPARSE_PROJECTIONS + DENSE_PROJECTIONS}.")
    for name, value in (("proj_dim", proj_dim), ("nnz", nnz)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return 2.0 * _check_lora_params(lora_params) * (nnz if kind in SPARSE_PROJECTIONS else proj_dim)


def less_pipeline_flops(model: Any, pool_lengths: Any, target_lengths: Any, *, lora_params: float,
                        n_pool: int | None = None, n_target: int | None = None,
                        warmup_fraction: float = LESS_WARMUP_FRACTION, warmup_epochs: float = LESS_WARMUP_EPOCHS,
                        n_checkpoints: int | None = None, warmup_lengths: Any = None,
                        projection_kind: str = LESS_PROJECTION_KIND, proj_dim: int = LESS_PROJ_DIM,
                        projection_nnz: int = 4, train_convention: str = DEFAULT_TRAIN_CONVENTION,
                        convention: str = "6N") -> list[StageCost]:
    """Gradient (LESS) selection, stage by stage: THE LESS cost (the selector and the planner both call it).

    1. ``warmup_train``: LoRA training for ``warmup_epochs`` on ``warmup_lengths`` (the examples really drawn) or, when
       not given, on the expected ``warmup_fraction`` of the pool's tokens.
    2. For each of the ``n_checkpoints`` checkpoints (default ``warmup_epochs``: LESS saves one per epoch):
       ``target_gradients`` and ``pool_gradients``, a forward+backward per example, and ``projection`` of every
       gradient (:func:`projection_flops_per_example`: dense ``2 * L * proj_dim``, sparse ``2 * L * nnz``).
    3. ``influence``: cosine similarities, ``2 * n_pool * n_target * proj_dim`` per checkpoint.

    Every forward+backward is priced by ``train_convention`` (``"full"``: 6N per token, ``"lora"``: 4N + 6L).
    ``n_pool`` / ``n_target`` are read from the lengths when those are sequences; give them with token totals.

    Against perplexity selection (one forward, ``2N`` per pool token), with the paper's LESS settings (5% warm-up for 4
    epochs, 4 checkpoints, L = 2% of N, a dense 8192-d projection, 512-token examples, targets negligible) this gives
    per pool token ``0.05 * 4 * 6N + 4 * 6N + 4 * 2 * 0.02N * 8192 / 512 = 27.8N``: **13.9x** perplexity under
    ``"full"`` (12.6x with a sparse projection) and **9.9x** under ``"lora"`` (8.7x sparse). Issue 11 quotes the
    paper's LESS as 5.4x perplexity; the paper's per-stage breakdown is not in the sources we could check, so we
    cannot say which stage it counts differently. One ingredient is certain: LESS recomputes pool gradients at each of
    its 4 checkpoints, so any count of at least one forward+backward per checkpoint exceeds 8x; 5.4x is consistent
    with pricing each checkpoint at ``2.4N`` per token (about one forward pass) rather than a backward.

    Example:
        >>> stages = less_pipeline_flops(1e6, [10] * 100, [10] * 5, lora_params=1e4, proj_dim=64, n_checkpoints=2)
        >>> [s.name for s in stages][:4]
        ['warmup_train', 'checkpoint1/target_gradients', 'checkpoint1/pool_gradients', 'checkpoint1/projection']
    """
    _check_convention(convention)
    check_train_convention(train_convention)
    if not 0 < warmup_fraction <= 1:
        raise ValueError(f"warmup_fraction must be in (0, 1], got {warmup_fraction!r}.")
    if not (math.isfinite(warmup_epochs) and warmup_epochs >= 0):
        raise ValueError(f"warmup_epochs must be a non-negative number, got {warmup_epochs!r}.")
    n_checkpoints = int(warmup_epochs) if n_checkpoints is None else n_checkpoints
    if not (isinstance(n_checkpoints, (int, np.integer)) and n_checkpoints >= 1):
        raise ValueError(f"n_checkpoints must be a positive integer (LESS saves one per warm-up epoch), got "
                         f"{n_checkpoints!r}.")
    lora = _check_lora_params(lora_params)
    per_example = projection_flops_per_example(lora, kind=projection_kind, proj_dim=proj_dim, nnz=projection_nnz)
    p_tokens, p_sq, p_n = _stats(pool_lengths, convention, "pool_lengths")
    t_tokens, t_sq, t_n = _stats(target_lengths, convention, "target_lengths")
    n_pool = p_n if n_pool is None else n_pool
    n_target = t_n if n_target is None else n_target
    if n_pool is None or n_target is None:
        raise ValueError("Token totals do not say how many examples there are: pass n_pool= and n_target=.")
    if warmup_lengths is None:
        w_tokens, w_sq, w_n = warmup_fraction * p_tokens, warmup_fraction * p_sq, warmup_fraction * n_pool
    else:
        w_tokens, w_sq, w_n = _stats(warmup_lengths, convention, "warmup_lengths")
    spec = model_spec(model)
    conv = {"train_convention": train_convention, "convention": convention}

    def passes(tokens: float, sum_sq: float) -> float:
        return _train_pass(spec, tokens, sum_sq, train_convention, lora, convention)

    stages = [StageCost("warmup_train", flops=warmup_epochs * passes(w_tokens, w_sq),
                        tokens=round(warmup_epochs * w_tokens),
                        detail={"examples": w_n, "epochs": warmup_epochs, "lora_params": lora, **conv})]
    for c in range(1, int(n_checkpoints) + 1):
        stages.append(StageCost(f"checkpoint{c}/target_gradients", flops=passes(t_tokens, t_sq), tokens=int(t_tokens),
                                detail=dict(conv)))
        stages.append(StageCost(f"checkpoint{c}/pool_gradients", flops=passes(p_tokens, p_sq), tokens=int(p_tokens),
                                detail=dict(conv)))
        stages.append(StageCost(f"checkpoint{c}/projection", flops=per_example * (n_pool + n_target),
                                detail={"kind": projection_kind, "dim": proj_dim, "lora_params": lora,
                                        **({"nnz": projection_nnz} if projection_kind in SPARSE_PROJECTIONS else {})}))
    stages.append(StageCost("influence", flops=2.0 * n_pool * n_target * proj_dim * n_checkpoints,
                            detail={"dim": proj_dim, "checkpoints": int(n_checkpoints)}))
    return stages
