"""One progress bar for every long loop: drawn on a terminal, silent in a log.

A tqdm bar redraws its line with carriage returns several times a second. On a terminal that is one
line that moves; in a log file, a CI transcript or a pipe it is hundreds of `\\r` updates glued into
one unreadable line. So a bar is drawn only when its stream (stderr by default) is a terminal; what a
command has to say for the record (counts, figures, file names) it prints as ordinary lines anyway.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def is_terminal(stream: IO[str]) -> bool:
    """Whether `stream` is an open terminal (a closed or replaced stream counts as not one)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty(), or the stream is closed
        return False


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool = True, file: IO[str] | None = None,
                 **options: Any) -> tqdm[T]:
    """A tqdm bar on `file` (default: stderr, looked up now, not at import) that draws only on a terminal.

    `enabled=False` silences it on a terminal too (callers that run quietly, such as campaign workers).
    Every other keyword goes to tqdm as is; a silenced bar still counts nothing and costs nothing.
    """
    stream = sys.stderr if file is None else file
    return tqdm(iterable, file=stream, disable=not (enabled and is_terminal(stream)), **options)
