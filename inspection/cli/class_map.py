"""The ``--map OLD=NEW,OLD=NEW`` option that renames a dataset's classes, shared by the vision verbs."""
from __future__ import annotations

from inspection.errors import InputError


def parse_class_map(text: str, option: str = "--map") -> dict[str, str]:
    """``"paint-off=paint_loss, missing-head=missing_fastener"`` -> a dict; '' -> {} (no renaming).

    ``OLD=`` with nothing after it leaves that class's boxes out (each is listed as skipped): how a model
    that lacks a class is scored class-aware on data that has it."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        old, sep, new = item.partition("=")
        if not sep or not old.strip():
            raise InputError(f"{option} {item!r}: expected OLD=NEW")
        if old.strip() in mapping:
            raise InputError(f"{option} {item!r}: {old.strip()!r} is renamed twice")
        mapping[old.strip()] = new.strip()
    return mapping
