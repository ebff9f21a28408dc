"""THE method -> (selection FLOPs, gain rate) map: what the planner, ``hf-select plan`` and the Space plan with.

:func:`default_profiles` prices each method's selection with :mod:`hf_select.cost.flops` (random, BM25, DSIR: 0;
embedding: ``2 N_embed`` per pool and target token; perplexity: one forward of the selector over the pool; LESS:
:func:`~hf_select.cost.flops.less_pipeline_flops` with its warm-up, checkpoints and projection), prices full-pool
training with :func:`~hf_select.cost.flops.training_flops` under the one training convention, and attaches the gain
rates of the paper's theory figure (:data:`~hf_select.cost.planner.THEORY_GAIN_RATES`, overridable). Its
:class:`PlanInputs` lists every assumption, so each front end prints the same ones.

Example:
    >>> from hf_select.cost.profiles import default_profiles
    >>> inputs = default_profiles(["random", "perplexity"], train_model=7e9, selector_model=1.35e8,
    ...                           pool_tokens=270_000 * 512, n_pool=270_000)
    >>> [(p.name, f"{p.selection_flops:.3g}", p.lam) for p in inputs.profiles]
    [('random', '0', 5.0), ('perplexity', '3.73e+16', 40.0)]
    >>> f"{inputs.train_flops_full:.3g}"      # 6 N D: the "full" training convention
    '5.81e+18'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .convention import DEFAULT_TRAIN_CONVENTION, check_train_convention, describe_train_convention
from .flops import (
    LESS_PROJ_DIM,
    LESS_PROJECTION_KIND,
    LESS_WARMUP_EPOCHS,
    LESS_WARMUP_FRACTION,
    bm25_selection_flops,
    dsir_selection_flops,
    embedding_selection_flops,
    less_pipeline_flops,
    model_spec,
    perplexity_selection_flops,
    training_flops,
)
from .planner import THEORY_GAIN_RATES, MethodProfile

DEFAULT_METHODS = ("random", "bm25", "embedding", "perplexity", "less")
# all-MiniLM-L6-v2, the embedding model shipped with hf_select (22,713,216 parameters).
DEFAULT_EMBED_PARAMS = 22_713_216
# LESS's setting on Llama-2-7B: LoRA rank 128 on q, k, v, o = 134M of 6.7B parameters, about 2%. Used for the
# selector's adapters (LESS) and, under the "lora" convention, for the trained model's when not given.
DEFAULT_LORA_FRACTION = 0.02


@dataclass
class PlanInputs:
    """Profiles, the full-pool training FLOPs ``F`` and the assumptions they were priced under."""

    profiles: list[MethodProfile]
    train_flops_full: float
    assumptions: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> list[str]:
        """The assumptions as lines (what ``hf-select plan`` and the Space print under the table)."""
        a = self.assumptions
        lines = [(f"training FLOPs: {describe_train_convention(a['train_convention'])}; parameters counted by the "
                  f"{a['convention']!r} convention")]
        lines.append(f"pool: {a['n_pool']:,} examples, {a['pool_tokens']:.4g} tokens; targets: {a['n_target']:,}")
        if "less" in a:
            less = a["less"]
            lines.append(f"less: warm-up on {less['warmup_fraction']:.0%} of the pool for {less['checkpoints']} "
                         f"epoch(s), {less['checkpoints']} checkpoint(s), {less['projection_kind']} projection to "
                         f"{less['proj_dim']} dims, LoRA {a['selector_lora_params']:.3g} parameters")
        lines.append("gain rates: " + ", ".join(f"{p.name} {p.lam:g}" for p in self.profiles)
                     + f" (p0 {a['p0']:g}, ceiling {a['ceiling']:g})")
        return lines


def _lengths(n: int, tokens: float, convention: str) -> Any:
    """A token total (6N) or ``n`` equal per-example lengths (detailed: the attention term needs lengths)."""
    if convention == "6N":
        return tokens
    return np.full(n, tokens / n) if n else np.zeros(0)


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def default_profiles(methods: Sequence[str] = DEFAULT_METHODS, *, train_model: Any, pool_tokens: float, n_pool: int,
                     selector_model: Any = None, n_target: int = 0, embed_params: float = DEFAULT_EMBED_PARAMS,
                     lora_params: float | None = None, train_lora_params: float | None = None,
                     train_convention: str = DEFAULT_TRAIN_CONVENTION, convention: str = "6N", epochs: float = 1.0,
                     gain_rates: Mapping[str, float] | None = None, p0: float = 0.0, ceiling: float = 100.0,
                     less_checkpoints: int = LESS_WARMUP_EPOCHS, less_warmup_fraction: float = LESS_WARMUP_FRACTION,
                     less_projection: str = LESS_PROJECTION_KIND, less_proj_dim: int = LESS_PROJ_DIM,
                     less_projection_nnz: int = 4) -> PlanInputs:
    """Planner profiles for ``methods`` and the full-pool training FLOPs, all priced one way.

    Args:
        methods: names among random, bm25, dsir, embedding, perplexity, less.
        train_model / selector_model: parameter counts or configs (the selector defaults to the trained model).
        pool_tokens / n_pool: the pool's size in tokens and examples; ``n_target`` target examples of the same mean
            length (LESS pays their gradients, embedding their encoding).
        embed_params: the embedding model's parameters (default all-MiniLM-L6-v2).
        lora_params: LoRA parameters of the selector's adapters (LESS); default 2% of the selector.
        train_lora_params: LoRA parameters of the training (``"lora"`` convention); default 2% of the trained model.
        train_convention: ``"full"`` (6N per training token, the paper's) or ``"lora"`` (4N + 6L); prices full-pool
            training and every forward+backward of the selection (LESS's warm-up and gradients).
        convention: what N is: ``"6N"`` (all parameters) or ``"detailed"`` (matmul parameters + attention).
        epochs: training epochs over the selected data.
        gain_rates: overrides of :data:`~hf_select.cost.planner.THEORY_GAIN_RATES`.
        p0 / ceiling: performance with no training and the full-data performance.
        less_*: LESS's checkpoints (= warm-up epochs), warm-up fraction and projection (``"rademacher"`` dense as in
            the paper, or ``"sparse_sign"`` as hf_select's selector runs by default).
    """
    check_train_convention(train_convention)
    n_pool = int(_positive(n_pool, "n_pool"))
    pool_tokens = _positive(pool_tokens, "pool_tokens")
    if isinstance(n_target, bool) or not isinstance(n_target, (int, np.integer)) or n_target < 0:
        raise ValueError(f"n_target must be a non-negative number of examples, got {n_target!r}.")
    rates = {**THEORY_GAIN_RATES, **dict(gain_rates or {})}
    unknown = [m for m in methods if m not in rates]
    if unknown:
        raise ValueError(f"No gain rate for {unknown}: give one (e.g. --lam METHOD=RATE); known: {', '.join(rates)}.")
    selector = train_model if selector_model is None else selector_model
    n_selector, n_train = model_spec(selector).n_params, model_spec(train_model).n_params
    lora = DEFAULT_LORA_FRACTION * n_selector if lora_params is None else _positive(lora_params, "lora_params")
    train_lora = DEFAULT_LORA_FRACTION * n_train if train_lora_params is None else \
        _positive(train_lora_params, "train_lora_params")
    pool = _lengths(n_pool, pool_tokens, convention)
    target_tokens = pool_tokens / n_pool * n_target
    target = _lengths(n_target, target_tokens, convention)
    stages = {
        "random": list,
        "bm25": lambda: bm25_selection_flops(pool_tokens),
        "dsir": lambda: dsir_selection_flops(pool_tokens),
        # The embedding model is known by its parameter count only: 2 N_embed per token (6N counting).
        "embedding": lambda: embedding_selection_flops(_positive(embed_params, "embed_params"), pool_tokens,
                                                       target_tokens),
        "perplexity": lambda: perplexity_selection_flops(selector, pool, convention=convention),
        "less": lambda: less_pipeline_flops(selector, pool, target, lora_params=lora, n_pool=n_pool, n_target=n_target,
                                            warmup_fraction=less_warmup_fraction, warmup_epochs=less_checkpoints,
                                            n_checkpoints=less_checkpoints, projection_kind=less_projection,
                                            proj_dim=less_proj_dim, projection_nnz=less_projection_nnz,
                                            train_convention=train_convention, convention=convention),
    }
    missing = [m for m in methods if m not in stages]
    if missing:
        raise ValueError(f"Cannot price the selection of {missing} without measured runs; known methods: "
                         f"{', '.join(stages)} (or fit from runs with `hf-select plan --runs`).")
    profiles = [MethodProfile(m, sum(s.flops for s in stages[m]()), lam=rates[m], p0=p0, ceiling=ceiling)
                for m in methods]
    full = training_flops(train_model, pool, train_convention=train_convention, lora_params=train_lora,
                          epochs=_positive(epochs, "epochs"), convention=convention)
    assumptions: dict[str, Any] = {
        "train_convention": train_convention, "convention": convention, "n_pool": n_pool, "pool_tokens": pool_tokens,
        "n_target": int(n_target), "train_params": n_train, "selector_params": n_selector,
        "selector_lora_params": lora, "train_lora_params": train_lora if train_convention == "lora" else None,
        "embed_params": float(embed_params), "epochs": float(epochs), "p0": float(p0), "ceiling": float(ceiling),
        "gain_rates": {m: rates[m] for m in methods}}
    if "less" in methods:
        assumptions["less"] = {"checkpoints": less_checkpoints, "warmup_fraction": less_warmup_fraction,
                               "projection_kind": less_projection, "proj_dim": less_proj_dim}
    return PlanInputs(profiles, full, assumptions)
