"""``hf-select push``: from the folder of ``hf-select select`` to the Hub and back; the token is never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TOKEN = "hf_loopback_write_0123456789"


@pytest.fixture
def selected(tmp_path):
    from hf_select.cli.main import main

    pool = tmp_path / "pool.jsonl"
    with open(pool, "w") as f:
        for i in range(30):
            f.write(json.dumps({"prompt": f"question {i} on {'cats' if i % 3 == 0 else 'tax law'}",
                                "completion": f"answer {i}"}) + "\n")
    (tmp_path / "target.jsonl").write_text(json.dumps({"text": "cats purr"}) + "\n")
    out = tmp_path / "out"
    assert main(["select", "--dataset", str(pool), "--target", str(tmp_path / "target.jsonl"), "--selector", "bm25",
                 "--k", "6", "--output", str(out)]) == 0
    return out, pool


def test_push_select_output_then_load(hub, repo_name, selected, capsys, monkeypatch):
    from hf_select.cli.main import main
    from hf_select.hub import load_selection
    from hf_select.selection import SelectionResult

    out, pool = selected
    repo_id = repo_name("cli")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["push", "--selection", str(out), "--repo-id", repo_id]) == 0
    printed = capsys.readouterr()
    assert repo_id in printed.out and "2 commit(s)" in printed.out
    assert TOKEN not in printed.out + printed.err
    rows, sel = load_selection(repo_id)
    saved = SelectionResult.load(out / "selection")
    assert rows.to_dict() == saved.to_dataset(str(pool)).to_dict() and sel.k == 6
    assert main(["push", "--selection", str(out), "--repo-id", repo_id]) == 0
    assert "no commit" in capsys.readouterr().out
    assert main(["push", "--selection", str(out / "selection"), "--repo-id", repo_id, "--mode", "indices",
                 "--no-plot", "--license", "mit"]) == 0
    assert "hf_select/cost.png" not in hub.files(repo_id)
    assert load_selection(repo_id, dataset=str(pool))[0].to_dict() == rows.to_dict()


def test_push_errors_are_one_line_and_hide_the_token(hub, repo_name, selected, capsys):
    from hf_select.cli.main import main

    out, _ = selected
    assert main(["push", "--selection", str(out), "--repo-id", "bad repo id", "--token", TOKEN]) == 2
    assert "not a valid Hub repo id" in capsys.readouterr().err
    assert main(["push", "--selection", str(out), "--repo-id", repo_name("cli-err")]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err
    assert main(["push", "--selection", str(out), "--repo-id", repo_name("cli-err"), "--token", "hf_secret_nope"]) == 1
    err = capsys.readouterr().err
    assert "rejected the token" in err and "hf_secret_nope" not in err and "Traceback" not in err
    assert main(["push", "--selection", str(out / "selection"), "--repo-id", repo_name("cli-err"),
                 "--token", TOKEN]) == 2
    assert "--dataset <pool>" in capsys.readouterr().err


def test_console_script_in_a_subprocess(hub, repo_name, selected, tmp_path):
    out, _ = selected
    repo_id = repo_name("cli-proc")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "home"), HF_HUB_DISABLE_XET="1",
               HF_UPDATE_DOWNLOAD_COUNTS="false")
    proc = subprocess.run([sys.executable, "-m", "hf_select.cli.main", "push", "--selection", str(out), "--repo-id",
                           repo_id], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert "selection.json" in hub.files(repo_id)


@pytest.mark.slow
def test_embedded_pool_demo_push_and_load(hub, repo_name, tmp_path, monkeypatch, capsys):
    """Acceptance: `hf-select demo` selection -> `hf-select push` -> load_dataset / load_selection, both modes."""
    import datasets

    from hf_select.cli.main import main
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.hub import load_selection
    from hf_select.selection import SelectionResult

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = tmp_path / "demo"
    assert main(["demo", "--selectors", "bm25", "--fraction", "0.01", "--max-rows", "0", "--output", str(out)]) == 0
    saved = SelectionResult.load(out / "bm25" / "selection")
    expected = saved.to_dataset(load_builtin_pool()).to_dict()
    repo_id = repo_name("embedded")
    assert main(["push", "--selection", str(out / "bm25"), "--repo-id", repo_id, "--license", "other",
                 "--license-name", "package-licences", "--license-link", "LICENSE.md"]) == 0
    assert datasets.load_dataset(repo_id, split="train").to_dict() == expected
    assert load_selection(repo_id)[0].to_dict() == expected
    assert main(["push", "--selection", str(out / "bm25"), "--repo-id", repo_id, "--mode", "indices"]) == 0
    rows, sel = load_selection(repo_id)  # rebuilt from this machine's embedded pool, content-checked
    assert rows.to_dict() == expected and sel.provenance["hub"]["mode"] == "indices"
    assert "embedded pool" in hub.files(repo_id)["README.md"].decode()
