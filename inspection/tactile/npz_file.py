"""Reading the tactile side's versioned ``.npz`` files (calibration, good-press reference) the same way:
no pickles, the format version checked first, and every failure one line naming the file and saying
which command makes a good one."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np

from inspection.errors import InputError


@contextlib.contextmanager
def open_versioned_npz(path: Path, what: str, made_by: str, version: int) -> Iterator[np.lib.npyio.NpzFile]:
    """The open archive, after checking it exists and holds ``version``; a missing array, a bad value
    or a broken file inside the block becomes InputError("PATH: not a tactile WHAT file (...)")."""
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found (make one with `{made_by}`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            found = int(data["version"])
            if found != version:
                raise InputError(f"{path}: {what} format {found}, expected {version}")
            yield data
    except InputError:
        raise  # already one line naming the file
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a tactile {what} file ({exc})") from exc
