"""Seeded random projections of gradient vectors, reproducible in any process without storing the matrix.

A gradient vector is a concatenation of *segments* (one per trainable parameter). The projection matrix
``R`` (``[D, k]``, ``D = sum(segment sizes)``) is defined block by block: rows ``[b * block_rows, (b + 1) * block_rows)``
of segment ``s`` are drawn from a ``torch.Generator`` seeded with ``hash(seed, s, b)`` (SHA-256, stable across
processes, machines and batch sizes). Any process regenerates exactly the same ``R``; blocks are cached up to
``max_cache_bytes``. Kinds (Johnson-Lindenstrauss: ``E[<Rx, Ry>] = <x, y>``):

- ``"rademacher"``: entries ``+-1/sqrt(k)`` (as LESS / TRAK, Park et al. 2023);
- ``"gaussian"``: entries ``N(0, 1/k)``;
- ``"sparse_sign"``: each input coordinate hits ``nnz`` output coordinates (one in each of ``nnz`` equal blocks of the
  output) with sign ``+-1/sqrt(nnz)`` -- the sparse JL transform of Kane & Nelson (2014, "Sparser
  Johnson-Lindenstrauss transforms", block construction) / OSNAP. ``O(D * nnz)`` per vector instead of ``O(D * k)``,
  and the index table is small enough to cache (the default: dense ``D x 8192`` matrices do not fit on a CPU).

Example:
    >>> import torch
    >>> from hf_select.scoring.projection import ProjectionConfig, RandomProjector
    >>> proj = RandomProjector([5, 3], ProjectionConfig(dim=4, kind="rademacher", seed=1))
    >>> x = torch.randn(2, 8)
    >>> torch.allclose(proj.project(x), x @ proj.dense_matrix(), atol=1e-6)
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..import_utils import require

KINDS = ("sparse_sign", "rademacher", "gaussian")


@dataclass
class ProjectionConfig:
    """Knobs of the random projection (all reported in the selection cost)."""

    dim: int = field(default=8192, metadata={"help": "Output dimension k of the projection (LESS: 8192)."})
    kind: str = field(default="sparse_sign", metadata={"help": f"Projection family, one of {KINDS}."})
    seed: int = field(default=0, metadata={"help": "Seed of the projection matrix (same seed -> same matrix anywhere)."})
    nnz: int = field(default=4, metadata={"help": "Non-zeros per input coordinate for kind='sparse_sign'."})
    block_rows: int = field(default=2048, metadata={"help": "Input coordinates generated per seeded block."})
    max_cache_bytes: int = field(default=512 * 2**20,
                                 metadata={"help": "Generated blocks kept in memory up to this size; beyond it they "
                                                   "are regenerated on every call."})

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"projection kind={self.kind!r} is not known; use one of {KINDS}.")
        if self.dim <= 0 or self.block_rows <= 0:
            raise ValueError(f"projection dim ({self.dim}) and block_rows ({self.block_rows}) must be positive.")
        if self.kind == "sparse_sign" and not 1 <= self.nnz <= self.dim:
            raise ValueError(f"nnz={self.nnz} must be in [1, dim={self.dim}] for kind='sparse_sign'.")


def block_seed(seed: int, segment: int, block: int) -> int:
    """A 63-bit generator seed for one block, identical in every process."""
    digest = hashlib.sha256(f"hf_select.projection|{seed}|{segment}|{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class RandomProjector:
    """Projects vectors made of ``segment_sizes`` segments to ``config.dim`` dimensions (see the module docstring).

    Args:
        segment_sizes: number of coordinates of each segment (e.g. ``p.numel()`` of each trainable parameter).
        config: the projection knobs.
    """

    def __init__(self, segment_sizes: Sequence[int], config: ProjectionConfig | None = None) -> None:
        require("torch", "gradient projections")
        self.config = config or ProjectionConfig()
        self.segment_sizes = [int(s) for s in segment_sizes]
        if not self.segment_sizes or any(s <= 0 for s in self.segment_sizes):
            raise ValueError(f"segment_sizes must be a non-empty list of positive sizes, got {segment_sizes!r}.")
        self.offsets = [0]
        for s in self.segment_sizes:
            self.offsets.append(self.offsets[-1] + s)
        self._cache: dict[tuple[int, int], Any] = {}
        self._cache_bytes = 0

    @property
    def in_dim(self) -> int:
        return self.offsets[-1]

    @property
    def out_dim(self) -> int:
        return self.config.dim

    def _generate(self, segment: int, block: int, rows: int) -> Any:
        import torch

        cfg = self.config
        g = torch.Generator(device="cpu").manual_seed(block_seed(cfg.seed, segment, block))
        if cfg.kind == "rademacher":
            return (torch.randint(0, 2, (rows, cfg.dim), generator=g, dtype=torch.int8).float() * 2 - 1) / math.sqrt(cfg.dim)
        if cfg.kind == "gaussian":
            return torch.randn(rows, cfg.dim, generator=g) / math.sqrt(cfg.dim)
        # sparse_sign: one index per output block, nnz blocks of (nearly) equal width
        edges = torch.linspace(0, cfg.dim, cfg.nnz + 1).round().long()
        widths = (edges[1:] - edges[:-1]).clamp(min=1)
        u = torch.rand(rows, cfg.nnz, generator=g, dtype=torch.float64)
        idx = (edges[:-1] + (u * widths).long().clamp(max=widths - 1)).to(torch.int32)
        signs = (torch.randint(0, 2, (rows, cfg.nnz), generator=g, dtype=torch.int8).float() * 2 - 1) / math.sqrt(cfg.nnz)
        return idx, signs

    def _block(self, segment: int, block: int, rows: int) -> Any:
        key = (segment, block)
        if key in self._cache:
            return self._cache[key]
        value = self._generate(segment, block, rows)
        parts = value if isinstance(value, tuple) else (value,)
        size = sum(p.numel() * p.element_size() for p in parts)
        if self._cache_bytes + size <= self.config.max_cache_bytes:
            self._cache[key] = value
            self._cache_bytes += size
        return value

    def project_segment(self, segment: int, x: Any, out: Any = None) -> Any:
        """Add ``x @ R[segment]`` (``x``: ``[B, size of segment]``) to ``out`` (``[B, dim]``, fp32) and return it."""
        import torch

        if not 0 <= segment < len(self.segment_sizes):
            raise ValueError(f"segment {segment} out of range (the projector has {len(self.segment_sizes)}).")
        size = self.segment_sizes[segment]
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != size:
            raise ValueError(f"segment {segment} has {size} coordinates, got a tensor with {x.shape[1]}.")
        x = x.float()
        if out is None:
            out = torch.zeros(x.shape[0], self.config.dim, dtype=torch.float32, device=x.device)
        step = self.config.block_rows
        for block, start in enumerate(range(0, size, step)):
            rows = min(step, size - start)
            chunk = x[:, start:start + rows]
            value = self._block(segment, block, rows)
            if self.config.kind == "sparse_sign":
                idx, signs = (v.to(x.device) for v in value)
                contrib = chunk.unsqueeze(-1) * signs  # [B, rows, nnz]
                out.index_add_(1, idx.reshape(-1), contrib.reshape(x.shape[0], -1))
            else:
                out.addmm_(chunk, value.to(x.device))
        return out

    def project(self, x: Any) -> Any:
        """``x @ R`` for full vectors ``x`` (``[B, D]``)."""
        import torch

        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"project expects [B, {self.in_dim}] vectors, got {tuple(x.shape)}.")
        out = torch.zeros(x.shape[0], self.config.dim, dtype=torch.float32, device=x.device)
        for s in range(len(self.segment_sizes)):
            self.project_segment(s, x[:, self.offsets[s]:self.offsets[s + 1]], out)
        return out

    def dense_matrix(self, dtype: Any = None) -> Any:
        """The whole ``[D, k]`` matrix (for baselines and tests; ``D * k`` floats)."""
        import torch

        mat = torch.zeros(self.in_dim, self.config.dim, dtype=dtype or torch.float32)
        step = self.config.block_rows
        for s, size in enumerate(self.segment_sizes):
            for block, start in enumerate(range(0, size, step)):
                rows = min(step, size - start)
                value = self._generate(s, block, rows)
                r0 = self.offsets[s] + start
                if self.config.kind == "sparse_sign":
                    idx, signs = value
                    view = mat[r0:r0 + rows]
                    view.scatter_add_(1, idx.long(), signs.to(view.dtype))
                else:
                    mat[r0:r0 + rows] = value.to(mat.dtype)
        return mat
