"""Class renaming written as ``OLD=NEW,OLD=NEW``: the CLI's ``--map`` and ``vision_node.class_map``.

One parser for both uses: a dataset's classes are renamed as they are read (``OLD=`` with nothing
after it leaves that class's boxes out, each listed as skipped: how a model that lacks a class is
scored class-aware), and a detector's classes are renamed to ours (each of theirs must become one of
ours, so nothing may be left out).
"""
from __future__ import annotations

from inspection.errors import InputError


def parse_class_map(text: str, option: str = "--map", leave_out: bool = True) -> dict[str, str]:
    """``"paint-off=paint_loss, missing-head=missing_fastener"`` -> a dict; '' -> {} (no renaming).

    Raises:
        InputError: naming ``option`` and the item, for an item without '=' or without an old name
            (or without a new one when ``leave_out`` is False), or a name renamed twice.
    """
    form = "OLD=NEW" if leave_out else "THEIRS=OURS, e.g. scratches=scratch"
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        old, sep, new = (side.strip() for side in item.partition("="))
        if not sep or not old or not (new or leave_out):
            raise InputError(f"{option} {item!r}: expected {form}")
        if old in mapping:
            raise InputError(f"{option} {item!r}: {old!r} is renamed twice")
        mapping[old] = new
    return mapping
