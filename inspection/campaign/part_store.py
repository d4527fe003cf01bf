"""The campaign's per-part results: one JSON file per (part, ablation) in ``<OUT stem>_parts/``, each with
the key of the settings it was made with. Whatever runs the parts (this process, local worker processes,
Ray actors on other machines) stores them here in the same form, so resuming and ``--parts`` extension do
not depend on the executor."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from inspection.atomic import write_json_atomic
from inspection.errors import InputError
from inspection.json_codec import read_json_file


def part_file(parts_dir: Path, index: int, ablation: str) -> Path:
    return parts_dir / f"part_{index:04d}_{ablation}.json"


def save_record(parts_dir: Path, index: int, ablation: str, key: str, record: dict[str, Any]) -> Path:
    """Write one finished (part, ablation) atomically, so an interrupted campaign never leaves half a file."""
    return write_json_atomic(part_file(parts_dir, index, ablation), {"key": key, **record})


def finished(parts_dir: Path, index: int, ablation: str, key: str) -> dict[str, Any] | None:
    """The stored record of this part and ablation if it was made with the same settings."""
    path = part_file(parts_dir, index, ablation)
    if not path.is_file():
        return None
    try:
        record = read_json_file(path)
    except InputError:
        return None  # unreadable: run the part again and overwrite it
    return record if isinstance(record, dict) and record.get("key") == key and record.get("index") == index else None
