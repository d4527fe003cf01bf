"""The inspection's phase machine, free of ROS: one run through explicit phases, always ending in a report.

    idle -> capture -> detect -> plan -> execute -> fuse -> report -> idle

Inputs come in by calls (``regions_received``, ``finding_received``, ``estop_changed``, ...) from any
thread; outputs go out through a ``CoordinatorIO`` (state, the trajectory, Trigger services) and time
through a ``Clock``. Every wait has a timeout; a timeout, a cancel, an e-stop, a refused plan or a
malformed message ends in a partial report that says what is missing. A camera view whose frame never
reaches Stage I is captured again (capture_retries). Everything received is journalled in the run
folder as it arrives (journal.jsonl), so nothing measured before a fault is lost.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import numpy as np

from inspection.atomic import write_json_atomic
from inspection.errors import InputError
from inspection.explain.exemplars import exemplar_strips, sprite_path
from inspection.fusion.evidence import CameraModel, EvidenceStore, attach, write_latent_exemplars
from inspection.fusion.report import part_outline, write_report
from inspection.fusion.summary import RunEvidence, build_report, truth_from_scene
from inspection.journal import Journal
from inspection.json_codec import read_side_channel, stamp_ns
from inspection.latency import CAMERA_TO_HYPOTHESES, PRESS_TO_FINDING, LatencyLog
from inspection.outputs import new_run_folder
from inspection.paths import model_file
from inspection.planning.plan_summary import (
    PlanSummary, message_stamp_ns, planned_region, read_plan_summary, regions_stamp_ns, regions_without_findings,
    trajectory_stamp_ns,
)
from inspection.records import DefectHypothesis, InspectionReport, ScanRegion, TactileFinding, Verdict
from inspection.retry import with_retries

from inspection.coordinator.ports import Clock, CoordinatorIO, CoordinatorSettings, SystemClock, TriggerService

EVIDENCE_SETTLE_S = 2.0  # a finding's frame and heightmap come on other topics, possibly just after it
POLL_S = 0.5  # waits re-check at least this often: a service answer does not notify the condition


class Phase(str, Enum):
    IDLE = "idle"
    CAPTURE = "capture"
    DETECT = "detect"
    PLAN = "plan"
    EXECUTE = "execute"
    FUSE = "fuse"
    REPORT = "report"


class Cancelled(Exception):
    """inspection/cancel was called (or the node is shutting down)."""


CANCELLED = "cancelled"
SHUT_DOWN = "the coordinator was shut down (Ctrl-C, SIGTERM, or its launcher stopping the pipeline)"
# Planned presses without a finding when the run was stopped: not "no finding", they were never reported.
STOPPED_BEFORE_REPORTED = "were not reported: the inspection was stopped first"


class EmergencyStop(RuntimeError):
    """inspection/estop/state went true: the arm was halted, the run ends here."""


class StartRefused(Exception):
    """An inspection cannot start now; the message says why (for the start service's answer)."""


@dataclass(frozen=True)
class ViewPlan:
    """camera/view_plan as the coordinator needs it: how many views, or why the message is unusable."""

    views: int
    problem: str = ""


class Coordinator:
    """Runs inspections one at a time in a worker thread; inputs may arrive on any thread."""

    def __init__(self, settings: CoordinatorSettings, io: CoordinatorIO, clock: Clock | None = None) -> None:
        self.settings, self.io = settings, io
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.phase = Phase.IDLE
        self.condition = threading.Condition()  # re-entrant: inputs may arrive while a wait holds it
        self.cancel_requested = False
        self.stop_reason = CANCELLED
        self.estopped = False
        self.latest: dict[str, tuple[float, Any]] = {}  # input -> (clock.monotonic() on arrival, value)
        self.findings: list[tuple[TactileFinding, Verdict]] = []
        self.executing: PlanSummary | None = None  # the plan whose trajectory the arm was sent
        self.truth: dict | None = None
        self.journal: Journal | None = None
        self.evidence: EvidenceStore | None = None
        self.latency = LatencyLog()
        self.worker: threading.Thread | None = None

    # --- inputs ------------------------------------------------------------------------------------
    def _keep(self, key: str, value: object, journal_text: str | None = None) -> None:
        with self.condition:
            self.latest[key] = (self.clock.monotonic(), value)
            self.condition.notify_all()
        if self.journal is not None and journal_text is not None:
            self.journal.append(key, data=journal_text)

    def regions_received(self, text: str) -> None:
        """Stage I's scan regions (inspection/scan_regions/json), one message per camera frame it saw."""
        self._keep("regions", text, text)

    def plan_received(self, text: str) -> None:
        """The planner's press plan summary (inspection/plan/json), with the stamps of its trajectory and of
        the regions it was made from."""
        self._keep("plan", (text, trajectory_stamp_ns(text), regions_stamp_ns(text)), text)

    def trajectory_received(self, trajectory: object, stamp_ns: int | None = None) -> None:
        """The press trajectory, kept as it came to be handed to ``io.execute`` unchanged; ``stamp_ns`` (its
        header stamp) pairs it with the plan published with it."""
        self._keep("trajectory", (trajectory, stamp_ns))

    def plan_answers(self, regions_at: float, regions_stamp: int | None) -> bool:
        """Whether the latest plan was made from the regions received at ``regions_at``, stamped
        ``regions_stamp``: by the regions stamp the plan echoes when both carry one, else by coming after
        them. A plan can come before the regions it answers (two subscriptions, and the executor may serve
        the plan's first): waiting for a newer one then waited for nothing until the plan timeout."""
        with self.condition:
            if "plan" not in self.latest:
                return False
            received_at, (_text, _trajectory_stamp, echoed) = self.latest["plan"]
        if echoed is not None and regions_stamp is not None:
            return echoed == regions_stamp
        return received_at > regions_at

    def planned_round(self, regions_at: float, regions_stamp: int | None) -> tuple[str, object] | None:
        """The latest plan, if it answers those regions (``plan_answers``), and the trajectory published with
        it (by its stamp; without stamps, one that came after the regions); None while the two are not yet of
        one planning round (the planner replans when a late camera frame brings regions)."""
        with self.condition:
            if not self.plan_answers(regions_at, regions_stamp) or "trajectory" not in self.latest:
                return None
            (text, plan_stamp, _), (trajectory, stamp) = self.latest["plan"][1], self.latest["trajectory"][1]
            if plan_stamp is None or stamp is None:
                return (text, trajectory) if self.newer("trajectory", regions_at) else None
        return (text, trajectory) if plan_stamp == stamp else None

    def view_plan_received(self, views: int, problem: str = "") -> None:
        """camera/view_plan: its number of poses, or why it cannot be used (then ``views`` is ignored)."""
        self._keep("view_plan", ViewPlan(views, problem))

    def hypotheses_received(self, text: str, published_ns: int, received_ns: int) -> None:
        """Stage I's hypotheses: kept for the report, cropped from the camera frames, their latency logged."""
        self._keep("hypotheses", text, text)
        try:
            stamp = stamp_ns(json.loads(text)["stamp"])
            hypotheses = read_side_channel(text, DefectHypothesis)[1]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, InputError) as exc:
            self.io.logger.error(f"inspection/hypotheses/json: no camera crops for a bad message: {exc}")
            return
        self.latency.add(CAMERA_TO_HYPOTHESES, stamp, published_ns, received_ns)
        store = self.evidence
        if store is not None:
            for problem in store.add_hypotheses(stamp, hypotheses):
                self.io.logger.warning(f"camera crop of hypothesis {problem}")

    def finding_received(self, text: str, published_ns: int, received_ns: int) -> None:
        """One tactile finding with its verdict; counted only while the arm executes the plan."""
        try:
            record = json.loads(text)
            pair = (TactileFinding.from_json(record["finding"]), Verdict.from_json(record["verdict"]))
        except (json.JSONDecodeError, KeyError, TypeError, InputError) as exc:
            self.io.logger.error(f"inspection/findings/json: ignored a bad finding: {exc}")
            return
        if self.phase != Phase.EXECUTE:
            return
        pair = (self._placed_in_executed_plan(pair[0], record), pair[1])
        with self.condition:
            self.findings.append(pair)
            self.condition.notify_all()
        if self.journal is not None:
            self.journal.append("finding", data=text)
        try:  # evidence and latency only: a finding without them still counts
            stamp = stamp_ns(record["stamp"])
            self.latency.add(PRESS_TO_FINDING, stamp, published_ns, received_ns)
            store = self.evidence
            if store is not None:
                store.add_finding(stamp, pair[0], float(record["pixel_size_m"]))
        except (KeyError, TypeError, ValueError, InputError) as exc:
            self.io.logger.warning(f"inspection/findings/json: finding {pair[0].id} has no usable stamp or "
                                   f"pixel_size_m, so no tactile evidence in the report ({exc})")

    def _placed_in_executed_plan(self, finding: TactileFinding, record: dict) -> TactileFinding:
        """The finding with the region of the press it was made at in the plan the arm executes.

        Why not the tactile node's region: it tags presses with the latest plan it heard, and a late camera
        frame can make the planner publish a new plan (new region names) while the arm runs the old one.
        A finding without its press position keeps the tactile node's region."""
        plan = self.executing
        if plan is None or not plan.press_positions or "press_position" not in record:
            return finding
        try:
            region = planned_region(record["press_position"], float(record.get("press_depth_m", 0.0)),
                                    plan.press_positions, plan.press_regions)
        except (TypeError, ValueError):
            return finding
        return finding if region == finding.region_id else replace(finding, region_id=region)

    def truth_received(self, text: str) -> None:
        """The simulator's ground truth (sim/ground_truth): the report then scores recall and precision."""
        try:
            self.truth = json.loads(text)
        except json.JSONDecodeError as exc:
            self.io.logger.error(f"sim/ground_truth: ignored ({exc})")

    def estop_changed(self, active: bool) -> None:
        """inspection/estop/state: active ends the running inspection and refuses the next until reset."""
        with self.condition:
            self.estopped = bool(active)
            self.condition.notify_all()
        if self.journal is not None:
            self.journal.append("estop", active=self.estopped)

    @property
    def collecting_evidence(self) -> bool:
        """Whether a run wants evidence frames now (so the node can skip converting them otherwise)."""
        return self.evidence is not None

    def camera_frame_received(self, stamp: int, image_rgb: np.ndarray, camera: CameraModel) -> None:
        store = self.evidence
        if store is not None:
            store.add_camera_frame(stamp, image_rgb, camera)

    def tactile_frame_received(self, stamp: int, image_rgb: np.ndarray) -> None:
        store = self.evidence
        if store is not None:
            store.add_tactile_frame(stamp, image_rgb)

    def heightmap_received(self, stamp: int, height_mm: np.ndarray) -> None:
        store = self.evidence
        if store is not None:
            store.add_heightmap(stamp, height_mm)

    # --- control -----------------------------------------------------------------------------------
    def start(self) -> Path:
        """Start an inspection in the worker thread; returns its run folder. StartRefused says why not."""
        with self.condition:
            if self.phase != Phase.IDLE:
                raise StartRefused(f"an inspection is running (phase {self.phase.value})")
            if self.estopped:
                raise StartRefused("emergency stop active: reset it (inspection/estop_reset) first")
            try:
                run_dir = new_run_folder(self.settings.run_root, "run", self.clock.wall_time())
            except (OSError, InputError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise StartRefused(f"run_root: cannot create a run folder in {self.settings.run_root} ({reason})") from exc
            self.cancel_requested = False
            self.stop_reason = CANCELLED
            self.phase = Phase.CAPTURE
        self.worker = threading.Thread(target=self.run, args=(run_dir,), daemon=True)
        self.worker.start()
        return run_dir

    def cancel(self, reason: str = CANCELLED) -> Phase:
        """Ask the running inspection to stop at its next wait (the report says ``reason``); returns the
        phase it was asked in."""
        with self.condition:
            self.cancel_requested = True
            self.stop_reason = reason
            self.condition.notify_all()
            return self.phase

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the running inspection's report; False if it is still running after ``timeout_s``."""
        if self.worker is not None:
            self.worker.join(timeout_s)
        return self.worker is None or not self.worker.is_alive()

    def shutdown(self, timeout_s: float) -> None:
        """On shutdown a running inspection is cancelled and still writes its report."""
        if self.worker is not None and self.worker.is_alive():
            self.cancel(SHUT_DOWN)
            self.join(timeout_s)

    # --- the inspection ----------------------------------------------------------------------------
    def publish_state(self, progress: float, message: str, run_dir: Path | None = None) -> None:
        self.io.publish_state({"phase": self.phase.value, "progress": round(progress, 3), "message": message,
                               "run_dir": str(run_dir) if run_dir else ""})

    def enter(self, phase: Phase, progress: float, message: str, run_dir: Path) -> None:
        self.phase = phase
        if self.journal is not None:
            self.journal.append("phase", phase=phase.value, message=message)
        self.publish_state(progress, message, run_dir)

    def wait_for(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Block until ``condition()`` (checked on every input) or raise TimeoutError naming ``what``;
        a cancel or an e-stop ends the wait at once."""
        deadline = self.clock.monotonic() + timeout_s
        with self.condition:
            while not condition():
                if self.cancel_requested:
                    raise Cancelled(what)
                if self.estopped:
                    raise EmergencyStop(f"emergency stop pressed (inspection/estop) while waiting for {what}; "
                                        "the arm was halted")
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what}: nothing after {timeout_s:.0f} s")
                self.clock.wait(self.condition, min(remaining, POLL_S))

    def newer(self, key: str, since: float) -> bool:
        return key in self.latest and self.latest[key][0] > since

    def call(self, service: TriggerService, what: str, timeout_s: float) -> None:
        """Call a Trigger service, waiting (with the same timeout) for it to come up and to answer."""
        self.wait_for(f"{what}: service {service.name} not available", service.is_ready, timeout_s)
        pending = service.call()
        self.wait_for(what, pending.done, timeout_s)
        outcome = pending.result()
        if outcome is None or not outcome.success:
            raise RuntimeError(f"{what}: {outcome.message if outcome is not None else 'no answer'}")

    def capture_view(self, view: int) -> None:
        """Trigger the camera, then wait for Stage I's regions of that frame: none means the frame was lost."""
        since = self.clock.monotonic()
        self.call(self.io.camera_trigger, f"camera view {view}", self.settings.service_timeout_s)
        self.wait_for(f"Stage I scan regions of camera view {view}", lambda: self.newer("regions", since),
                      self.settings.detect_timeout_s)

    def views_to_capture(self, evidence: RunEvidence) -> int:
        """capture_views, or with 0 the number of poses in camera/view_plan; 1 (named in the report's missing
        list) when no usable plan comes within view_plan_timeout_s."""
        if self.settings.capture_views > 0:
            return self.settings.capture_views
        timeout = self.settings.view_plan_timeout_s
        try:
            self.wait_for("camera/view_plan", lambda: "view_plan" in self.latest, timeout)
            plan: ViewPlan = self.latest["view_plan"][1]
            if plan.problem:
                raise ValueError(plan.problem)
            if plan.views == 0:
                raise ValueError("camera/view_plan: no poses")
            return plan.views
        except (TimeoutError, ValueError) as exc:
            evidence.missing.append(f"camera view plan: {exc}; took 1 camera view (set capture_views for a camera "
                                    "without a plan)")
            self.io.logger.warning(evidence.missing[-1])
            return 1

    def retrying(self, what: str, attempt: int, error: BaseException) -> None:
        self.io.logger.warning(f"{what}: {error}; trying again (attempt {attempt + 1})")
        if self.journal is not None:
            self.journal.append("retry", what=what, attempt=attempt + 1, reason=str(error))

    def outline(self) -> list[list[float]] | None:
        """The part's outline for the report overview, when its mesh is known and readable."""
        if not self.settings.part_mesh:
            return None
        try:
            import trimesh

            return part_outline(trimesh.load(self.settings.part_mesh, force="mesh").vertices)
        except (OSError, ValueError) as exc:
            self.io.logger.warning(f"parameter part_mesh: no outline for the report ({exc})")
            return None

    def write_latent_exemplars(self, run_dir: Path, report: InspectionReport) -> None:
        """The atlas exemplars of the latents that the report's explanations name, into the run folder. A
        missing or foreign atlas is logged and the report is written without them: a picture is never worth
        losing the report."""
        name = self.settings.explainer
        if not name or not any(d.explanation for d in report.defects):
            return
        path = Path(name) if "/" in name else model_file(name)
        try:
            strips = exemplar_strips(path)
            lacking = write_latent_exemplars(run_dir, report, strips)
        except (InputError, OSError) as exc:
            self.io.logger.warning(f"parameter explainer: no latent exemplars in the report ({exc})")
            return
        if not strips:
            self.io.logger.warning(f"parameter explainer: no atlas sprite {sprite_path(path)}: the report names "
                                   "the latents without their exemplars")
        elif lacking:
            self.io.logger.warning(f"parameter explainer: latent(s) {', '.join(map(str, lacking))} are not in the "
                                   f"atlas of {path}: is it the vision node's explainer?")

    def run(self, run_dir: Path) -> None:
        """One inspection, start to report (the worker thread's body)."""
        evidence = RunEvidence()
        self.findings = []
        self.executing = None
        journal = self.journal = Journal(run_dir / "journal.jsonl")
        store = self.evidence = EvidenceStore(run_dir)
        self.latency = LatencyLog()
        started = self.clock.monotonic()
        plan: PlanSummary | None = None
        try:
            self.enter(Phase.CAPTURE, 0.05, "capturing camera views", run_dir)
            self.call(self.io.vision_reset, "vision reset", self.settings.service_timeout_s)
            views = self.views_to_capture(evidence)
            self.enter(Phase.CAPTURE, 0.05, f"capturing {views} camera view(s)", run_dir)
            for view in range(views):
                with_retries(lambda _n, view=view: self.capture_view(view), 1 + self.settings.capture_retries,
                             (TimeoutError,), lambda n, exc, view=view: self.retrying(f"camera view {view}", n, exc))
            self.enter(Phase.DETECT, 0.15, "Stage I: detecting and localising", run_dir)
            _, hypotheses_text = self.latest.get("hypotheses", (0.0, None))
            if hypotheses_text is not None:
                evidence.hypotheses = read_side_channel(hypotheses_text, DefectHypothesis)[1]
            regions_at, regions_text = self.latest["regions"]
            regions_stamp = message_stamp_ns(regions_text)
            regions = read_side_channel(regions_text, ScanRegion)[1]
            self.enter(Phase.PLAN, 0.25, f"planning presses over {len(regions)} regions", run_dir)
            if regions:
                self.wait_for("press plan", lambda: self.plan_answers(regions_at, regions_stamp),
                              self.settings.plan_timeout_s)
                plan = read_plan_summary(self.latest["plan"][1][0])
                if plan.refused:
                    evidence.missing += _unreachable(plan)
                    raise RuntimeError(f"press plan refused by the safety check: {plan.refused}")
                paired: list[tuple[str, object]] = []  # the plan and the trajectory of one planning round
                self.wait_for("press trajectory", lambda: _kept(paired, self.planned_round(regions_at, regions_stamp)),
                              self.settings.plan_timeout_s)
                plan_text, trajectory = paired[-1]
                plan = read_plan_summary(plan_text)
                evidence.planned_presses = plan.presses
                evidence.cycle_time_s = plan.cycle_time_s
                evidence.full_coverage_presses = plan.full_coverage_presses
                evidence.missing += _unreachable(plan)
                if plan.refused:
                    raise RuntimeError(f"press plan refused by the safety check: {plan.refused}")
                self.executing = plan
                self.enter(Phase.EXECUTE, 0.35, f"Stage II: {evidence.planned_presses} presses, "
                           f"{evidence.cycle_time_s:.0f} s of arm motion", run_dir)
                self.io.execute(trajectory)
                budget = evidence.cycle_time_s / self.settings.time_scale + self.settings.execute_margin_s
                self.wait_for("tactile findings", lambda: len(self.findings) >= evidence.planned_presses, budget)
        except (TimeoutError, RuntimeError, Cancelled, InputError) as exc:
            reason = self.stop_reason if isinstance(exc, Cancelled) else str(exc)
            if isinstance(exc, Cancelled):
                evidence.unfound_presses = STOPPED_BEFORE_REPORTED
            evidence.missing.append(f"stopped in phase {self.phase.value}: {reason}")
            self.io.logger.warning(f"inspection incomplete: {reason}")
        if plan is not None and not plan.refused:  # name the regions whose presses gave no finding
            evidence.missing += regions_without_findings(plan.press_regions, [f.region_id for f, _ in self.findings],
                                                         evidence.unfound_presses)
        evidence.findings = [f for f, _ in self.findings]
        evidence.verdicts = {f.id: v for f, v in self.findings}
        self.enter(Phase.FUSE, 0.9, "fusing both stages", run_dir)
        truth = truth_from_scene(self.truth) if self.truth is not None else None
        report, _ = build_report(run_dir.name, self.settings.part_id, evidence, truth)
        self.enter(Phase.REPORT, 0.95, "writing the report", run_dir)
        late = store.settle(EVIDENCE_SETTLE_S)
        if late:
            self.io.logger.warning(f"no tactile frame or heightmap for finding(s) {', '.join(late)}")
        self.evidence = None
        write_json_atomic(run_dir / "latency.json", self.latency.summary())
        report = attach(run_dir, report)
        self.write_latent_exemplars(run_dir, report)
        write_report(run_dir, report, self.outline())
        journal.append("report", path=str(run_dir / "report.json"), seconds=self.clock.monotonic() - started)
        journal.close()
        self.journal = None
        self.phase = Phase.IDLE
        self.publish_state(1.0, f"done: {len(report.defects)} defects, report {run_dir / 'report.json'}", run_dir)


def _unreachable(plan: PlanSummary) -> list[str]:
    return [f"region {region}: unreachable ({reason})" for region, reason in plan.unreachable]


def _kept(into: list, value: object) -> bool:
    """Keep ``value`` (a wait's result) unless it is None; whether it was kept."""
    if value is None:
        return False
    into.append(value)
    return True
