"""Output paths, checked before any work starts, and run folders that never reuse what exists.

A command that would write to a folder, to a path under a file, or where it may not write says so in
one line naming the option and the path, before it loads a model or reads a dataset, not as an
internal error after an hour of work. The check writes nothing: the folders are created by the
writer, and the write probe is an unnamed temporary file in the nearest existing folder.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from inspection.errors import InputError


def _exists(path: Path, option: str) -> bool:
    try:
        if path.is_symlink() and not path.exists():
            raise InputError(f"{option} {path}: a link to nothing (its target is missing, or it loops)")
        return path.exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        reason = getattr(exc, "strerror", None) or exc
        raise InputError(f"{option} {str(path)[:200]!r}: not a usable path ({reason})") from None


def _check_writable_below(folder: Path, option: str, target: Path) -> None:
    """``target`` can be created under ``folder``: its nearest existing ancestor is a folder we may write in."""
    ancestor = folder
    while not _exists(ancestor, option) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{option} {target}: {ancestor} is a file, so nothing can be created under it")
    try:
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError as exc:
        raise InputError(f"{option} {target}: cannot write in {ancestor} ({exc.strerror or exc})") from None


def check_output_file(path: str | Path, option: str) -> Path:
    """``path`` as a file this command may write (replacing a file there, as its writer will)."""
    path = Path(path).expanduser()
    if _exists(path, option) and path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file name")
    _check_writable_below(path.parent if str(path.parent) else Path("."), option, path)
    return path


def check_output_folder(path: str | Path, option: str, must_be_empty: bool = False) -> Path:
    """``path`` as a folder this command may create or write in; ``must_be_empty`` refuses one with files."""
    path = Path(path).expanduser()
    if _exists(path, option):
        if not path.is_dir():
            raise InputError(f"{option} {path}: is a file, not a folder")
        if must_be_empty and any(path.iterdir()):
            raise InputError(f"{option} {path}: output folder exists and is not empty")
    _check_writable_below(path, option, path)
    return path


def new_run_folder(parent: Path, prefix: str, now: float | None = None) -> Path:
    """A folder ``parent/<prefix>_<UTC time>`` created now and by this call only (``_2``, ``_3``... when
    another run took the name first), so a run never writes into, or over, an earlier one's files.
    ``now``: the time to name it by (seconds since the epoch; default the system clock).

    Raises:
        OSError: the folder cannot be created (not writable, a file in the way).
    """
    parent.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"
    for count in range(1, 1000):
        folder = parent / (stem if count == 1 else f"{stem}_{count}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise InputError(f"{parent}: no free run folder name for {stem}")
