"""Append-only run journal: every measurement is on disk as soon as it arrives.

One JSON object per line, flushed and fsynced per record, so a crash, a killed node or a power cut
loses at most the record being written; a torn last line is skipped on reading. The coordinator
rebuilds what it had measured from the journal and always ends with a report.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from inspection.json_codec import to_jsonable


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def append(self, event: str, **data: Any) -> None:
        record = {"t": time.time(), "event": event, **to_jsonable(data)}
        self._handle.write(json.dumps(record, allow_nan=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_journal(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records in order; a line cut short by a crash is skipped, never fatal."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "event" in record:
                yield record
