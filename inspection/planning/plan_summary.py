"""What the coordinator needs from a plan message (inspection/plan/json), read defensively: a message
that is not valid JSON, lacks a field or carries a wrong type is an InputError naming the topic and
the field, so the run ends in a partial report instead of a crashed coordinator.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from inspection.errors import InputError
from inspection.json_codec import stamp_ns

# A press whose sensor origin lies within this, plus its depth, of a planned press is that planned press.
REGION_MATCH_M = 0.005


@dataclass(frozen=True)
class PlanSummary:
    presses: int
    cycle_time_s: float
    full_coverage_presses: int | None
    unreachable: tuple[tuple[str, str], ...]  # (region, reason)
    refused: str  # why the safety check refused the plan; empty when it did not
    press_regions: tuple[str, ...] = ()  # the region of each planned press, in order
    press_positions: tuple[tuple[float, float, float], ...] = ()  # each planned press's contact point (part frame, m)


def read_plan_summary(text: str, where: str = "inspection/plan/json") -> PlanSummary:
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(plan, dict):
        raise InputError(f"{where}: expected an object, got {type(plan).__name__}")
    presses, cycle, full = plan.get("presses"), plan.get("cycle_time_s"), plan.get("full_coverage_presses")
    if not isinstance(presses, list):
        raise InputError(f"{where}.presses: expected a list, got {presses!r:.80}")
    regions = [p.get("region", "") if isinstance(p, dict) else None for p in presses]
    if not all(isinstance(r, str) for r in regions):
        raise InputError(f"{where}.presses: expected objects with a 'region' string")
    if isinstance(cycle, bool) or not isinstance(cycle, (int, float)) or not math.isfinite(cycle) or cycle < 0:
        raise InputError(f"{where}.cycle_time_s: expected a finite number of seconds >= 0, got {cycle!r:.80}")
    if full is not None and (isinstance(full, bool) or not isinstance(full, int)):
        raise InputError(f"{where}.full_coverage_presses: expected an integer or null, got {full!r:.80}")
    unreachable = plan.get("unreachable", [])
    if not isinstance(unreachable, list) or not all(
            isinstance(u, dict) and isinstance(u.get("region"), str) and isinstance(u.get("reason"), str)
            for u in unreachable):
        raise InputError(f"{where}.unreachable: expected a list of {{'region', 'reason'}} strings")
    refused = plan.get("refused", "")
    if not isinstance(refused, str):
        raise InputError(f"{where}.refused: expected a string, got {refused!r:.80}")
    return PlanSummary(len(presses), float(cycle), full, tuple((u["region"], u["reason"]) for u in unreachable),
                       refused, tuple(regions), _press_positions(presses, where))


def message_stamp_ns(text: str, key: str = "stamp") -> int | None:
    """The stamp (``{"sec", "nanosec"}``) under ``key`` of a JSON message, in ns; None when it names none (or
    is unreadable: read_plan_summary or read_side_channel says why when the message is used)."""
    try:
        return stamp_ns(json.loads(text).get(key))
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


def trajectory_stamp_ns(text: str) -> int | None:
    """The header stamp (ns) of the trajectory published with this plan; None when the plan names none."""
    return message_stamp_ns(text, "trajectory_stamp")


def regions_stamp_ns(text: str) -> int | None:
    """The stamp (ns) of the scan regions this plan was made from; None when the plan names none."""
    return message_stamp_ns(text, "regions_stamp")


def _press_positions(presses: list, where: str) -> tuple[tuple[float, float, float], ...]:
    """Every press's position, or none when the plan gives none (a plan that names regions only)."""
    if not any("position" in p for p in presses):
        return ()
    positions = []
    for index, press in enumerate(presses):
        position = press.get("position")
        if not (isinstance(position, list) and len(position) == 3
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in position)):
            raise InputError(f"{where}.presses[{index}].position: expected 3 finite numbers (m), got {position!r:.80}")
        positions.append((float(position[0]), float(position[1]), float(position[2])))
    return tuple(positions)


def planned_region(contact_m: Sequence[float], depth_m: float, press_positions: Sequence[Sequence[float]],
                   press_regions: Sequence[str]) -> str:
    """The region of the planned press a press was made at, or "" when it was made at none of them.

    Why by place and not by order: the press records of a cell carry the sensor's pose, not which planned
    press the arm was executing, and a press that was skipped or repeated would shift every later one."""
    if not press_positions:
        return ""
    distances = np.linalg.norm(np.asarray(press_positions, float) - np.asarray(contact_m, float), axis=1)
    nearest = int(np.argmin(distances))
    return press_regions[nearest] if distances[nearest] < REGION_MATCH_M + depth_m else ""


NO_FINDING = "gave no tactile finding"


def regions_without_findings(press_regions: Iterable[str], finding_regions: Iterable[str],
                             outcome: str = NO_FINDING) -> list[str]:
    """One line per planned region that got fewer tactile findings than presses: what was not inspected;
    ``outcome`` says why (NO_FINDING, or that the inspection was stopped before they were reported)."""
    planned, found = Counter(press_regions), Counter(finding_regions)
    return [f"region {region}: {count - found[region]} of {count} presses {outcome}"
            for region, count in planned.items() if found[region] < count]
