"""hf_select.atomic: never replace what hf_select did not write; swaps leave a complete output at every instant."""

import errno
import os
import subprocess
import sys

import pytest

from hf_select.atomic import (
    MARKER,
    OutputExistsError,
    atomic_dir,
    atomic_file,
    check_output_dir,
    is_hf_select_output,
    remove_stale_temporaries,
)


def _write(folder, name, text):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def _siblings(path):
    return sorted(os.listdir(os.path.dirname(path)))


def test_new_folder_gets_marker(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out, kind="test") as tmp:
        _write(tmp, "a.txt", "1")
    assert is_hf_select_output(out)
    assert sorted(os.listdir(out)) == [MARKER, "a.txt"]
    assert _siblings(str(out)) == ["out"]


def test_foreign_folder_is_refused_and_untouched(tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    _write(out, "train.py", "print(1)")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="did not write"):
            with atomic_dir(out, overwrite=overwrite):
                raise AssertionError("the block must not run")
    assert os.listdir(out) == ["train.py"]
    assert _siblings(str(out)) == ["project"]


def test_earlier_output_needs_overwrite_then_is_swapped(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        _write(tmp, "old.txt", "old")
    with pytest.raises(OutputExistsError, match="overwrite"):
        check_output_dir(out)
    with atomic_dir(out, overwrite=True) as tmp:
        _write(tmp, "new.txt", "new")
    assert sorted(os.listdir(out)) == [MARKER, "new.txt"]
    assert _siblings(str(out)) == ["out"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), OSError(errno.EIO, "io")])
def test_failure_keeps_old_output_and_cleans_up(tmp_path, exc):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        _write(tmp, "old.txt", "old")
    with pytest.raises(type(exc)):
        with atomic_dir(out, overwrite=True) as tmp:
            _write(tmp, "half.txt", "x")
            raise exc
    assert sorted(os.listdir(out)) == [MARKER, "old.txt"]
    assert _siblings(str(out)) == ["out"]


def test_failed_swap_puts_old_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        _write(tmp, "old.txt", "old")
    real_rename = os.rename
    calls = []

    def flaky_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old -> aside worked; new -> in fails
            raise OSError(errno.EIO, "simulated")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky_rename)
    with pytest.raises(OSError, match="simulated"):
        with atomic_dir(out, overwrite=True) as tmp:
            _write(tmp, "new.txt", "new")
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == [MARKER, "old.txt"]
    assert _siblings(str(out)) == ["out"]


def test_full_disk_is_one_clear_line(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OSError, match="no space left") as info:
        with atomic_dir(out):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert not out.exists() and _siblings(str(out)) == []


def test_cwd_and_file_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError, match="working directory"):
        check_output_dir(".")
    with pytest.raises(OutputExistsError, match="working directory"):
        check_output_dir(tmp_path.parent)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        check_output_dir(tmp_path / "f")


def test_atomic_file(tmp_path):
    path = tmp_path / "a.json"
    with atomic_file(path) as tmp:
        _write(os.path.dirname(tmp), os.path.basename(tmp), "1")
    assert path.read_text() == "1"
    with pytest.raises(OutputExistsError, match="exists"):
        with atomic_file(path, overwrite=False):
            pass
    with pytest.raises(ValueError):
        with atomic_file(path) as tmp:
            _write(os.path.dirname(tmp), os.path.basename(tmp), "2")
            raise ValueError("no")
    assert path.read_text() == "1"
    assert _siblings(str(path)) == ["a.json"]
    with pytest.raises(OutputExistsError, match="is a folder"):
        with atomic_file(tmp_path):
            pass


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.hf_select-tmp-{pid}-abc"
    stale.mkdir()
    live = tmp_path / f".out.hf_select-tmp-{os.getpid()}-abc"
    live.mkdir()
    foreign = tmp_path / ".out.other-123"
    foreign.mkdir()
    assert remove_stale_temporaries(out) == [str(stale)]
    assert live.exists() and foreign.exists() and not stale.exists()
