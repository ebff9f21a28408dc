"""Accelerator presets: dense peak FLOP/s by name, and GPU-hours -> FLOPs.

Peaks are the vendors' *dense* (no 2:4 sparsity) tensor-core numbers for bf16 inputs, from the public datasheets
(NVIDIA A100 / H100 / H200 / L4 / L40S / A10 / B200 datasheets, AMD Instinct MI300X / MI250X specs, Google Cloud TPU
system-architecture pages). Exceptions, marked in the table: T4 and V100 have no bf16 tensor cores, their fp16 peak is
used; A10G is the AWS variant of the A10 whose peak AWS does not publish in the datasheet form — 70 TFLOP/s is the
figure commonly quoted for it and should be treated as approximate. A budget in GPU-hours becomes FLOPs as
``hours * 3600 * peak * mfu * n_gpus`` where MFU (model FLOPs utilisation) is the fraction of the peak a training run
really reaches (0.3-0.5 is typical for well-tuned LLM fine-tuning).

Example:
    >>> from hf_select.cost.hardware import gpu_peak_flops, gpu_hours_to_flops
    >>> gpu_peak_flops("a100-80gb")
    312000000000000.0
    >>> f"{gpu_hours_to_flops(10, 'H100', mfu=0.4):.3e}"
    '1.424e+19'
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GPUSpec:
    """One accelerator: name, dense peak FLOP/s, the number format of that peak, and a note on its source."""

    name: str
    peak_flops: float
    dtype: str = "bf16"
    note: str = ""


_T = 1e12
GPUS: dict[str, GPUSpec] = {
    spec.name: spec
    for spec in (
        GPUSpec("A100", 312 * _T, note="NVIDIA A100 datasheet (SXM and PCIe, 40/80 GB), bf16 dense"),
        GPUSpec("H100", 989 * _T, note="NVIDIA H100 SXM datasheet, bf16 dense (1979 with sparsity)"),
        GPUSpec("H100-PCIE", 756 * _T, note="NVIDIA H100 PCIe datasheet, bf16 dense"),
        GPUSpec("H200", 989 * _T, note="NVIDIA H200 SXM datasheet, bf16 dense"),
        GPUSpec("B200", 2250 * _T, note="NVIDIA B200 (HGX) datasheet, bf16 dense"),
        GPUSpec("L4", 121 * _T, note="NVIDIA L4 datasheet, bf16 dense (242 with sparsity)"),
        GPUSpec("L40S", 362 * _T, note="NVIDIA L40S datasheet, bf16 dense (733 with sparsity)"),
        GPUSpec("A10", 125 * _T, note="NVIDIA A10 datasheet, bf16 dense"),
        GPUSpec("A10G", 70 * _T, note="AWS A10G (g5 instances); commonly quoted figure, approximate"),
        GPUSpec("T4", 65 * _T, dtype="fp16", note="NVIDIA T4 datasheet, fp16 tensor (no bf16 support)"),
        GPUSpec("V100", 125 * _T, dtype="fp16", note="NVIDIA V100 SXM2 datasheet, fp16 tensor (no bf16 support)"),
        GPUSpec("MI300X", 1307 * _T, note="AMD Instinct MI300X spec, bf16 dense"),
        GPUSpec("MI250X", 383 * _T, note="AMD Instinct MI250X spec, bf16 dense"),
        GPUSpec("TPU-V4", 275 * _T, note="Google Cloud TPU v4 chip, bf16"),
        GPUSpec("TPU-V5E", 197 * _T, note="Google Cloud TPU v5e chip, bf16"),
        GPUSpec("TPU-V5P", 459 * _T, note="Google Cloud TPU v5p chip, bf16"),
    )
}

# Spellings that name the same preset (after upper-casing and dropping spaces/underscores).
_ALIASES = {
    "A100-40GB": "A100", "A100-80GB": "A100", "A100-SXM": "A100", "A100-PCIE": "A100",
    "H100-SXM": "H100", "H100-80GB": "H100", "H100-SXM5": "H100",
    "TPUV4": "TPU-V4", "TPUV5E": "TPU-V5E", "TPUV5P": "TPU-V5P", "V5E": "TPU-V5E", "V5P": "TPU-V5P",
}


def _key(name: str) -> str:
    return name.strip().upper().replace("_", "-").replace(" ", "-").removeprefix("NVIDIA-")


def list_gpus() -> list[str]:
    """Names of the known accelerators."""
    return list(GPUS)


def gpu_spec(name: str) -> GPUSpec:
    """The preset for ``name`` (case-insensitive; ``"a100-80gb"``, ``"NVIDIA H100"`` ... accepted)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"gpu must be a GPU name, one of {', '.join(GPUS)}; got {name!r}.")
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in GPUS:
        raise ValueError(f"Unknown GPU {name!r}. Known GPUs: {', '.join(GPUS)}. "
                         "Pass the budget in FLOPs instead (e.g. --budget-flops) for other hardware.")
    return GPUS[key]


def gpu_peak_flops(name: str) -> float:
    """Dense peak FLOP/s of ``name`` (bf16, or fp16 where the GPU has no bf16)."""
    return gpu_spec(name).peak_flops


def gpu_hours_to_flops(hours: float, gpu: str, *, mfu: float = 0.4, n_gpus: int = 1) -> float:
    """FLOPs delivered by ``hours`` of ``n_gpus`` x ``gpu`` running at model-FLOPs utilisation ``mfu``.

    Args:
        hours: wall-clock hours per GPU; must be positive.
        gpu: a name from :func:`list_gpus`.
        mfu: fraction of the peak actually used, in (0, 1].
        n_gpus: number of GPUs.
    """
    if not (isinstance(hours, (int, float)) and math.isfinite(hours) and hours > 0):
        raise ValueError(f"gpu hours must be a positive number, got {hours!r}.")
    if not (isinstance(mfu, (int, float)) and 0 < mfu <= 1):
        raise ValueError(f"mfu must be in (0, 1] (e.g. 0.4 for 40% of the peak), got {mfu!r}.")
    if not (isinstance(n_gpus, int) and n_gpus >= 1):
        raise ValueError(f"n_gpus must be a positive integer, got {n_gpus!r}.")
    return float(hours) * 3600.0 * gpu_peak_flops(gpu) * float(mfu) * n_gpus
