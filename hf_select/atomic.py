"""Atomic files and folders: the one place hf_select writes outputs, caches and converted models.

Rules (shared/DESIGN.md section 5):

- hf_select never deletes or overwrites what it did not write. Every folder written by :func:`atomic_dir` holds a
  marker file (:data:`MARKER`); an existing folder is replaced only when it holds that marker and ``overwrite=True``.
  A non-empty folder without the marker, a file where a folder should go, or the current working directory (or a
  folder that contains it) is refused with :class:`OutputExistsError`, before any work is done
  (:func:`check_output_dir`).
- Replacing is a swap: the new folder is written beside the target, the old one is renamed aside, the new one renamed
  in, then the old one removed, so a complete output exists at every instant (the new one, or the old one under its
  aside name while the swap runs). On any failure (``KeyboardInterrupt`` and ``OSError`` included) the temporary
  folder is removed and the old output is put back.
- Temporary names carry the writer's PID; a later writer of the same target removes temporaries left by writers that
  no longer run (a ``kill -9``), and nothing else.

Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> with atomic_dir(os.path.join(root, "out")) as tmp:
    ...     _ = open(os.path.join(tmp, "a.txt"), "w").write("hello")
    >>> sorted(os.listdir(os.path.join(root, "out")))
    ['.hf_select', 'a.txt']
    >>> with atomic_file(os.path.join(root, "b.json")) as tmp:
    ...     _ = open(tmp, "w").write("{}")
    >>> open(os.path.join(root, "b.json")).read()
    '{}'
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

MARKER = ".hf_select"
"""File written into every folder hf_select creates; its presence is what makes a folder replaceable."""

_TMP_TAG = ".hf_select-tmp-"
_OLD_TAG = ".hf_select-old-"


class OutputExistsError(FileExistsError):
    """An output path holds something hf_select may not replace; the message names the path and the fix."""


def is_hf_select_output(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder written by :func:`atomic_dir` (it holds :data:`MARKER`)."""
    return os.path.isfile(os.path.join(os.fspath(path), MARKER))


def _contains_cwd(path: str) -> bool:
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:  # the working directory was removed
        return False
    real = os.path.realpath(path)
    return cwd == real or cwd.startswith(real.rstrip(os.sep) + os.sep)


def check_output_dir(path: str | os.PathLike, *, overwrite: bool = False, argument: str = "output",
                     overwrite_flag: str = "overwrite=True") -> str:
    """Refuse (before any work) an output folder that hf_select may not write; returns the absolute path.

    Allowed: a path that does not exist, an empty folder, or an earlier hf_select output when ``overwrite`` is set.
    ``argument`` and ``overwrite_flag`` name the option and the switch in the message (``--output`` /
    ``--overwrite`` for the CLI).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputExistsError(f"{argument} {path!r} exists and is not a folder; choose a new folder name.")
    if _contains_cwd(path):
        raise OutputExistsError(f"{argument} {path!r} is the current working directory (or contains it); "
                                "choose a new folder, e.g. ./hf_select_output.")
    if os.path.isdir(path):
        try:
            entries = os.listdir(path)
        except OSError as err:
            raise OutputExistsError(f"{argument} {path!r} cannot be read ({err.strerror}); choose another folder.") \
                from None
        if entries and MARKER not in entries:
            raise OutputExistsError(
                f"{argument} {path!r} is a non-empty folder that hf_select did not write ({len(entries)} entries); "
                "hf_select never replaces it. Choose a new or empty folder.")
        if entries and not overwrite:
            raise OutputExistsError(f"{argument} {path!r} holds an earlier hf_select output; pass {overwrite_flag} "
                                    "to replace it, or choose a new folder.")
    parent = os.path.dirname(path)
    if os.path.exists(parent) and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputExistsError(f"{argument} {path!r}: the folder {parent!r} is not writable; choose another place.")
    return path


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tmp_prefix(target: str, tag: str) -> str:
    return f".{os.path.basename(target)}{tag}"


def remove_stale_temporaries(target: str | os.PathLike) -> list[str]:
    """Remove temporaries of ``target`` left by writers that no longer run; returns what was removed."""
    target = os.path.abspath(os.fspath(target))
    parent = os.path.dirname(target)
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for tag in (_TMP_TAG, _OLD_TAG):
        prefix = _tmp_prefix(target, tag)
        for name in names:
            if not name.startswith(prefix):
                continue
            pid_text = name[len(prefix):].split("-", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            full = os.path.join(parent, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                try:
                    os.unlink(full)
                except OSError:
                    continue
            removed.append(full)
    return removed


def disk_full_message(err: OSError, path: str) -> str:
    """One line for a full disk (``ENOSPC`` / ``EDQUOT``), naming the place and the fix."""
    return (f"no space left on the device while writing {path!r} ({err.strerror}); nothing was written there. "
            "Free some space or write elsewhere.")


def _reraise_disk_full(err: OSError, path: str) -> None:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        raise OSError(err.errno, disk_full_message(err, path)) from err


def _write_marker(folder: str, kind: str) -> None:
    from . import __version__

    with open(os.path.join(folder, MARKER), "w", encoding="utf-8") as f:
        json.dump({"kind": kind, "hf_select": __version__, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}, f)
        f.write("\n")


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False, kind: str = "output",
               argument: str = "output", overwrite_flag: str = "overwrite=True") -> Iterator[str]:
    """Yield a temporary folder; on success it becomes ``path`` (with :data:`MARKER`), by a swap when replacing.

    ``path`` is checked with :func:`check_output_dir` on entry and again just before the swap. ``kind`` is recorded
    in the marker (``"selection"``, ``"cli-select"``, ``"score-cache"``, ...).
    """
    path = check_output_dir(path, overwrite=overwrite, argument=argument, overwrite_flag=overwrite_flag)
    parent = _prepare_parent(path)
    tmp = tempfile.mkdtemp(prefix=f"{_tmp_prefix(path, _TMP_TAG)}{os.getpid()}-", dir=parent)
    old = None
    try:
        yield tmp
        _write_marker(tmp, kind)
        check_output_dir(path, overwrite=overwrite, argument=argument, overwrite_flag=overwrite_flag)
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=f"{_tmp_prefix(path, _OLD_TAG)}{os.getpid()}-", dir=parent)
            os.rename(path, old)  # onto the empty folder just made: atomic on POSIX
        os.rename(tmp, path)
        tmp = None
    except OSError as err:
        _restore(path, old)
        old = None
        _reraise_disk_full(err, path)
        raise
    except BaseException:
        _restore(path, old)
        old = None
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _prepare_parent(path: str) -> str:
    """Create ``path``'s folder (a full disk named as such) and sweep stale temporaries of ``path``; return it."""
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        _reraise_disk_full(err, path)
        raise
    remove_stale_temporaries(path)
    return parent


def _restore(path: str, old: str | None) -> None:
    if old is not None and os.path.isdir(old) and not os.path.exists(path):
        os.rename(old, path)


@contextmanager
def atomic_file(path: str | os.PathLike, *, overwrite: bool = True, argument: str = "output",
                overwrite_flag: str = "overwrite=True") -> Iterator[str]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path`` in one ``os.replace``.

    With ``overwrite=False`` an existing ``path`` is refused (before the block runs). A folder at ``path`` is always
    refused. On failure the temporary file is removed and ``path`` is untouched.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise OutputExistsError(f"{argument} {path!r} is a folder; give a file name.")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{argument} {path!r} exists; pass {overwrite_flag} to replace it, or choose "
                                "another name.")
    parent = _prepare_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(path, _TMP_TAG)}{os.getpid()}-", dir=parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        _reraise_disk_full(err, path)
        raise
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
