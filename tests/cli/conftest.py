"""Run the real ``hf-select`` executable (the console script of this environment) on this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def hf_select_executable() -> list[str]:
    script = Path(sys.executable).with_name("hf-select")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hf_select.cli.main"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: this checkout first on the path (``PYTHONPATH`` in ``extra`` goes before it)."""
    env = dict(os.environ)
    paths = [extra.pop("PYTHONPATH", ""), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"})
    env.pop("HF_SELECT_DEBUG", None)
    env.update(extra)
    return env


@pytest.fixture()
def run_cli():
    """``run_cli(*args, cwd=None, env=None)`` -> CompletedProcess of ``hf-select args`` (text, captured)."""

    def run(*args: str, cwd=None, env: dict[str, str] | None = None, timeout: float = 300):
        return subprocess.run([*hf_select_executable(), *map(str, args)], cwd=cwd, env=cli_env(**(env or {})),
                              capture_output=True, text=True, timeout=timeout)

    return run
