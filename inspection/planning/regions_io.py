"""Read scan regions from JSON: ``[{"id", "center": [x, y, z], "normal": [x, y, z], "radius_m": r}, ...]``,
each with an optional detector ``confidence`` (0-1, default 1: the region is pressed whatever the budget)
and an optional ``finder`` (whose confidence it is: ``detector``, the default, or ``spot``).

Part frame, metres. Every error names the file, the list index and the field.
"""
from __future__ import annotations

import math
from pathlib import Path

from inspection.errors import InputError
from inspection.records import ScanRegion
from inspection.json_codec import SchemaError, read_json_file

# No part in this cell is larger than this; coordinates beyond it were almost certainly millimetres.
MAX_COORDINATE_M = 20.0


def _vector(item: dict, key: str, where: str) -> tuple[float, float, float]:
    value = item.get(key)
    if not isinstance(value, list) or len(value) != 3 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise InputError(f"{where}.{key}: expected [x, y, z] numbers, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise InputError(f"{where}.{key}: {value} is not finite (NaN or infinity)")
    return (float(value[0]), float(value[1]), float(value[2]))


def read_regions(path: str | Path) -> list[ScanRegion]:
    path = Path(path)
    document = read_json_file(path)
    if not isinstance(document, list):
        raise InputError(f"{path}: expected a list of regions, got {type(document).__name__}")
    regions, seen = [], set()
    for index, item in enumerate(document):
        where = f"{path}: regions[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected an object with id, center, normal, radius_m")
        region_id = item.get("id")
        if not isinstance(region_id, (str, int)) or isinstance(region_id, bool) or str(region_id) == "":
            raise InputError(f"{where}.id: expected a non-empty string, got {region_id!r}")
        if str(region_id) in seen:
            raise InputError(f"{where}.id: duplicate id {region_id!r}")
        seen.add(str(region_id))
        center, normal = _vector(item, "center", where), _vector(item, "normal", where)
        if max(abs(v) for v in center) > MAX_COORDINATE_M:
            raise InputError(f"{where}.center: {list(center)} is over {MAX_COORDINATE_M:.0f} m from the part "
                             f"origin; were millimetres given? (metres expected)")
        radius = item.get("radius_m")
        if not isinstance(radius, (int, float)) or isinstance(radius, bool):
            raise InputError(f"{where}.radius_m: expected a number of metres, got {radius!r}")
        confidence = item.get("confidence", 1.0)
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
            raise InputError(f"{where}.confidence: expected a number from 0 to 1, got {confidence!r}")
        try:
            regions.append(ScanRegion(str(region_id), center, normal, float(radius),
                                      tuple(str(h) for h in item.get("hypothesis_ids", ())), float(confidence),
                                      str(item.get("finder", "detector"))))
        except SchemaError as exc:
            raise InputError(f"{where}.{exc}") from exc
    return regions
