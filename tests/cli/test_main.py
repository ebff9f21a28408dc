import errno
import json

import pytest

from hf_select.cli.main import SUBCOMMANDS, describe, main, one_line


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_renders(command, capsys):
    # argparse formats help strings with %-interpolation: a stray "%" in a help text only fails here.
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: hf-select {command}")
    assert "--help" in out


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in out


def test_unknown_arguments_are_an_error_except_sft_overrides(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["select", "--dataset", "pool.jsonl", "--selector", "bm25", "--k", "2", "--output", "out", "--bogus", "1"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus 1" in capsys.readouterr().err


# -- one error boundary ------------------------------------------------------------------------------------------

BOOM_PLUGIN = '''
import numpy as np
import hf_select as hs

@hs.register_selector("boom")
class Boom(hs.Selector):
    def _score(self, dataset, target):
        raise RuntimeError("internal\\nfailure")
'''


@pytest.fixture()
def pool_file(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps({"text": f"row {i}"}) for i in range(10)) + "\n")
    return pool


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(run_cli, tmp_path, pool_file):
    (tmp_path / "boom_plugin.py").write_text(BOOM_PLUGIN)
    args = ["select", "--dataset", pool_file, "--selector", "boom", "--plugin", "boom_plugin", "--k", "2",
            "--output", tmp_path / "out"]
    out = run_cli(*args, env={"PYTHONPATH": f"{tmp_path}"})
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith("hf-select select: error: unexpected RuntimeError: internal failure")
    assert "--debug" in lines[0]
    for debug in (["--debug"], []):
        env = {"PYTHONPATH": f"{tmp_path}"} if debug else {"PYTHONPATH": f"{tmp_path}", "HF_SELECT_DEBUG": "1"}
        out = run_cli(*args, *debug, env=env)
        assert out.returncode == 1 and "Traceback (most recent call last)" in out.stderr
    assert not (tmp_path / "out").exists()


def test_sigterm_removes_the_temporary_output(tmp_path):
    # issue 14: SIGTERM of `make demo` left a `.hf_select-out-*` folder behind. The probe's case runs the real
    # executable, replacing an earlier output, and sends SIGTERM while the new one is half written.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "reliability"))
    try:
        from cases import EARLIER_FILES, make_template, sigterm_during_write
        from probe import snapshot
    finally:
        sys.path.pop(0)
    folder = make_template(tmp_path / "case")
    before = snapshot(folder, EARLIER_FILES)
    outcome = sigterm_during_write(folder, None)
    assert (folder / "writing").exists()  # the signal came while the new output was being written
    assert outcome.code == 143
    assert "terminated" in outcome.err and "Traceback" not in outcome.err
    assert snapshot(folder, EARLIER_FILES) == before  # the earlier output is whole
    assert not [p for p in folder.rglob(".*hf_select-*")]  # no temporary folder left


@pytest.mark.parametrize("err, code, text", [
    (ValueError("k=9\nis too large"), 2, "k=9 is too large"),
    (FileNotFoundError("no file at 'x'"), 2, "no file"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 1, "check the permissions"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "free some space"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "plan_out"), 2, "it is a folder; give a file path"),
    (MemoryError(), 1, "out of memory"),
    (RuntimeError("x" * 2000), 1, "unexpected RuntimeError"),
])
def test_describe_turns_every_exception_into_one_line(err, code, text):
    message, exit_code = describe(err)
    assert exit_code == code and text in message and "\n" not in message and len(message) < 800


def test_one_line_keeps_key_error_text():
    assert one_line(KeyError("column 'x' missing")) == "column 'x' missing"


def test_malformed_yaml_config_is_a_usage_error():
    import yaml

    try:
        yaml.safe_load("a: [unclosed\n")
    except yaml.YAMLError as err:
        message, code = describe(err)
    assert code == 2 and message.startswith("malformed YAML") and "line" in message
