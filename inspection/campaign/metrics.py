"""Campaign figures from the per-part records of one ablation: pooled over parts (every true defect and
every report counts once), per class and per defect size.

Recall counts every true defect on the part, those the camera cannot see included; Stage I recall on
camera-visible defects and on camera-resolvable ones (large and contrasted enough above the sensor noise
for the cell's optics, ``inspection.sim.render``) is given apart. False findings per 1000 presses count
the final reports that touch made (touch only, or a vision hypothesis it confirmed) and that match no true
defect: on defect-free parts (``--defect-free``) what touch adds that is wrong.
Matching is the report's (class-agnostic, ``fusion.scoring``):
a class's recall is the share of its true defects that some report found, a class's precision the
share of reports of that class that matched a true defect. A defect's size is its longest extent: the
true one for recall, the reported one for precision. Per-part figures (presses, cycle time, wall time)
are means over the parts.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Callable

from inspection.fusion.fuse import FusionConfig
from inspection.records import DEFECT_CLASSES, OPTICAL_CLASSES

# Classes whose true depth touch cannot measure: optical ones have none, and the gel bridges a fastener
# hole (its reported depth is only how far the gel sags), so they stay out of the depth error.
DEPTH_NOT_FELT = OPTICAL_CLASSES + ("missing_fastener",)

# Longest extent (mm) of the size buckets: pits, small dents and bumps, larger ones, long scratches and stains.
SIZE_BUCKETS_MM: tuple[tuple[str, float, float], ...] = (
    ("<2 mm", 0.0, 2.0), ("2-5 mm", 2.0, 5.0), ("5-10 mm", 5.0, 10.0), ("10-20 mm", 10.0, 20.0),
    (">=20 mm", 20.0, math.inf))
STAGES = ("stage1", "final")
# Fusion reports an untouched hypothesis from here up (rules R1 and R4): weaker ones only direct touch.
REPORT_CONFIDENCE = min(FusionConfig().unconfirmed_min_confidence, FusionConfig().optical_min_confidence)
LOSSES = ("never_flagged", "flagged_weak", "flagged_reportable")


def size_bucket(size_mm: float) -> str:
    return next(name for name, low, high in SIZE_BUCKETS_MM if low <= size_mm < high)


def _ratio(numerator: float, denominator: float, digits: int = 4) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def _mean(values: list[float], digits: int = 3) -> float | None:
    return round(statistics.fmean(values), digits) if values else None


def _rates(records: list[dict[str, Any]], truth_in: Callable[[dict[str, Any]], bool],
           report_in: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Recall and precision of both stages over the true defects and reports selected."""
    row: dict[str, Any] = {
        "defects": sum(truth_in(t) for r in records for t in r["truth"]),
        "camera_visible": sum(truth_in(t) and t["camera_visible"] for r in records for t in r["truth"]),
        "camera_resolvable": sum(truth_in(t) and t["camera_resolvable"] for r in records for t in r["truth"]),
    }
    for stage in STAGES:
        found = sum(p["truth"] is not None and truth_in(r["truth"][p["truth"]]) for r in records for p in r[stage])
        reports = [p for r in records for p in r[stage] if report_in(p)]
        row[f"{stage}_found"] = found
        row[f"{stage}_reports"] = len(reports)
        row[f"{stage}_recall"] = _ratio(found, row["defects"])
        row[f"{stage}_precision"] = _ratio(sum(p["truth"] is not None for p in reports), len(reports))
    return row


def lost_defects(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Where the true defects that the final report misses were lost: never handed over by Stage I
    (``never_flagged``: only a press made for something else could find them); handed over only below
    fusion's reporting threshold and not confirmed by touch (``flagged_weak``: unpressed, an optical class
    touch cannot feel, or missed by the press); or handed over at or above it and still lost
    (``flagged_reportable``: cleared by a clean press, or merged into a neighbour). Which of these dominates
    says whether the camera, the press budget or touch stands between a campaign and full recall.

    ``lost`` counts each kind; ``under_a_press`` those of them whose centre lay under the gel of a press
    (the record's ``touched``): a weak flag lost there was pressed and missed by touch, not left unpressed
    by the budget. Records stored before ``touched`` count none."""
    lost = dict.fromkeys(LOSSES, 0)
    under_a_press = dict.fromkeys(LOSSES, 0)
    for record in records:
        found = {p["truth"] for p in record["final"] if p["truth"] is not None}
        touched = set(record.get("touched", ()))
        flagged: dict[int, float] = {}
        for hypothesis in record["stage1"]:
            if hypothesis["truth"] is not None:
                flagged[hypothesis["truth"]] = max(flagged.get(hypothesis["truth"], 0.0), hypothesis["confidence"])
        for index in range(len(record["truth"])):
            if index in found:
                continue
            if index not in flagged:
                kind = "never_flagged"
            else:
                kind = "flagged_weak" if flagged[index] < REPORT_CONFIDENCE else "flagged_reportable"
            lost[kind] += 1
            under_a_press[kind] += index in touched
    return {"lost": lost, "under_a_press": under_a_press}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one ablation over its part records (one per part)."""
    overall = _rates(records, lambda t: True, lambda p: True)
    visible_found = sum(p["truth"] is not None and r["truth"][p["truth"]]["camera_visible"]
                        for r in records for p in r["stage1"])
    resolvable_found = sum(p["truth"] is not None and r["truth"][p["truth"]]["camera_resolvable"]
                           for r in records for p in r["stage1"])
    false_touched = sum(p["truth"] is None and p["source"] != "vision" for r in records for p in r["final"])
    vision_only_found = sum(len(r["vision_only_truth"]) for r in records)
    depth_errors = [abs(p["depth_mm"] - r["truth"][p["truth"]]["depth_mm"]) for r in records for p in r["final"]
                    if p["depth_mm"] is not None and p["truth"] is not None
                    and r["truth"][p["truth"]]["class_name"] not in DEPTH_NOT_FELT]
    presses = sum(r["planned_presses"] for r in records)
    full_presses = sum(r["full_coverage_presses"] for r in records)
    with_full_plan = [r for r in records if r["full_coverage_cycle_time_s"] is not None]
    per_class = {name: _rates(records, lambda t, c=name: t["class_name"] == c, lambda p, c=name: p["class_name"] == c)
                 for name in DEFECT_CLASSES}
    per_size = {name: _rates(records, lambda t, b=name: size_bucket(t["size_mm"]) == b,
                             lambda p, b=name: size_bucket(p["size_mm"]) == b)
                for name, _, _ in SIZE_BUCKETS_MM}
    wall = [r["wall_s"]["total"] for r in records]
    return {
        "parts": len(records),
        "defects": overall["defects"],
        "camera_visible_defects": overall["camera_visible"],
        "stage1_recall": overall["stage1_recall"],
        "stage1_precision": overall["stage1_precision"],
        "stage1_recall_camera_visible": _ratio(visible_found, overall["camera_visible"]),
        "camera_resolvable_defects": overall["camera_resolvable"],
        "stage1_recall_resolvable": _ratio(resolvable_found, overall["camera_resolvable"]),
        "final_recall": overall["final_recall"],
        "final_precision": overall["final_precision"],
        "vision_only_recall": _ratio(vision_only_found, overall["defects"]),
        **lost_defects(records),
        "depth_mae_mm": _mean(depth_errors, 4),
        "depth_measured": len(depth_errors),
        "tactile_presses": _mean([r["planned_presses"] for r in records], 2),
        "tactile_findings": _mean([r["tactile_findings"] for r in records], 2),
        "false_touch_findings": false_touched,
        # Per press that Stage II analysed (each gives one finding, clean contacts included).
        "false_findings_per_1000_presses": _ratio(1000 * false_touched, sum(r["tactile_findings"] for r in records), 2),
        "unreachable_presses": _mean([r["unreachable"] for r in records], 2),
        "skipped_regions": _mean([r.get("skipped_regions", 0) for r in records], 2),  # left out by the budget
        "full_coverage_presses": _mean([r["full_coverage_presses"] for r in records], 2),
        "press_ratio": _ratio(presses, full_presses),
        "cycle_time_s": _mean([r["cycle_time_s"] for r in records], 2),
        "burst_s": _mean([r.get("burst_s", 0.0) for r in records], 2),  # photometric flashes, beside the arm's time
        "full_coverage_cycle_time_s": _mean([r["full_coverage_cycle_time_s"] for r in with_full_plan], 2),
        "cycle_time_ratio": _ratio(sum(r["cycle_time_s"] for r in with_full_plan),
                                   sum(r["full_coverage_cycle_time_s"] for r in with_full_plan)),
        "incomplete_parts": sum(not r["complete"] for r in records),
        "wall_s_per_part": _mean(wall, 2),
        "wall_s_per_part_max": round(max(wall), 2) if wall else None,
        "wall_s_per_step": {step: _mean([r["wall_s"][step] for r in records], 2)
                            for step in ("shared", "baseline_plan", "stage1", "plan", "execute", "fuse")},
        "counts": {k: v for k, v in overall.items() if k.endswith(("_found", "_reports"))},
        "per_class": per_class,
        "per_size": per_size,
    }
