import pytest

from hf_select.cli.main import SUBCOMMANDS, main


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
import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from hf_select.cli.main import describe, one_line  # noqa: E402

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


def test_sigterm_removes_the_temporary_output(run_cli, tmp_path, pool_file):
    # issue 14: SIGTERM of `make demo` left a `.hf_select-out-*` folder behind
    started = tmp_path / "writing"
    (tmp_path / "slow_plugin.py").write_text(f'''
import time
import hf_select.cli.select as cli_select
_write = cli_select.write_outputs
def slow(res, folder, **kwargs):
    _write(res, folder, **kwargs)
    open({str(started)!r}, "w").close()
    time.sleep(120)
cli_select.write_outputs = slow
''')
    from tests.cli.conftest import cli_env, hf_select_executable

    proc = subprocess.Popen([*hf_select_executable(), "select", "--dataset", str(pool_file), "--selector", "length",
                             "--k", "2", "--plugin", "slow_plugin", "--output", str(tmp_path / "out")],
                            env=cli_env(PYTHONPATH=str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), proc.communicate(timeout=10)
        assert [p for p in os.listdir(tmp_path) if p.startswith(".out")]  # the temporary output exists now
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143 and "terminated" in err
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


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
