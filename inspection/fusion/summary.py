"""From what both stages found to the InspectionReport, scored against ground truth when it is known.

Recall counts every true defect on the part, the ones the camera cannot see included; precision
counts every reported defect. Matching is class-agnostic (see ``scoring``).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from inspection.fusion.fuse import FusionConfig, FusionResult, fuse
from inspection.fusion.scoring import TruthDefect, match
from inspection.records import (OPTICAL_CLASSES, DefectHypothesis, InspectionReport, ReportSummary, TactileFinding,
                                Verdict)


@dataclass
class RunEvidence:
    """Everything an inspection gathered; the coordinator journals it as it arrives."""

    hypotheses: list[DefectHypothesis] = field(default_factory=list)
    findings: list[TactileFinding] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # tactile finding id -> verdict
    planned_presses: int = 0
    full_coverage_presses: int | None = None
    cycle_time_s: float | None = None
    missing: list[str] = field(default_factory=list)
    # What became of planned presses without a finding: they gave none, or the run was stopped before.
    unfound_presses: str = "gave no tactile finding"


def _judge_from(verdicts: dict[str, Verdict]):
    """Defects confirmed by touch take the acceptance verdict of their deepest tactile finding; defects
    without a touch measurement cannot be accepted on an unmeasured depth."""

    def judge(defect) -> Verdict:
        judged = [verdicts[t] for t in defect.tactile_ids if t in verdicts]
        rejected = [v for v in judged if not v.accepted]
        if rejected:
            return rejected[0]
        if judged:
            return judged[0]
        if defect.class_name in OPTICAL_CLASSES:
            return Verdict(False, f"{defect.class_name}: optical defect, refinish or clean before release")
        return Verdict(False, "not measured by touch: manual check required")

    return judge


def build_report(run_id: str, part_id: str, evidence: RunEvidence, truth: list[TruthDefect] | None,
                 config: FusionConfig = FusionConfig()) -> tuple[InspectionReport, FusionResult]:
    """Fuse, judge and score; ground-truth figures stay None when ``truth`` is None (a real part)."""
    result = fuse(evidence.hypotheses, evidence.findings, config, judge=_judge_from(evidence.verdicts))
    stage1 = final = precision = None
    if truth is not None:
        stage1 = match([h.position for h in evidence.hypotheses], truth).recall
        scored = match([d.position for d in result.defects], truth)
        final, precision = scored.recall, scored.precision
    summary = ReportSummary(
        stage1_recall=stage1, final_recall=final, final_precision=precision,
        tactile_presses=len(evidence.findings), full_coverage_presses=evidence.full_coverage_presses,
        cycle_time_s=evidence.cycle_time_s,
    )
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    missing = list(evidence.missing)
    if evidence.planned_presses > len(evidence.findings):
        missing.append(f"{evidence.planned_presses - len(evidence.findings)} of {evidence.planned_presses} "
                       f"planned presses {evidence.unfound_presses}")
    report = InspectionReport(run_id, part_id, created, summary, result.defects, complete=not missing,
                              missing=missing)
    return report, result


def truth_from_scene(record: dict[str, Any]) -> list[TruthDefect]:
    """The simulator's ground truth (sim/ground_truth or a scene JSON) as scoring records."""
    return [TruthDefect.from_ground_truth(d) for d in record["defects"]]
