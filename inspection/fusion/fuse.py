"""Fusion of Stage I hypotheses and Stage II findings into the final defect list, by stated rules.

Rules (each fused or rejected defect records the one that decided it):
- R1 optical: stains and paint loss cannot be felt, so a vision hypothesis of an optical class is
  kept on vision evidence alone when its confidence reaches ``optical_min_confidence``.
- R2 confirmed: a geometric hypothesis with a tactile defect finding within the gate is confirmed;
  touch measures it (position, size, depth) and decides the class when its confidence reaches
  ``tactile_class_min_confidence``; the confidences combine as a noisy-OR. A defect call weaker than
  ``tactile_min_confidence`` confirms only a hypothesis that R4 would report anyway and that no sure
  clean contact clears: touch then agrees, and places and measures it.
- R3 rejected: a geometric hypothesis lying under a clean contact (a press that found nothing) and
  with no sure tactile defect within the gate is a false alarm, and is dropped. A clean call weaker than
  ``tactile_min_confidence`` clears nothing: "none" at 0.45 means the classifier's defect classes sum
  to 0.55.
- R4 unconfirmed: a geometric hypothesis that touch neither confirmed nor cleared (no press covered it:
  unreachable, not planned, left out by the press budget, or the press failed; or only weak clean calls
  did) is kept as vision-only when its confidence reaches
  ``unconfirmed_min_confidence`` (the paper's Stage I threshold), so that nothing the camera alone would
  report is lost; the report marks it unconfirmed. Weaker ones only directed touch, and are dropped.
- R5 touch only: a tactile defect that no hypothesis explains is added when its confidence reaches
  ``tactile_min_confidence``: the paper's "remaining defects" that only Stage II finds. Alone, a weaker
  call is sensor noise as often as not.
- R6 one spot, one defect: fused defects that lie on one spot (as two tactile findings are one defect,
  below) are one defect: the one with the most direct evidence (touched by both stages, then by touch,
  then the more confident) keeps its class and measurements and takes the others' evidence ids. The
  camera may call one spot both a stain and a dent, and a press may find a defect that a nearby
  hypothesis already explains; each was a second entry for one defect.
Tactile findings of one defect seen by overlapping presses are merged first: any two within the gate (one
spot is one defect, whatever class each press called it; two lines only if one lies on the other's line),
and two of one class within half the larger measured size plus 2 mm (a press that sees only part of a
defect places it off its centre), except a pit or a fastener hole, which a press sees whole; for two
stretches of one scratch or crack, half of each one's length plus 2 mm, and on one line: they overlap or
nearly meet end to end, not side by side. The merge is a chain: a finding joins every group one of whose
findings it is one defect with, and so joins them, as the presses along a scratch longer than the gel each
see a stretch of it and only neighbours overlap. Such a group is one defect wherever its presses were: a
hypothesis within the gate of any of its findings is the one it confirms, and a scratch's or crack's length
is the length its presses cover together.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from inspection.records import OPTICAL_CLASSES, DefectHypothesis, FusedDefect, Source, TactileFinding, Verdict

ELONGATED_CLASSES = ("scratch", "crack")
# Spots a press always sees whole, so it places them at their centre: a pit (at most 1.5 mm across) and a
# fastener hole (3-5 mm). Two of them further apart than the gate are two, whatever size was measured: a "pit"
# read 31 mm long (a misread region on a leading edge) took in a true pit 9 mm away (simulated part 424245-17).
SEEN_WHOLE_CLASSES = ("pit", "missing_fastener")


@dataclass(frozen=True)
class FusionConfig:
    gate_m: float = 0.006  # centre distance under which two pieces of evidence can be one defect
    footprint_half_m: tuple[float, float] = (0.0093, 0.0070)  # half the imaged gel area
    optical_min_confidence: float = 0.25
    unconfirmed_min_confidence: float = 0.25  # R4: an untouched geometric hypothesis is reported from here up
    tactile_class_min_confidence: float = 0.5
    tactile_min_confidence: float = 0.5  # weaker: a defect call only backs the camera (R2), a clean one never clears
    # How far sideways of a scratch's or crack's line another finding of its class may lie and still be a
    # stretch of it: a line's stretches are placed on it to well under a millimetre (the centre of a thin
    # region), a simulated crack wanders by at most 0.3 mm, and two scratches 3 mm apart are two.
    line_offset_m: float = 0.003


@dataclass(frozen=True)
class Rejection:
    hypothesis_id: str
    rule: str


@dataclass
class FusionResult:
    defects: list[FusedDefect] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unconfirmed_ids: list[str] = field(default_factory=list)


def _distance(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return float(np.linalg.norm(np.subtract(a, b)))


def _gate(hypothesis: DefectHypothesis, config: FusionConfig) -> float:
    """Long defects (scratches, cracks) may be touched away from their centre: widen the gate."""
    return max(config.gate_m, 0.5 * max(hypothesis.extent_m) + 0.002)


def _under_footprint(point: tuple[float, float, float], press: TactileFinding, config: FusionConfig) -> bool:
    """Whether ``point`` lies within the gel footprint of ``press`` (tangent-plane distance)."""
    offset = np.subtract(point, press.position)
    normal = np.asarray(press.normal)
    along_normal = float(offset @ normal)
    in_plane = float(np.linalg.norm(offset - along_normal * normal))
    return abs(along_normal) < 0.005 and in_plane <= min(config.footprint_half_m)


def _one_defect(a: TactileFinding | FusedDefect, b: TactileFinding | FusedDefect, config: FusionConfig) -> bool:
    """Whether two presses' findings are one defect. Overlapping presses each see what of it lies under
    their gel and place it at the centre of that: a 12 mm dent pressed 11 mm apart is found twice, 7 mm
    apart, and a scratch along its length further still; the class of a partly seen defect may differ
    (scratch or crack) but a spot within the gate is one defect whatever it is called. Two stretches of
    one scratch or crack are one when they overlap or nearly meet end to end (half of each one's length
    plus 2 mm): a 35 mm scratch pressed every 11 mm was seen as stretches of 12-15 mm (simulated part
    424244-10), further apart than half the longer one. Two lines side by side are two, however near."""
    distance = _distance(a.position, b.position)
    lines = a.class_name in ELONGATED_CLASSES and b.class_name in ELONGATED_CLASSES
    if a.class_name != b.class_name:
        return distance < config.gate_m and (not lines or _on_one_line(a, b, config))
    if lines:
        return (distance < max(config.gate_m, 0.5e-3 * (a.length_mm + b.length_mm) + 0.002)
                and _on_one_line(a, b, config))
    if a.class_name in SEEN_WHOLE_CLASSES:
        return distance < config.gate_m
    return distance < max(config.gate_m, 0.5e-3 * max(a.length_mm, a.width_mm, b.length_mm, b.width_mm) + 0.002)


def _on_one_line(a: TactileFinding | FusedDefect, b: TactileFinding | FusedDefect, config: FusionConfig) -> bool:
    """Whether the shorter of two scratch or crack findings lies on the longer one's line (within
    ``line_offset_m`` of it, sideways): stretches of one line do, two lines side by side do not. Without that
    test an 8.5 mm scratch 7.4 mm beside a 14.9 mm one joined it and was lost (simulated part 424245-12).
    The longer one's direction is the better measured; where it is not known (a defect the camera alone
    reports, a record from before directions were measured) distance alone decides."""
    longer, shorter = (a, b) if a.length_mm >= b.length_mm else (b, a)
    direction = np.asarray(longer.direction, float)
    if not direction.any():
        return True
    offset = np.subtract(shorter.position, longer.position)
    sideways = offset - float(offset @ direction) * direction
    return float(np.linalg.norm(sideways)) <= config.line_offset_m


def merge_tactile(findings: list[TactileFinding], config: FusionConfig) -> list[list[TactileFinding]]:
    """Group the defect findings of one defect under overlapping presses, each group led by its most
    confident finding: a finding joins every group one of whose findings it is one defect with
    (``_one_defect``), and the groups it joins become one. Compared with the leader alone, a 58 mm scratch
    pressed nine times along its length stayed three defects (simulated tuning part 5150-3)."""
    groups: list[list[TactileFinding]] = []
    for finding in sorted(findings, key=lambda f: -f.confidence):
        joined = [index for index, group in enumerate(groups)
                  if any(_one_defect(member, finding, config) for member in group)]
        if not joined:
            groups.append([finding])
            continue
        merged = sorted([member for index in joined for member in groups[index]] + [finding],
                        key=lambda f: -f.confidence)
        groups[joined[0]] = merged
        groups = [group for index, group in enumerate(groups) if index not in joined[1:]]
    return groups


def _group_distance(group: list[TactileFinding], position: tuple[float, float, float]) -> float:
    """How far ``position`` lies from the nearest of the group's findings: each placed what its press saw."""
    return min(_distance(member.position, position) for member in group)


def _covered_length_mm(group: list[TactileFinding]) -> float:
    """The length of a scratch or crack that the group's presses cover together: its two farthest findings
    of those classes apart, plus half each one's measured length (the stretch each press saw, centred on
    where it placed it)."""
    lines = [member for member in group if member.class_name in ELONGATED_CLASSES] or group[:1]
    return max(1000 * _distance(a.position, b.position) + 0.5 * (a.length_mm + b.length_mm)
               for a in lines for b in lines)


EVIDENCE_RANK = {Source.BOTH: 0, Source.TACTILE: 1, Source.VISION: 2}  # R6: which entry of a spot is kept


def one_spot_one_defect(defects: list[FusedDefect], config: FusionConfig) -> list[FusedDefect]:
    """Rule R6: defects on one spot (``_one_defect``) become the one with the most direct evidence, which
    takes the others' camera and tactile ids; the survivors keep their order and are numbered d0, d1, ..."""
    kept: list[tuple[int, FusedDefect]] = []  # (position in ``defects``, the defect with what joined it)
    ranked = sorted(enumerate(defects), key=lambda item: (EVIDENCE_RANK[item[1].source], -item[1].confidence))
    for position, defect in ranked:
        for slot, (keeper_position, keeper) in enumerate(kept):
            if _one_defect(keeper, defect, config):
                kept[slot] = (keeper_position, replace(
                    keeper, vision_ids=keeper.vision_ids + defect.vision_ids,
                    tactile_ids=keeper.tactile_ids + defect.tactile_ids,
                    explanation=keeper.explanation or defect.explanation))
                break
        else:
            kept.append((position, defect))
    return [replace(defect, id=f"d{n}") for n, (_, defect) in enumerate(sorted(kept, key=lambda item: item[0]))]


def _from_tactile(defect_id: str, group: list[TactileFinding], hypothesis: DefectHypothesis | None,
                  config: FusionConfig) -> FusedDefect:
    best = group[0]
    if hypothesis is None:
        length_mm = _covered_length_mm(group) if best.class_name in ELONGATED_CLASSES else best.length_mm
        return FusedDefect(
            defect_id, best.class_name, Source.TACTILE, best.confidence, best.position, best.normal,
            best.width_mm, length_mm, best.depth_mm, tactile_ids=tuple(f.id for f in group),
            direction=best.direction,
        )
    touch_decides = best.confidence >= config.tactile_class_min_confidence or best.confidence >= hypothesis.confidence
    class_name = best.class_name if touch_decides else hypothesis.class_name
    confidence = 1.0 - (1.0 - hypothesis.confidence) * (1.0 - best.confidence)
    length_mm = best.length_mm
    if class_name in ELONGATED_CLASSES:
        # The gel (18.6 mm) can be shorter than a scratch; the camera saw its whole length, or presses along it did.
        length_mm = max(_covered_length_mm(group), 1000 * max(hypothesis.extent_m))
    return FusedDefect(
        defect_id, class_name, Source.BOTH, confidence, best.position, best.normal, best.width_mm, length_mm,
        best.depth_mm, vision_ids=(hypothesis.id,), tactile_ids=tuple(f.id for f in group),
        explanation=hypothesis.explanation, direction=best.direction,
    )


def fuse(
    hypotheses: list[DefectHypothesis],
    findings: list[TactileFinding],
    config: FusionConfig = FusionConfig(),
    judge: Callable[[FusedDefect], Verdict] | None = None,
) -> FusionResult:
    """Apply rules R1-R6; ``findings`` holds every press result, clean contacts ("none") included."""
    result = FusionResult()
    defect_findings = [f for f in findings if f.is_defect]
    clean_presses = [f for f in findings if not f.is_defect and f.confidence >= config.tactile_min_confidence]
    groups = merge_tactile(defect_findings, config)
    used_groups: set[int] = set()
    fused: list[FusedDefect] = []

    for hypothesis in sorted(hypotheses, key=lambda h: -h.confidence):
        defect_id = f"d{len(fused)}"
        if hypothesis.class_name in OPTICAL_CLASSES:
            if hypothesis.confidence >= config.optical_min_confidence:
                fused.append(FusedDefect(
                    defect_id, hypothesis.class_name, Source.VISION, hypothesis.confidence, hypothesis.position,
                    hypothesis.normal, 1000 * min(hypothesis.extent_m), 1000 * max(hypothesis.extent_m),
                    vision_ids=(hypothesis.id,), explanation=hypothesis.explanation))
            else:
                result.rejected.append(Rejection(hypothesis.id, "R1 optical: below optical_min_confidence"))
            continue
        gate = _gate(hypothesis, config)
        near = [(i, _group_distance(g, hypothesis.position)) for i, g in enumerate(groups) if i not in used_groups]
        near = [(i, d) for i, d in near if d < gate]
        sure = [(i, d) for i, d in near if groups[i][0].confidence >= config.tactile_min_confidence]
        # (a sure call confirms whatever covers the spot: the footprints are searched only without one)
        cleared = not sure and any(_under_footprint(hypothesis.position, press, config) for press in clean_presses)
        if sure or (near and not cleared and hypothesis.confidence >= config.unconfirmed_min_confidence):
            index = min(sure or near, key=lambda c: c[1])[0]
            used_groups.add(index)
            fused.append(_from_tactile(defect_id, groups[index], hypothesis, config))
        elif cleared:
            result.rejected.append(Rejection(hypothesis.id, "R3 rejected: a clean contact covers it"))
        elif hypothesis.confidence < config.unconfirmed_min_confidence:
            result.rejected.append(Rejection(hypothesis.id, "R4 unconfirmed: not touched and below "
                                                            "unconfirmed_min_confidence"))
        else:
            result.unconfirmed_ids.append(hypothesis.id)
            fused.append(FusedDefect(
                defect_id, hypothesis.class_name, Source.VISION, hypothesis.confidence, hypothesis.position,
                hypothesis.normal, 1000 * min(hypothesis.extent_m), 1000 * max(hypothesis.extent_m),
                vision_ids=(hypothesis.id,), explanation=hypothesis.explanation))

    for index, group in enumerate(groups):
        if index not in used_groups and group[0].confidence >= config.tactile_min_confidence:
            fused.append(_from_tactile(f"d{len(fused)}", group, None, config))

    fused = one_spot_one_defect(fused, config)
    if judge is not None:
        fused = [replace(d, verdict=judge(d)) for d in fused]
    result.defects = fused
    return result
