"""`make gpu-check` on a machine without CUDA: one line, exit 0, quickly, nothing written."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or Path("/dev/nvidiactl").exists(),
                    reason="this machine has an NVIDIA driver: gpu_check runs for real there")
def test_gpu_check_without_cuda_exits_zero_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(tmp_path / "gpu")], capture_output=True,
                          check=False, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no CUDA"), proc.stdout
    assert not (tmp_path / "gpu").exists()


def test_gpu_check_help_names_every_stage():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0
    for stage in ("install", "kernel", "flash", "perplexity", "less"):
        assert f"``{stage}``" in proc.stdout
