"""The Triton kernel ships inside the wheel (package data in the HF `kernels` layout) and loads from an installed
location, with no path into a source checkout; dispatch uses it only when it loads (issue 10/11)."""

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from hf_select.testing import require

REPO = Path(__file__).resolve().parents[2]
KERNEL_FILES = ("hf_select/kernels/build.toml", "hf_select/kernels/torch-ext/hf_select_kernels/__init__.py",
                "hf_select/kernels/torch-ext/hf_select_kernels/_ops.py",
                "hf_select/kernels/torch-ext/hf_select_kernels/fused_linear_ce.py")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "hf_select", src / "hf_select", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = out.glob("hf_select-*.whl")
    return path


def test_wheel_contains_the_kernel_repository(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in KERNEL_FILES if f not in names]
    assert not missing, missing


@require("torch", "triton")
def test_kernel_loads_from_an_installed_location(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["TRITON_INTERPRET"] = "1"
        import torch
        import hf_select
        from hf_select.scoring import triton_nll
        print("package", os.path.dirname(hf_select.__file__))
        print("kernels", triton_nll.kernels_dir())
        g = torch.Generator().manual_seed(0)
        h, w = torch.randn(5, 16, generator=g), torch.randn(40, 16, generator=g)
        y = torch.randint(0, 40, (5,), generator=g)
        ref = torch.nn.functional.cross_entropy(h @ w.T, y, reduction="none")
        for lib in (True, False):
            got = triton_nll.load_kernels(use_kernels_library=lib).fused_linear_cross_entropy_nll(h, w, y)
            print("error", lib, float((got - ref).abs().max()))
        print("status", triton_nll.kernel_status("cpu"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_SELECT_KERNELS_DIR")}
    env.update(PYTHONPATH=str(site), TRITON_INTERPRET="1", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["package"] == str(site / "hf_select")
    assert lines["kernels"] == str(site / "hf_select" / "kernels")
    assert "True" in lines["status"]
    errors = [line for line in out.stdout.splitlines() if line.startswith("error")]
    assert len(errors) == 2 and all(float(e.split()[-1]) < 1e-4 for e in errors)


def test_dispatch_falls_back_when_the_kernel_does_not_load(monkeypatch, caplog):
    torch = pytest.importorskip("torch")
    import hf_select.scoring.dispatch as dispatch
    import hf_select.scoring.triton_nll as triton_nll
    from hf_select.testing import tiny_llama

    def broken(*args, **kwargs):
        raise FileNotFoundError("no kernel repository")

    triton_nll.kernel_status.cache_clear()
    monkeypatch.setattr(triton_nll, "load_kernels", broken)
    monkeypatch.setattr(dispatch, "is_triton_available", lambda: True)
    monkeypatch.setattr(triton_nll, "is_triton_available", lambda: True)
    monkeypatch.setattr(dispatch, "resolve_device", lambda device=None: torch.device("cuda"))
    try:
        ok, why = triton_nll.kernel_status("cuda")
        assert not ok and "does not load" in why and "no kernel repository" in why
        with caplog.at_level("WARNING", logger="hf_select"):
            plan = dispatch.choose_plan(tiny_llama(vocab_size=32), device="cuda")
        assert plan.nll_backend == "torch" and "Triton kernel unavailable" in plan.reasons["nll"]
        assert any("not used" in r.message for r in caplog.records)
    finally:
        triton_nll.kernel_status.cache_clear()
