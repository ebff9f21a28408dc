"""Seeded random projections: equal to their dense matrix, JL-accurate, reproducible across processes."""

import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.projection import KINDS, ProjectionConfig, RandomProjector  # noqa: E402

SEGMENTS = [300, 7, 1100]


@pytest.mark.parametrize("kind", KINDS)
def test_project_equals_dense_matrix(kind):
    proj = RandomProjector(SEGMENTS, ProjectionConfig(dim=64, kind=kind, seed=3, block_rows=256))
    x = torch.randn(5, sum(SEGMENTS), generator=torch.Generator().manual_seed(0))
    dense = proj.dense_matrix()
    assert dense.shape == (sum(SEGMENTS), 64)
    assert torch.allclose(proj.project(x), x @ dense, atol=1e-5)
    if kind == "sparse_sign":
        assert ((dense != 0).sum(1) == proj.config.nnz).all()


@pytest.mark.parametrize("kind", KINDS)
def test_inner_products_preserved(kind):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4000, generator=g)
    x[3] = x[0] + 0.3 * torch.randn(4000, generator=g)  # a correlated pair
    proj = RandomProjector([4000], ProjectionConfig(dim=2048, kind=kind, seed=0))
    y = proj.project(x)
    cos_x = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    cos_y = torch.nn.functional.normalize(y, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    assert (cos_x - cos_y).abs().max() < 0.12
    ratio = y.norm(dim=1) / x.norm(dim=1)
    assert ((ratio - 1).abs() < 0.1).all()


def test_seed_changes_matrix_and_cache_limit_does_not():
    x = torch.randn(3, 500)
    a = RandomProjector([500], ProjectionConfig(dim=32, kind="rademacher", seed=0)).project(x)
    b = RandomProjector([500], ProjectionConfig(dim=32, kind="rademacher", seed=1)).project(x)
    c = RandomProjector([500], ProjectionConfig(dim=32, kind="rademacher", seed=0, max_cache_bytes=0)).project(x)
    assert not torch.allclose(a, b)
    assert torch.equal(a, c)


def test_same_seed_same_matrix_in_a_separate_process():
    script = textwrap.dedent(
        """
        import torch
        from hf_select.scoring.projection import ProjectionConfig, RandomProjector
        for kind in ("sparse_sign", "rademacher", "gaussian"):
            m = RandomProjector([300, 7, 1100], ProjectionConfig(dim=64, kind=kind, seed=3, block_rows=256)).dense_matrix()
            print(kind, repr(m.double().sum().item()), repr((m.double() * torch.arange(m.numel()).reshape(m.shape)).sum().item()))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.returncode == 0, out.stderr[-2000:]
    for line in out.stdout.strip().splitlines():
        kind, total, weighted = line.split()
        m = RandomProjector(SEGMENTS, ProjectionConfig(dim=64, kind=kind, seed=3, block_rows=256)).dense_matrix().double()
        assert float(total) == m.sum().item()
        assert float(weighted) == (m * torch.arange(m.numel()).reshape(m.shape)).sum().item()


def test_bad_inputs():
    with pytest.raises(ValueError, match="kind"):
        ProjectionConfig(kind="fjlt")
    with pytest.raises(ValueError, match="nnz"):
        ProjectionConfig(dim=4, nnz=5)
    with pytest.raises(ValueError, match="segment_sizes"):
        RandomProjector([], ProjectionConfig(dim=4))
    proj = RandomProjector([10], ProjectionConfig(dim=4))
    with pytest.raises(ValueError, match="expects"):
        proj.project(torch.randn(2, 11))
    with pytest.raises(ValueError, match="coordinates"):
        proj.project_segment(0, torch.randn(2, 9))
