"""Acceptance of tactile findings against limits per zone (config/acceptance.yaml), in millimetres.

Each verdict names the rule that decided it, e.g. ``zone default: dent depth 0.31 mm > max_depth_mm 0.25``,
so a quality engineer can trace every rejection to a line of the limits file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inspection import paths
from inspection.errors import InputError
from inspection.records import GEOMETRIC_CLASSES, TactileFinding, Verdict
from inspection.yaml_safe import safe_load

# Limit name -> the TactileFinding field it bounds (a bump's "depth" is its height).
LIMIT_FIELDS = {"max_depth_mm": "depth_mm", "max_height_mm": "depth_mm", "max_width_mm": "width_mm",
                "max_length_mm": "length_mm"}


@dataclass(frozen=True)
class AcceptanceRules:
    reject_classes: tuple[str, ...]
    zones: dict[str, dict[str, dict[str, float]]]
    source: str = ""

    @staticmethod
    def from_dict(data: Any, source: str = "acceptance") -> "AcceptanceRules":
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a mapping at the top level")
        unknown = set(data) - {"schema_version", "reject_classes", "zones"}
        if unknown:
            raise InputError(f"{source}: unknown keys {sorted(unknown)}; valid: schema_version, reject_classes, zones")
        reject = tuple(data.get("reject_classes") or ())
        for name in reject:
            if name not in GEOMETRIC_CLASSES:
                raise InputError(f"{source}: reject_classes: {name!r} is not one of {list(GEOMETRIC_CLASSES)}")
        zones = data.get("zones") or {}
        if not isinstance(zones, dict) or "default" not in zones:
            raise InputError(f"{source}: zones: need a mapping with a 'default' zone")
        checked: dict[str, dict[str, dict[str, float]]] = {}
        for zone, classes in zones.items():
            checked[zone] = {}
            for class_name, limits in (classes or {}).items():
                where = f"{source}: zones.{zone}.{class_name}"
                if class_name not in GEOMETRIC_CLASSES:
                    raise InputError(f"{where}: {class_name!r} is not one of {list(GEOMETRIC_CLASSES)}")
                if not isinstance(limits, dict):
                    raise InputError(f"{where}: expected a mapping of limits")
                for key, value in limits.items():
                    if key not in LIMIT_FIELDS:
                        raise InputError(f"{where}.{key}: unknown limit; valid: {sorted(LIMIT_FIELDS)}")
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                        raise InputError(f"{where}.{key}: expected a non-negative number of mm, got {value!r}")
                checked[zone][class_name] = {k: float(v) for k, v in limits.items()}
        return AcceptanceRules(reject, checked, source)

    @staticmethod
    def load(path: str | Path | None = None) -> "AcceptanceRules":
        path = Path(path) if path else paths.config_file("acceptance.yaml")
        try:
            data = safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot read acceptance limits ({exc})") from exc
        return AcceptanceRules.from_dict(data, str(path))

    def judge(self, finding: TactileFinding, zone: str = "default") -> Verdict:
        """Accept or reject one finding; the verdict's rule says which limit decided."""
        if zone not in self.zones:
            raise InputError(f"zone: {zone!r} is not one of {sorted(self.zones)} in {self.source}")
        if not finding.is_defect:
            return Verdict(accepted=True, rule="no defect felt")
        if finding.class_name in self.reject_classes:
            return Verdict(accepted=False, rule=f"reject_classes: any {finding.class_name} is rejected")
        limits = self.zones[zone].get(finding.class_name, {})
        for key, limit in limits.items():
            value = getattr(finding, LIMIT_FIELDS[key])
            if value > limit:
                quantity = LIMIT_FIELDS[key].removesuffix("_mm")
                return Verdict(accepted=False, rule=f"zone {zone}: {finding.class_name} {quantity} "
                                                    f"{value:.3f} mm > {key} {limit:g}")
        return Verdict(accepted=True, rule=f"zone {zone}: {finding.class_name} within limits")
