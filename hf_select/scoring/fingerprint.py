"""Identity of a model for cache keys: a hash of its config and of (samples of) its weights.

Example:
    >>> from hf_select.scoring.fingerprint import model_fingerprint
    >>> from hf_select.testing import tiny_llama
    >>> model_fingerprint(tiny_llama(vocab_size=64, seed=0)) == model_fingerprint(tiny_llama(vocab_size=64, seed=0))
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .loading import model_source

WEIGHT_SAMPLES = 4096  # strided samples per parameter hashed for an in-memory model


def model_fingerprint(model_or_path: Any) -> str:
    """Stable identity of a model for cache keys: hash of its config and of (samples of) its weights.

    For a folder: the config and the safetensors headers + sizes (cheap, no weight read). For a Hub id: the id (and
    the revision, when it names one). For a model object: the config and a strided sample of every parameter (a
    change of the weights changes the fingerprint).
    """
    h = hashlib.sha256()
    if isinstance(model_or_path, (str, os.PathLike)):
        source = model_source(model_or_path)
        path = Path(source)
        if not path.exists():  # a Hub id
            h.update(source.encode())
            return h.hexdigest()[:16]
        for f in sorted(path.iterdir()) if path.is_dir() else [path]:
            if f.name == "config.json":
                h.update(f.read_bytes())
            elif f.suffix == ".safetensors":
                with open(f, "rb") as fh:
                    n = int.from_bytes(fh.read(8), "little")
                    h.update(fh.read(n))
                h.update(str(f.stat().st_size).encode())
        return h.hexdigest()[:16]
    import torch

    config = getattr(model_or_path, "config", None)
    if config is not None:
        h.update(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, p in model_or_path.named_parameters():
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // WEIGHT_SAMPLES)
            h.update(name.encode())
            h.update(str(tuple(p.shape)).encode())
            h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
