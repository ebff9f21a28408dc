"""Sharding a scoring job over processes (``accelerate launch`` / ``torchrun`` / any ``torch.distributed`` group).

Shard ``s`` of the pool goes to rank ``s % world_size``. Each rank loads its shards from the cache or computes and
writes them, then all ranks exchange their shards (``all_gather_object``; gloo on CPU, NCCL on GPU) so every
rank -- rank 0 included -- ends with the full, ordered result, identical to a single-process run. Without a process
group (or with one process) this is a plain loop over shards.

Launch, e.g.::

    accelerate launch --num_processes 2 --cpu -m hf_select.cli.main score --dataset pool.jsonl ...
    torchrun --nproc_per_node 2 my_script.py

Example:
    >>> import numpy as np
    >>> from hf_select.scoring.distributed import dist_info, run_sharded
    >>> dist_info().world_size
    1
    >>> parts, stats = run_sharded(3, lambda s: {"x": np.array([s, s])})
    >>> [p["x"].tolist() for p in parts], stats["computed"]
    ([[0, 0], [1, 1], [2, 2]], [0, 1, 2])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cache import ShardCache


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global rank, world size, rank on its node, processes on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def dist_info() -> DistInfo:
    """Rank and world size from an initialised process group, else from the launcher's environment variables."""
    local_rank = _env_int("LOCAL_RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", 1)
    try:
        import torch.distributed as tdist

        if tdist.is_available() and tdist.is_initialized():
            world = tdist.get_world_size()
            return DistInfo(tdist.get_rank(), world, local_rank, max(local_world, 1) if local_world > 1 else world)
    except ImportError:  # pragma: no cover - torch is present wherever models are scored
        pass
    world = _env_int("WORLD_SIZE", 1)
    return DistInfo(_env_int("RANK", 0), world, local_rank, local_world if local_world > 1 else world)


def init_distributed(backend: str | None = None, *, set_threads: bool = True) -> DistInfo:
    """Join the process group a launcher prepared (``WORLD_SIZE`` > 1 in the environment), once.

    Args:
        backend: ``"gloo"`` / ``"nccl"``; default NCCL when CUDA is available, else gloo.
        set_threads: on CPU, split the cores among the processes of a node (avoids oversubscription).
    """
    import torch
    import torch.distributed as tdist

    info = dist_info()
    if info.world_size > 1 and tdist.is_available() and not tdist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        tdist.init_process_group(backend=backend)
        info = dist_info()
    if info.world_size > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
        elif set_threads:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(info.local_world_size, 1)))
    return info


def device_for_rank(info: DistInfo | None = None) -> str:
    """``cuda:<local_rank>`` on GPU machines, else ``cpu``."""
    import torch

    info = info or dist_info()
    if torch.cuda.is_available():
        return f"cuda:{info.local_rank % torch.cuda.device_count()}"
    return "cpu"


def run_sharded(num_shards: int, compute: Callable[[int], dict[str, np.ndarray]], *,
                cache: ShardCache | None = None, info: DistInfo | None = None) -> tuple[list[dict[str, np.ndarray]],
                                                                                     dict[str, Any]]:
    """Compute (or load) every shard across the ranks and return all shards, in order, on every rank.

    Args:
        num_shards: number of shards.
        compute: ``shard index -> {column: array}``.
        cache: where finished shards are stored and looked up (``None``: no cache).
        info: the process layout (default: :func:`dist_info`).

    Returns:
        ``(shards, stats)`` with ``stats`` = ``{"computed": [...], "cached": [...], "corrupted": [...],
        "world_size": w}`` over all ranks.
    """
    info = info or dist_info()
    mine: dict[int, dict[str, np.ndarray]] = {}
    computed, cached = [], []
    corrupt_before = len(cache.recomputed_corrupt) if cache is not None else 0
    my_shards = range(info.rank, num_shards, info.world_size)
    if cache is not None:  # per-shard locks: concurrent runs on one cache compute each shard once
        mine, computed, cached = cache.fill(my_shards, compute)
    else:
        for shard in my_shards:
            mine[shard] = {k: np.asarray(v) for k, v in compute(shard).items()}
            computed.append(shard)
    corrupted = list(cache.recomputed_corrupt[corrupt_before:]) if cache is not None else []
    payload = (mine, computed, cached, corrupted)
    if info.world_size > 1:
        import torch.distributed as tdist

        if not tdist.is_initialized():
            raise RuntimeError("world_size > 1 but torch.distributed is not initialised: call "
                               "hf_select.scoring.distributed.init_distributed() first.")
        gathered: list[Any] = [None] * info.world_size
        tdist.all_gather_object(gathered, payload)
    else:
        gathered = [payload]
    shards: dict[int, dict[str, np.ndarray]] = {}
    stats: dict[str, Any] = {"computed": [], "cached": [], "corrupted": [], "world_size": info.world_size}
    for part, comp, cach, corr in gathered:
        shards.update(part)
        stats["computed"] += comp
        stats["cached"] += cach
        stats["corrupted"] += corr
    if cache is not None and info.is_main:  # without a shared filesystem, rank 0 keeps a full copy
        for shard, columns in shards.items():
            if not cache.path(shard).exists():
                cache.save(shard, columns)
    for key in ("computed", "cached", "corrupted"):
        stats[key] = sorted(stats[key])
    return [shards[s] for s in range(num_shards)], stats
