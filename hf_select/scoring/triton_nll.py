"""Load the Triton kernel package shipped inside hf_select and expose per-token NLL through it.

The kernel sources are package data of hf_select (so a wheel carries them), in the HF ``kernels`` repository layout:
``hf_select/kernels/build.toml`` and ``hf_select/kernels/torch-ext/hf_select_kernels/`` (the repository's top-level
``kernels/`` is a link to that folder, the kernel repository ``kernel-builder`` builds). :func:`kernels_dir` finds it
next to the installed package, never through a repository-relative path. ``kernels`` 0.17.2 loads a *local* kernel with ``get_local_kernel(path)``
only from a build variant (a directory holding ``metadata.json`` next to the package, as ``kernel-builder`` writes it).
Pure-Triton sources need no build, so :func:`load_kernels` stages such a variant in a temporary directory (a
``metadata.json`` and a symlink to the sources) and loads it with ``kernels.get_local_kernel``; without the ``kernels``
library it imports the package straight from ``torch-ext`` with ``importlib``. A real build (``build/`` in the kernel
folder) is preferred when present. :func:`kernel_status` says whether the kernel loads (and, on CUDA, runs and
matches torch on a tiny input); the dispatcher uses the kernel only then, else falls back with the reason.

On CPU the kernel runs only in the Triton interpreter (``TRITON_INTERPRET=1`` set before the kernel is first loaded),
~30x slower than torch: the dispatcher uses it on CUDA only.

Example:
    >>> from hf_select.scoring.triton_nll import is_triton_nll_usable
    >>> import torch
    >>> isinstance(is_triton_nll_usable(torch.device("cpu")), bool)
    True
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from ..import_utils import is_kernels_available, is_triton_available, is_triton_interpret, require

PACKAGE = "hf_select_kernels"
KERNEL_NAME = "hf-select-kernels"
ENV_KERNELS_DIR = "HF_SELECT_KERNELS_DIR"
_LOADED: dict[str, ModuleType] = {}


def kernels_dir() -> Path:
    """The kernel repository: ``$HF_SELECT_KERNELS_DIR``, else ``kernels/`` inside the installed ``hf_select``."""
    env = os.environ.get(ENV_KERNELS_DIR)
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "kernels"
    if not (path / "torch-ext" / PACKAGE / "__init__.py").exists() and not (path / "build").exists():
        raise FileNotFoundError(
            f"No kernel repository at {path} (expected torch-ext/{PACKAGE}/__init__.py): the hf_select installation "
            f"is incomplete (reinstall it), or {ENV_KERNELS_DIR} points to the wrong folder."
        )
    return path


def _stage_variant(source: Path) -> Path:
    """A variant directory (``metadata.json`` + symlink to the sources) that ``kernels.get_local_kernel`` accepts."""
    import torch

    backend = "cuda" if torch.cuda.is_available() else "cpu"
    key = hashlib.sha256(f"{source.resolve()}|{backend}".encode()).hexdigest()[:16]
    variant = Path(tempfile.gettempdir()) / f"hf_select_kernels-{key}"
    variant.mkdir(parents=True, exist_ok=True)
    link = variant / PACKAGE
    if not link.exists():
        try:
            link.symlink_to(source.resolve(), target_is_directory=True)
        except FileExistsError:  # another process staged it first
            pass
    metadata = {"id": PACKAGE, "name": KERNEL_NAME, "version": 1, "license": "Apache-2.0",
                "python-depends": [], "backend": {"type": backend}}
    meta_path = variant / "metadata.json"
    tmp = variant / f"metadata.json.{os.getpid()}"
    tmp.write_text(json.dumps(metadata))
    os.replace(tmp, meta_path)
    return variant


def load_kernels(path: str | os.PathLike | None = None, *, use_kernels_library: bool = True) -> ModuleType:
    """Import the ``hf_select_kernels`` package (cached per path).

    Args:
        path: the kernel repository (default: :func:`kernels_dir`).
        use_kernels_library: load through ``kernels.get_local_kernel`` when the library is installed.
    """
    require("triton", "The fused linear + cross-entropy kernel")
    repo = Path(path) if path is not None else kernels_dir()
    cache_key = f"{repo.resolve()}|{use_kernels_library}"
    if cache_key in _LOADED:
        return _LOADED[cache_key]
    source = repo / "torch-ext" / PACKAGE
    if use_kernels_library and is_kernels_available():
        from kernels import get_local_kernel

        target = repo if (repo / "build").exists() else _stage_variant(source)
        module = get_local_kernel(target)
    else:
        init = source / "__init__.py"
        if not init.exists():
            raise FileNotFoundError(f"No kernel package at {source}.")
        name = f"{PACKAGE}_local"
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(source)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            sys.modules.pop(name, None)
            raise
    _LOADED[cache_key] = module
    return module


SMOKE_SHAPE = (3, 16, 40)  # tokens, hidden, vocabulary of the check run in kernel_status on CUDA
SMOKE_TOLERANCE = 1e-3


@functools.cache
def kernel_status(device: str = "cuda") -> tuple[bool, str]:
    """``(usable, reason)``: the kernel package loads, and on a CUDA ``device`` one tiny call matches torch.

    Cached per device for the process; never raises.
    """
    if not is_triton_available():
        return False, "triton is not installed (pip install \"hf-select[kernels]\")"
    try:
        module = load_kernels()
    except Exception as err:  # noqa: BLE001 - any loader failure: report it, never break scoring
        return False, f"the kernel package does not load ({type(err).__name__}: {str(err)[:200]})"
    if not device.startswith("cuda"):
        return True, "kernel package loaded"
    try:
        import torch

        from .nll import reference_token_nll

        tokens, hidden_size, vocab = SMOKE_SHAPE
        g = torch.Generator().manual_seed(0)
        hidden = torch.randn(tokens, hidden_size, generator=g).to(device)
        weight = torch.randn(vocab, hidden_size, generator=g).to(device)
        labels = torch.randint(0, vocab, (tokens,), generator=g).to(device)
        got = module.fused_linear_cross_entropy_nll(hidden, weight, labels)
        want = reference_token_nll(hidden, weight, labels)
        error = float((got - want).abs().max())
    except Exception as err:  # noqa: BLE001 - a kernel that does not run: report it, never break scoring
        return False, f"the kernel does not run on {device} ({type(err).__name__}: {str(err)[:200]})"
    if error > SMOKE_TOLERANCE:
        return False, f"the kernel disagrees with torch on {device} (max error {error:.1e})"
    return True, f"kernel package loaded and checked on {device}"


def is_triton_nll_usable(device: Any) -> bool:
    """Whether the kernel can run on ``device``: Triton installed and a CUDA device (or the CPU interpreter)."""
    if not is_triton_available():
        return False
    kind = getattr(device, "type", str(device))
    return kind == "cuda" or (kind == "cpu" and is_triton_interpret())


def triton_token_nll(hidden: Any, weight: Any, labels: Any, chunk_size: int | None = None,
                     *, ignore_index: int = -100) -> Any:
    """Per-token NLL (fp32) of ``labels`` under ``hidden @ weight.T`` with the fused Triton kernel.

    Drop-in for ``hf_select.scoring.nll.chunked_token_nll``: ``hidden`` is ``[..., H]``, ``labels`` ``[...]`` (already
    shifted, ``ignore_index`` gives 0) and the result has the shape of ``labels``. ``chunk_size`` is accepted for the
    same signature; the kernel never materialises logits, so it needs no chunking.
    """
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive or None, got {chunk_size}.")
    if hidden.shape[:-1] != labels.shape:
        raise ValueError(f"hidden {tuple(hidden.shape)} and labels {tuple(labels.shape)} disagree: hidden must be "
                         "[..., H] with labels [...].")
    module = load_kernels()
    flat = module.fused_linear_cross_entropy_nll(
        hidden.reshape(-1, hidden.shape[-1]), weight.to(hidden.dtype), labels.reshape(-1), ignore_index
    )
    return flat.reshape(labels.shape)
