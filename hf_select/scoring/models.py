"""Public import path of model handling (kept stable): loading, offline assets and fingerprints.

Each concept lives in one module: :mod:`.loading` (sources, device, dtype, tokenizer), :mod:`.assets` (offline
SmolLM2 / MiniLM, cache root), :mod:`.fingerprint` (cache identity of a model). Test models are in
:mod:`hf_select.testing`.

Example:
    >>> from hf_select.scoring.models import load_causal_lm, smollm2_local_path, model_fingerprint
    >>> callable(load_causal_lm) and callable(smollm2_local_path) and callable(model_fingerprint)
    True
"""

from __future__ import annotations

from .assets import (
    CACHE_ENV,
    SMOLLM2_GGUF,
    SMOLLM2_PACKAGE,
    SMOLLM2_VOCAB_SIZE,
    cache_root,
    minilm_local_path,
    smollm2_gguf_path,
    smollm2_local_path,
)
from .fingerprint import model_fingerprint
from .loading import (
    DTYPES,
    dtype_name,
    ensure_pad_token,
    fast_dtype,
    load_causal_lm,
    load_config,
    load_encoder,
    load_model,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
)

__all__ = ["CACHE_ENV", "DTYPES", "SMOLLM2_GGUF", "SMOLLM2_PACKAGE", "SMOLLM2_VOCAB_SIZE", "cache_root",
           "dtype_name", "ensure_pad_token", "fast_dtype", "load_causal_lm", "load_config", "load_encoder",
           "load_model", "load_tokenizer", "minilm_local_path", "model_fingerprint", "resolve_device",
           "resolve_dtype", "smollm2_gguf_path", "smollm2_local_path"]
