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
