"""The one place that turns a model argument into a model: source (folder / Hub id / object), device and dtype.

- :func:`resolve_device`: ``None`` / ``"auto"`` -> CUDA when available, else CPU.
- :data:`DTYPES`, :func:`dtype_name`, :func:`resolve_dtype`, :func:`fast_dtype`: the one dtype table of hf_select.
  ``"auto"`` means the fast dtype of the device (bfloat16 on CPUs with AVX512-BF16/AMX and on CUDA GPUs with bf16,
  float16 on other GPUs, else float32); every selector and the engine accept the same names.
- :func:`load_causal_lm`, :func:`load_encoder`, :func:`load_tokenizer`, :func:`load_config`: a model object is used
  as is; a local folder is loaded from disk; anything else that is a valid Hub id is loaded as transformers does
  (the local Hugging Face cache first, ``HF_HUB_OFFLINE`` respected). A Hub id that is neither cached nor reachable
  is a one-line ``ValueError`` naming the id and the fix.

Example:
    >>> from hf_select.scoring.loading import dtype_name, resolve_device
    >>> dtype_name("bf16"), dtype_name("float32"), str(resolve_device("cpu"))
    ('bfloat16', 'float32', 'cpu')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..data.io import is_hub_id
from ..import_utils import require

DTYPES = ("auto", "float32", "bfloat16", "float16")
_DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}


def resolve_device(device: Any = None) -> Any:
    """``None`` / ``"auto"`` -> ``cuda`` when available, else ``cpu``; a string or ``torch.device`` as given."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fast_dtype(device: Any) -> str:
    """The dtype to compute in on ``device`` when asked for ``"auto"``: ``"bfloat16"`` where the hardware runs it
    fast (CPUs with AVX512-BF16 or AMX, ~4x their fp32 matmul speed; CUDA GPUs with bf16), ``"float16"`` on other
    GPUs, else ``"float32"``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        if any(check is not None and check() for check in checks):
            return "bfloat16"
    return "float32"


def dtype_name(dtype: Any, device: Any = None, *, argument: str = "dtype") -> str:
    """Canonical name (``"float32"`` / ``"bfloat16"`` / ``"float16"``) of a dtype given as a name, an alias
    (``bf16``, ``fp32``, ...), a ``torch.dtype``, or ``"auto"`` (the fast dtype of ``device``)."""
    name = str(dtype).replace("torch.", "")
    name = _DTYPE_ALIASES.get(name, name)
    if name not in DTYPES:
        raise ValueError(f"{argument}={dtype!r} is not supported; use one of {DTYPES} (or fp32 / bf16 / fp16).")
    if name == "auto":
        return fast_dtype(resolve_device(device))
    return name


def resolve_dtype(dtype: Any, device: Any = None) -> Any:
    """A ``torch.dtype`` from anything :func:`dtype_name` accepts (``ValueError`` for anything else)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, dtype_name(dtype, device))


def _is_local(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).expanduser().exists()


def model_source(model_or_path: Any, argument: str = "model") -> str:
    """The local folder (checked to hold ``config.json``) or the Hub id to load ``model_or_path`` from."""
    if _is_local(model_or_path):
        path = Path(model_or_path).expanduser()
        if path.is_dir() and not (path / "config.json").exists():
            raise ValueError(f"{argument}={str(model_or_path)!r} is a folder without config.json; it is not a "
                             "saved Hugging Face model (save one with model.save_pretrained(folder)).")
        return str(path)
    if isinstance(model_or_path, (str, os.PathLike)) and is_hub_id(os.fspath(model_or_path)):
        return os.fspath(model_or_path)
    raise ValueError(
        f"{argument}={str(model_or_path)!r} does not exist: pass a local folder saved with save_pretrained, a Hub "
        "model id (e.g. HuggingFaceTB/SmolLM2-135M-Instruct), a model object, or "
        "hf_select.scoring.smollm2_local_path() (offline)."
    )


def _from_pretrained(loader: Any, source: str, argument: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(source)``; a Hub id that cannot be fetched becomes one clear line."""
    if _is_local(source):
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE")
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub did not answer or has no such repository"
        raise ValueError(
            f"{argument}={source!r} is not a local folder and is not in the Hugging Face cache ({why}). Download "
            f"it once while online (`hf download {source}`), or pass a local folder."
        ) from err


def load_config(model_or_path: Any, argument: str = "model") -> Any:
    """The transformers config of a model object, a local folder or a Hub id."""
    if hasattr(model_or_path, "config"):
        return model_or_path.config
    if hasattr(model_or_path, "to_dict") and hasattr(model_or_path, "model_type"):
        return model_or_path
    require("transformers", "Reading a model config")
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, model_source(model_or_path, argument), argument)


def load_model(model_or_path: Any, *, causal: bool = True, dtype: Any = None, device: Any = None,
               attn_implementation: str | None = None, argument: str = "model") -> Any:
    """A model in eval mode from a model object, a local folder or a Hub id.

    Args:
        model_or_path: a ``PreTrainedModel`` (returned as is, only moved / cast when asked), a folder, or a Hub id.
        causal: load with ``AutoModelForCausalLM`` (else ``AutoModel``, e.g. a sentence encoder).
        dtype: weight dtype (any name of :data:`DTYPES`); default: the checkpoint's / leave the model's.
        device: where to put it (default: leave it where it is / CPU).
        attn_implementation: ``"sdpa"``, ``"eager"``, ``"flash_attention_2"``; default: transformers' choice.
        argument: the option name used in error messages.
    """
    require("torch", "model-based scoring")
    require("transformers", "model-based scoring")
    torch_dtype = resolve_dtype(dtype, device) if dtype is not None else None
    if isinstance(model_or_path, (str, os.PathLike)):
        from transformers import AutoModel, AutoModelForCausalLM

        kwargs: dict[str, Any] = {}
        if torch_dtype is not None:
            kwargs["dtype"] = torch_dtype
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        model = _from_pretrained(AutoModelForCausalLM if causal else AutoModel,
                                 model_source(model_or_path, argument), argument, **kwargs)
    elif hasattr(model_or_path, "forward") and hasattr(model_or_path, "config"):
        model = model_or_path
        if torch_dtype is not None and next(model.parameters()).dtype != torch_dtype:
            model = model.to(torch_dtype)
        if attn_implementation is not None and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(attn_implementation)
    else:
        raise TypeError(f"{argument} must be a local folder, a Hub model id or a transformers model, "
                        f"got {type(model_or_path).__name__}.")
    if device is not None:
        model = model.to(resolve_device(device))
    return model.eval()


def load_causal_lm(model_or_path: Any, *, dtype: Any = None, device: Any = None,
                   attn_implementation: str | None = None) -> Any:
    """A causal LM in eval mode (see :func:`load_model`)."""
    return load_model(model_or_path, causal=True, dtype=dtype, device=device, attn_implementation=attn_implementation)


def load_encoder(model_or_path: Any, *, device: Any = None) -> Any:
    """An encoder (``AutoModel``) in eval mode (see :func:`load_model`)."""
    return load_model(model_or_path, causal=False, device=device)


def load_tokenizer(model_or_path: Any, tokenizer: Any = None) -> Any:
    """The tokenizer of a model (its folder / Hub id, or ``model.name_or_path``), or ``tokenizer`` when given
    (an object, a folder or a Hub id), with a pad token set (:func:`ensure_pad_token`).

    Raises:
        ValueError: no tokenizer can be found for an in-memory model; the message says to pass ``tokenizer=``.
    """
    require("transformers", "model-based scoring")
    from transformers import AutoTokenizer

    argument = "tokenizer"
    if tokenizer is None:
        source = model_or_path
        argument = "model"
        if not isinstance(source, (str, os.PathLike)):
            config = getattr(source, "config", None)
            source = getattr(source, "name_or_path", None) or getattr(config, "_name_or_path", "")
            if not source or not (_is_local(source) or is_hub_id(str(source))):
                raise ValueError("Cannot find a tokenizer for this model (it was not loaded from a folder or a Hub "
                                 "id): pass tokenizer=<a tokenizer object, a local folder or a Hub id>.")
        tokenizer = source
    if isinstance(tokenizer, (str, os.PathLike)):
        source = os.fspath(Path(tokenizer).expanduser()) if _is_local(tokenizer) else model_source(tokenizer, argument)
        tokenizer = _from_pretrained(AutoTokenizer, source, argument)
    return ensure_pad_token(tokenizer)


def ensure_pad_token(tokenizer: Any) -> Any:
    """Give ``tokenizer`` a pad token when it has none: its EOS token, else the token of id 0."""
    if getattr(tokenizer, "pad_token_id", None) is None:
        if getattr(tokenizer, "eos_token", None) is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)
    return tokenizer
