"""Every ```python / ```bash block of README.md runs as written, so the README cannot rot.

The blocks run in a scratch folder laid out like a fresh clone after ``make demo`` (``examples/`` linked in,
``demo_output/`` made by ``hf-select demo`` on fewer selectors), each in its own process, offline as the Makefile
sets it, with this checkout first on ``PYTHONPATH``. A comment on the line before a block changes how it runs:

- ``<!-- readme-test: skip (reason) -->``: not run (installs, long-running servers); the reason is required;
- ``<!-- readme-test: slow -->``: marked ``slow`` (loads and trains a real model);
- ``<!-- readme-test: hub -->``: run against a loopback Hub server (tests/hub/hub_server.py) with a write token.

Blocks that create files later blocks read are run first, once, by the fixture (``runs/pool.jsonl``...). Output samples
are fenced as ```text, so they are never run; every fence must name its language.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUNNABLE = ("python", "bash")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<kind>\w+)(?:\s*\((?P<reason>[^)]*)\))?\s*-->$")
KINDS = ("skip", "slow", "hub")
TIMEOUT_S = 1800  # generous: the machine running the suite may be shared
HUB_USER, HUB_TOKEN = "me", "hf_readme_write_0123456789"
SETUP_FILES = ("runs/pool.jsonl", "runs/target.jsonl")  # made by a block, read by later ones


@dataclass
class Block:
    line: int
    lang: str
    code: str
    kind: str | None
    reason: str | None
    section: str

    @property
    def name(self) -> str:
        return f"L{self.line}-{self.lang}-{re.sub(r'[^a-z0-9]+', '-', self.section.lower()).strip('-')}"

    @property
    def makes_setup_files(self) -> bool:
        return any(f in self.code for f in SETUP_FILES) and ".to_json(" in self.code


def parse_readme(text: str) -> list[Block]:
    blocks, section, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            lang, start, body = line[3:].strip(), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            previous = next((lines[j].strip() for j in range(start - 2, -1, -1) if lines[j].strip()), "")
            marker = MARKER.match(previous)
            blocks.append(Block(start, lang, "\n".join(body) + "\n", marker and marker["kind"],
                                marker and marker["reason"], section))
        i += 1
    return blocks


BLOCKS = parse_readme(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.lang in RUNNABLE and b.kind != "skip" and not b.makes_setup_files]


def test_every_fence_names_its_language_and_markers_are_known():
    assert BLOCKS, "README.md has no code blocks"
    assert all(b.lang for b in BLOCKS), [b.line for b in BLOCKS if not b.lang]
    for line in README.read_text(encoding="utf-8").splitlines():
        if "readme-test" in line:
            marker = MARKER.match(line.strip())
            assert marker and marker["kind"] in KINDS, line
            assert marker["kind"] != "skip" or (marker["reason"] or "").strip(), f"skip needs a reason: {line}"


def test_every_section_with_code_says_its_runtime():
    text = README.read_text(encoding="utf-8")
    sections = {b.section for b in BLOCKS if b.lang in RUNNABLE}
    for name in sections:
        body = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert "Runtime on 2 cores" in body.replace("\n", " "), f"section {name!r} does not say its runtime on 2 cores"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "GRADIO_ANALYTICS_ENABLED": "False",
           "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra or {})
    return env


def _run(block: Block, cwd: Path, env: dict[str, str]) -> None:
    if block.lang == "python":
        cmd = [sys.executable, "-c", block.code]
    else:
        cmd = ["bash", "-eo", "pipefail", "-c", block.code]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (f"README.md line {block.line} ({block.section}) failed with exit code "
                                  f"{proc.returncode}:\n{block.code}\n--- stdout ---\n{proc.stdout[-3000:]}\n"
                                  f"--- stderr ---\n{proc.stderr[-5000:]}")


@pytest.fixture(scope="session")
def clone(tmp_path_factory) -> Path:
    """A folder like a fresh clone after ``make demo``: examples/, demo_output/, and the files README blocks make."""
    if shutil.which("hf-select", path=_env()["PATH"]) is None:
        pytest.skip("the hf-select executable is not installed (pip install -e .)")
    root = tmp_path_factory.mktemp("clone")
    (root / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    demo = subprocess.run(["hf-select", "demo", "--selectors", "bm25", "random", "--output", "demo_output"],
                          cwd=root, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert demo.returncode == 0, demo.stderr[-3000:]
    for block in BLOCKS:
        if block.lang in RUNNABLE and block.makes_setup_files:
            _run(block, root, _env())
    return root


@pytest.fixture(scope="session")
def hub_env(tmp_path_factory):
    sys.path.insert(0, str(REPO / "tests" / "hub"))
    from hub_server import HubServer

    server = HubServer(tokens={HUB_TOKEN: (HUB_USER, "write")}).start()
    home = tmp_path_factory.mktemp("hf_home")
    try:
        yield {"HF_ENDPOINT": server.url, "HF_TOKEN": HUB_TOKEN, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
               "HF_UPDATE_DOWNLOAD_COUNTS": "false"}
    finally:
        server.stop()


def test_setup_blocks_made_their_files(clone):
    for name in SETUP_FILES:
        assert (clone / name).stat().st_size > 0, name


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name, marks=[pytest.mark.slow] if b.kind == "slow" else [])
                                   for b in RUN])
def test_readme_block_runs(block, clone, request):
    extra = request.getfixturevalue("hub_env") if block.kind == "hub" else None
    _run(block, clone, _env(extra))
