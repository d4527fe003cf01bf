"""The coordinator's phase machine (inspection.coordinator) without ROS: the camera, Stage I, the planner,
the arm and the tactile sensor are in-process doubles of their topics and services, and time is a
simulated clock, so timeouts of minutes run in milliseconds. Every run must end in a report (partial
when a phase times out, is cancelled or e-stopped, or gets a malformed message) and in its journal.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.config import load_node_params
from inspection.coordinator import Coordinator, CoordinatorSettings, Phase, StartRefused, SystemClock
from inspection.fusion.evidence import CameraModel
from inspection.journal import read_journal
from inspection.records import DefectHypothesis, InspectionReport, ScanRegion, TactileFinding, Verdict

PHASES = ["capture", "capture", "detect", "plan", "execute", "fuse", "report", "idle"]


class SimulatedClock:
    """Simulated time: a wait jumps to the next scheduled input and delivers it, or to the end of the wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall_time(self) -> float:
        return 1_750_000_000.0 + self.now

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.events, (self.now + delay_s, next(self.order), action))

    def wait(self, _condition: threading.Condition, timeout_s: float) -> None:
        deadline = self.now + timeout_s
        if self.events and self.events[0][0] <= deadline:
            at, _, action = heapq.heappop(self.events)
            self.now = max(self.now, at)
            action()
        else:
            self.now = deadline


@dataclass
class Answer:
    success: bool
    message: str


class PendingAnswer:
    def __init__(self) -> None:
        self.answer: Answer | None = None

    def done(self) -> bool:
        return self.answer is not None

    def result(self) -> Answer | None:
        return self.answer


class ServiceDouble:
    """A Trigger service that answers after ``delay_s`` of simulated time and runs ``on_call`` per call."""

    def __init__(self, name: str, clock: SimulatedClock, on_call: Callable[[int], None] = lambda _n: None) -> None:
        self.name, self.clock, self.on_call = name, clock, on_call
        self.ready, self.calls, self.delay_s = True, 0, 0.05

    def is_ready(self) -> bool:
        return self.ready

    def call(self) -> PendingAnswer:
        self.calls += 1
        pending = PendingAnswer()
        self.clock.after(self.delay_s, lambda: setattr(pending, "answer", Answer(True, "done")))
        self.on_call(self.calls)
        return pending


def side_channel(records, sec: int) -> str:
    return json.dumps({"stamp": {"sec": sec, "nanosec": 0}, "frame_id": "part",
                       "records": [r.to_json() for r in records]})


REGIONS = [ScanRegion("r0", (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.01),
           ScanRegion("r1", (0.1, 0.0, 0.0), (0.0, 0.0, 1.0), 0.01)]
HYPOTHESES = [DefectHypothesis("h0", "dent", 0.8, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.01, 0.01))]
FINDINGS = [(TactileFinding("t0", "r0", 0, "dent", 0.9, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.3, 4.0, 4.0),
             Verdict(False, "depth 0.3 mm > 0.2 mm")),
            (TactileFinding("t1", "r1", 1, "none", 0.95, (0.1, 0.0, 0.0), (0.0, 0.0, 1.0)), Verdict(True, "clean"))]
PLAN = json.dumps({"presses": [{"region": "r0"}, {"region": "r1"}], "cycle_time_s": 8.0,
                   "full_coverage_presses": 40, "unreachable": [], "refused": ""})
TRAJECTORY = object()  # the core hands it to the arm untouched
FRAME_SIZE = (160, 90)


class CellDouble:
    """The coordinator's I/O: Stage I answers each camera frame, the planner its regions, and the tactile
    sensor one finding per press once the trajectory goes out; each may be told to misbehave."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.logger = logging.getLogger("test_coordinator_core")
        self.states: list[dict] = []
        self.executed: list[object] = []
        self.vision_reset = ServiceDouble("vision/reset", clock)
        self.camera_trigger = ServiceDouble("sim/capture", clock, self.frame_taken)
        self.frames_lost = 0  # the first this many camera frames never reach Stage I
        self.regions_text = side_channel(REGIONS, 1)
        self.plan_text: str | None = PLAN  # None: the planner never answers
        self.findings = FINDINGS
        self.press_positions: list[list[float]] | None = None  # where each press was made, as the tactile node says
        self.after_finding: Callable[[int], None] = lambda _n: None
        self.core: Coordinator | None = None

    def publish_state(self, state: dict) -> None:
        self.states.append(state)

    def frame_taken(self, number: int) -> None:
        core = self.core
        image = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 90, np.uint8)
        k = np.array([[100.0, 0.0, 79.5], [0.0, 100.0, 44.5], [0.0, 0.0, 1.0]])
        core.camera_frame_received(number * 10**9, image, CameraModel.from_cell(load_cell(), *FRAME_SIZE, k))
        if number <= self.frames_lost:
            return
        self.clock.after(0.2, lambda: core.hypotheses_received(side_channel(HYPOTHESES, number), 2, 3))
        self.clock.after(0.3, lambda: core.regions_received(self.regions_text))
        if self.plan_text is not None:
            self.clock.after(0.8, lambda: core.plan_received(self.plan_text))
            self.clock.after(0.9, lambda: core.trajectory_received(TRAJECTORY))

    def execute(self, trajectory: object) -> None:
        self.executed.append(trajectory)
        for number, (finding, verdict) in enumerate(self.findings, start=1):
            self.clock.after(4.0 * number, lambda n=number, f=finding, v=verdict: self.press(n, f, v))

    def press(self, number: int, finding: TactileFinding, verdict: Verdict) -> None:
        stamp = 100 * 10**9 + number
        self.core.tactile_frame_received(stamp, np.full((48, 64, 3), 120, np.uint8))
        self.core.heightmap_received(stamp, np.zeros((48, 64), np.float32))
        record = {"finding": finding.to_json(), "verdict": verdict.to_json(),
                  "stamp": {"sec": 100, "nanosec": number}, "pixel_size_m": 1e-4}
        if self.press_positions is not None:
            record |= {"press_position": self.press_positions[number - 1], "press_depth_m": 0.0005}
        self.core.finding_received(json.dumps(record), stamp + 5_000_000, stamp + 6_000_000)
        self.after_finding(number)


@pytest.fixture
def cell():
    return CellDouble(SimulatedClock())


def make_core(cell: CellDouble, run_root: Path, **overrides) -> Coordinator:
    params = load_node_params("coordinator_node", overrides={"run_root": str(run_root), "capture_views": 1,
                                                             **overrides})
    cell.core = Coordinator(CoordinatorSettings.from_params(params), cell, cell.clock)
    return cell.core


def inspect(core: Coordinator) -> tuple[Path, InspectionReport]:
    run_dir = core.start()
    assert core.join(60), "the inspection did not end"
    assert core.phase == Phase.IDLE
    return run_dir, InspectionReport.load(run_dir / "report.json")


def events(run_dir: Path, event: str) -> list[dict]:
    return [r for r in read_journal(run_dir / "journal.jsonl") if r["event"] == event]


def test_a_run_goes_through_every_phase_to_a_complete_report(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path)
    run_dir, report = inspect(core)
    assert report.complete and report.missing == []
    assert [s["phase"] for s in cell.states] == PHASES
    assert cell.states[-1]["message"].startswith("done: ") and cell.states[-1]["run_dir"] == str(run_dir)
    assert cell.executed == [TRAJECTORY]
    assert report.summary.tactile_presses == 2 and report.summary.cycle_time_s == 8.0
    assert report.summary.full_coverage_presses == 40
    (dent,) = [d for d in report.defects if "t0" in d.tactile_ids]
    assert dent.vision_ids == ("h0",) and dent.depth_mm == pytest.approx(0.3)
    records = list(read_journal(run_dir / "journal.jsonl"))
    assert [r["event"] for r in records if r["event"] != "phase"] == \
        ["hypotheses", "regions", "plan", "finding", "finding", "report"]
    assert [r["phase"] for r in records if r["event"] == "phase"] == PHASES[:-1]
    assert {"camera_h0.png", "tactile_t0.png", "heightmap_t0.png", "heightmap_t0.npy"} <= \
        {p.name for p in (run_dir / "evidence").iterdir()}
    latency = json.loads((run_dir / "latency.json").read_text())
    assert latency["tactile press -> finding"]["count"] == 2
    assert (run_dir / "report.html").is_file()


def test_a_lost_camera_frame_is_captured_again(cell, tmp_path) -> None:
    cell.frames_lost = 1
    run_dir, report = inspect(make_core(cell, tmp_path, capture_retries=2))
    assert report.complete and cell.camera_trigger.calls == 2
    (retry,) = events(run_dir, "retry")
    assert retry["attempt"] == 2 and retry["what"] == "camera view 0"
    assert retry["reason"] == "Stage I scan regions of camera view 0: nothing after 30 s"


def test_every_capture_lost_ends_in_a_partial_report_naming_the_view(cell, tmp_path) -> None:
    cell.frames_lost = 99
    run_dir, report = inspect(make_core(cell, tmp_path, capture_retries=2, detect_timeout_s=5.0))
    assert cell.camera_trigger.calls == 3 and not report.complete
    assert report.missing == ["stopped in phase capture: Stage I scan regions of camera view 0: nothing after 5 s "
                              "(tried 3 times)"]
    assert [r["attempt"] for r in events(run_dir, "retry")] == [2, 3]


def test_a_service_that_never_comes_up_times_out_in_capture(cell, tmp_path) -> None:
    cell.vision_reset.ready = False
    started = time.monotonic()
    _, report = inspect(make_core(cell, tmp_path, service_timeout_s=600.0))
    assert time.monotonic() - started < 30  # ten simulated minutes, not real ones
    assert report.missing == ["stopped in phase capture: vision reset: service vision/reset not available: "
                              "nothing after 600 s"]
    assert report.defects == [] and cell.camera_trigger.calls == 0


def test_a_planner_that_never_answers_ends_in_a_partial_report_naming_the_plan_phase(cell, tmp_path) -> None:
    cell.plan_text = None
    run_dir, report = inspect(make_core(cell, tmp_path))
    assert report.missing == ["stopped in phase plan: press plan: nothing after 120 s"]
    assert [d.vision_ids for d in report.defects] == [("h0",)]  # Stage I's result is kept
    assert events(run_dir, "regions") and not events(run_dir, "plan") and cell.executed == []


def test_findings_short_of_the_plan_time_out_in_execute_and_name_the_region(cell, tmp_path) -> None:
    cell.findings = FINDINGS[:1]
    run_dir, report = inspect(make_core(cell, tmp_path, execute_margin_s=10.0))
    assert report.missing == ["stopped in phase execute: tactile findings: nothing after 18 s",
                              "region r1: 1 of 1 presses gave no tactile finding",
                              "1 of 2 planned presses gave no tactile finding"]
    assert report.summary.tactile_presses == 1 and len(events(run_dir, "finding")) == 1


def _plan(regions: list[str], positions: list[list[float]], stamp_sec: int) -> str:
    return json.dumps({"presses": [{"region": r, "position": p} for r, p in zip(regions, positions)],
                       "cycle_time_s": 8.0, "full_coverage_presses": 40, "unreachable": [], "refused": "",
                       "trajectory_stamp": {"sec": stamp_sec, "nanosec": 0}})


def test_the_arm_runs_the_trajectory_of_the_plan_that_counts_its_findings(cell, tmp_path) -> None:
    """A late camera frame made the planner replan: the coordinator executes a plan and its own trajectory,
    never one round's plan with the next round's trajectory, and places each finding in that plan by where
    it was pressed, whatever region the tactile node (listening to a yet newer plan) gave it."""
    positions = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]
    first_round, second_round = object(), object()
    core = make_core(cell, tmp_path)
    cell.plan_text = None  # this test publishes the planner's rounds itself
    cell.clock.after(0.5, lambda: core.trajectory_received(first_round, 1 * 10**9))
    cell.clock.after(0.55, lambda: core.trajectory_received(second_round, 2 * 10**9))  # its plan comes late
    cell.clock.after(0.6, lambda: core.plan_received(_plan(["a0", "a1"], [[0.0, 0.0, 0.0], [0.2, 0.0, 0.0]], 1)))
    cell.clock.after(5.0, lambda: core.plan_received(_plan(["b0", "b1"], positions, 2)))
    cell.press_positions = [[0.0, 0.0, 0.0007], [0.1, 0.0, 0.0003]]  # within the press depth of the plan's
    cell.after_finding = lambda n: core.plan_received(_plan(["c0", "c1"], positions, 3)) if n == 1 else None
    run_dir, report = inspect(core)
    assert cell.executed == [second_round]
    assert report.complete and report.missing == []  # FINDINGS say regions r0 and r1: placed in b0 and b1
    assert [json.loads(r["data"])["presses"][0]["region"] for r in events(run_dir, "plan")] == ["a0", "b0", "c0"]


@pytest.mark.parametrize("echoed_sec", [1, 0])
def test_a_plan_that_comes_before_its_regions_is_still_the_one_that_answers_them(cell, tmp_path, echoed_sec) -> None:
    """The planner answers the regions before the coordinator's executor has served them (two
    subscriptions): the plan echoes the regions' stamp (1 s here), so the run goes on at once instead of
    waiting for a newer plan until the plan timeout. A plan that echoes other regions (0 s) is not taken."""
    core = make_core(cell, tmp_path, plan_timeout_s=5.0)
    answer = json.loads(_plan(["r0", "r1"], [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]], 7))
    answer["regions_stamp"] = {"sec": echoed_sec, "nanosec": 0}
    cell.plan_text = None  # the planner's answer is played here, ahead of the regions (sent at 0.3 s)
    cell.clock.after(0.1, lambda: core.trajectory_received(TRAJECTORY, 7 * 10**9))
    cell.clock.after(0.2, lambda: core.plan_received(json.dumps(answer)))
    _, report = inspect(core)
    if echoed_sec == 1:
        assert report.complete and report.missing == [] and cell.executed == [TRAJECTORY]
    else:
        assert report.missing == ["stopped in phase plan: press plan: nothing after 5 s"] and cell.executed == []


def test_a_finding_pressed_where_the_executed_plan_has_no_press_leaves_its_region_unfound(cell, tmp_path) -> None:
    positions = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]
    cell.plan_text = _plan(["a0", "a1"], positions, 1)
    core = make_core(cell, tmp_path)
    cell.press_positions = [[0.0, 0.0, 0.0], [0.1, 0.02, 0.0]]  # the second 20 mm off its planned press
    _, report = inspect(core)
    assert report.missing == ["region a1: 1 of 1 presses gave no tactile finding"]


def test_a_finding_with_a_garbled_press_position_keeps_the_tactile_nodes_region(cell, tmp_path) -> None:
    cell.plan_text = _plan(["r0", "r1"], [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]], 1)
    core = make_core(cell, tmp_path)
    cell.press_positions = ["here", [0.1, 0.0]]
    _, report = inspect(core)
    assert report.complete and report.missing == []  # FINDINGS' own regions r0 and r1


def test_cancel_mid_run_keeps_what_was_measured(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path)
    cancelled_in: list[Phase] = []
    cell.after_finding = lambda n: cancelled_in.append(core.cancel()) if n == 1 else None
    run_dir, report = inspect(core)
    assert cancelled_in == [Phase.EXECUTE]
    # Not "gave no tactile finding": the press may have been made, its finding was never waited for.
    assert report.missing == ["stopped in phase execute: cancelled",
                              "region r1: 1 of 1 presses were not reported: the inspection was stopped first",
                              "1 of 2 planned presses were not reported: the inspection was stopped first"]
    assert report.summary.tactile_presses == 1 and [d.tactile_ids for d in report.defects] == [("t0",)]
    assert [s["phase"] for s in cell.states] == PHASES
    assert core.cancel() == Phase.IDLE  # nothing left to cancel
    assert inspect(core)[1].complete  # the next inspection is not cancelled by the old request


def test_estop_mid_run_ends_it_and_refuses_a_start_until_reset(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path)
    cell.after_finding = lambda n: core.estop_changed(True) if n == 1 else None
    run_dir, report = inspect(core)
    assert report.missing[0] == ("stopped in phase execute: emergency stop pressed (inspection/estop) while waiting "
                                 "for tactile findings; the arm was halted")
    assert report.summary.tactile_presses == 1
    assert [r["active"] for r in events(run_dir, "estop")] == [True]
    with pytest.raises(StartRefused, match=r"emergency stop active: reset it \(inspection/estop_reset\) first"):
        core.start()
    core.estop_changed(False)
    cell.after_finding = lambda _n: None
    second_dir, second = inspect(core)
    assert second_dir != run_dir and second.complete


def test_every_run_gets_a_folder_of_its_own(cell, tmp_path) -> None:
    """Two runs named by the same second never share a folder (a rerun would append to the first's
    journal and overwrite its report); a run root that cannot hold folders is a refused start."""
    core = make_core(cell, tmp_path)
    first_dir, _ = inspect(core)
    cell.clock.now = 0.0  # the second run starts in the same wall-clock second
    second_dir, second = inspect(core)
    assert second_dir != first_dir and second_dir.name == f"{first_dir.name}_2" and second.complete
    assert len(events(first_dir, "finding")) == len(events(second_dir, "finding"))
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    with pytest.raises(StartRefused, match=r"run_root: cannot create a run folder in .*a_file"):
        make_core(CellDouble(SimulatedClock()), blocked).start()


def test_a_start_while_running_is_refused(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path)
    refusals: list[str] = []

    def try_again(_number: int) -> None:
        with pytest.raises(StartRefused) as refused:
            core.start()
        refusals.append(str(refused.value))

    cell.camera_trigger.on_call = lambda n: (try_again(n), cell.frame_taken(n))
    assert inspect(core)[1].complete
    assert refusals == ["an inspection is running (phase capture)"]


@pytest.mark.parametrize(("regions", "plan", "missing"), [
    (json.dumps({"records": [{"kind": "scan_region", "schema_version": "1.0", "id": "r0"}]}), PLAN,
     "stopped in phase detect: records[0].center: required field is missing"),
    (None, "{not json", "stopped in phase plan: inspection/plan/json: not valid JSON"),
    (None, json.dumps({"presses": [], "cycle_time_s": "soon"}),
     "stopped in phase plan: inspection/plan/json.cycle_time_s: expected a finite number of seconds"),
    (None, json.dumps({"presses": [], "cycle_time_s": 0.0, "refused": "workspace_max[x] 0.7 m",
                       "unreachable": [{"region": "r0", "reason": "plan refused as unsafe"}]}),
     "stopped in phase plan: press plan refused by the safety check: workspace_max[x] 0.7 m"),
])
def test_a_malformed_or_refused_message_ends_in_a_partial_report(cell, tmp_path, regions, plan, missing) -> None:
    cell.regions_text = regions or cell.regions_text
    cell.plan_text = plan
    core = make_core(cell, tmp_path)
    _, report = inspect(core)
    assert not report.complete and any(m.startswith(missing) for m in report.missing), report.missing
    assert cell.executed == [] and cell.states[-1]["phase"] == "idle"


def test_bad_findings_and_truth_are_logged_and_ignored(cell, tmp_path, caplog) -> None:
    core = make_core(cell, tmp_path)
    real_press = cell.press

    def press_with_garbage(number: int, finding: TactileFinding, verdict: Verdict) -> None:
        core.finding_received("[1, 2]", 0, 0)
        core.finding_received(json.dumps({"finding": {"id": "x"}, "verdict": verdict.to_json()}), 0, 0)
        real_press(number, finding, verdict)

    cell.press = press_with_garbage
    core.truth_received("{truncated")
    with caplog.at_level(logging.WARNING, "test_coordinator_core"):
        _, report = inspect(core)
    assert report.complete and report.summary.tactile_presses == 2 and report.summary.final_recall is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("inspection/findings/json: ignored a bad finding") for m in messages) == 4
    assert any(m.startswith("sim/ground_truth: ignored") for m in messages)


def test_ground_truth_scores_the_report(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path)
    core.truth_received(json.dumps({"defects": [{"id": "d0", "class_name": "dent", "center": [0.0, 0.0, 0.0],
                                                 "extent_m": [0.01, 0.01], "depth_m": 0.0003}]}))
    _, report = inspect(core)
    assert report.summary.stage1_recall == 1.0 and report.summary.final_recall == 1.0


def test_capture_views_0_takes_one_frame_per_pose_of_the_view_plan(cell, tmp_path) -> None:
    core = make_core(cell, tmp_path, capture_views=0)
    core.view_plan_received(3)
    assert inspect(core)[1].complete and cell.camera_trigger.calls == 3


@pytest.mark.parametrize(("plan", "reason"), [
    (None, "camera/view_plan: nothing after 5 s"),
    ((0, ""), "camera/view_plan: no poses"),
    ((0, "camera/view_plan: header.frame_id 'map', expected 'world'"),
     "camera/view_plan: header.frame_id 'map', expected 'world'"),
])
def test_capture_views_0_without_a_usable_view_plan_takes_one_view_and_says_so(cell, tmp_path, plan, reason) -> None:
    core = make_core(cell, tmp_path, capture_views=0)
    if plan is not None:
        core.view_plan_received(*plan)
    _, report = inspect(core)
    assert cell.camera_trigger.calls == 1
    assert report.missing == [f"camera view plan: {reason}; took 1 camera view (set capture_views for a camera "
                              "without a plan)"]


def test_shutdown_cancels_a_waiting_run_on_the_real_clock_and_still_writes_the_report(cell, tmp_path) -> None:
    cell.vision_reset.ready = False
    params = load_node_params("coordinator_node", overrides={"run_root": str(tmp_path), "service_timeout_s": 600.0})
    core = cell.core = Coordinator(CoordinatorSettings.from_params(params), cell, SystemClock())
    run_dir = core.start()
    time.sleep(0.3)
    started = time.monotonic()
    core.shutdown(30.0)
    assert time.monotonic() - started < 5  # the wait noticed the cancel, not its own timeout
    report = InspectionReport.load(run_dir / "report.json")
    assert report.missing == ["stopped in phase capture: the coordinator was shut down (Ctrl-C, SIGTERM, or its "
                              "launcher stopping the pipeline)"]
    assert json.loads((run_dir / "latency.json").read_text()) == {}


def test_shutdown_mid_execute_says_the_presses_were_not_reported_not_that_they_found_nothing(cell, tmp_path) -> None:
    # As `inspection demo` stops the pipeline when another node died: the report must not read as if the
    # presses ran and found nothing.
    from inspection.coordinator.machine import SHUT_DOWN

    core = make_core(cell, tmp_path)
    cell.after_finding = lambda n: core.cancel(SHUT_DOWN) if n == 1 else None  # what shutdown() asks, then joins
    _, report = inspect(core)
    assert report.missing == [
        "stopped in phase execute: the coordinator was shut down (Ctrl-C, SIGTERM, or its launcher stopping the "
        "pipeline)",
        "region r1: 1 of 1 presses were not reported: the inspection was stopped first",
        "1 of 2 planned presses were not reported: the inspection was stopped first"]


def test_an_explained_hypothesis_brings_its_latents_exemplars_into_the_report(cell, tmp_path, monkeypatch,
                                                                               caplog) -> None:
    from dataclasses import replace

    from inspection.paths import model_file
    from inspection.records import LatentEvidence

    latent = json.loads(model_file("defect_explainer.json").read_text())["atlas"][0]["id"]
    explained = [replace(HYPOTHESES[0], explanation=(LatentEvidence(latent, 0.7, "a label"),))]
    monkeypatch.setattr(sys.modules[__name__], "HYPOTHESES", explained)
    run_dir, report = inspect(make_core(cell, tmp_path / "shipped"))
    assert report.complete and [e.latent for d in report.defects for e in d.explanation] == [latent]
    assert (run_dir / "evidence" / f"latent_{latent}.png").is_file()
    assert f'alt="exemplars of latent {latent}" src="data:image/png;base64,' in (run_dir / "report.html").read_text()
    with caplog.at_level(logging.WARNING, "test_coordinator_core"):  # an atlas that is not there: named, no more
        run_dir, report = inspect(make_core(cell, tmp_path / "missing", explainer=str(tmp_path / "none.pt")))
    assert report.complete and not list((run_dir / "evidence").glob("latent_*"))
    assert f"no atlas sprite {tmp_path / 'none_atlas.png'}: the report names the latents" in caplog.text


def test_settings_come_from_the_node_parameters() -> None:
    params = load_node_params("coordinator_node", overrides={"capture_retries": 4})
    settings = CoordinatorSettings.from_params(params)
    assert settings.capture_retries == 4 and settings.run_root == Path(params["run_root"])
    assert settings.detect_timeout_s == params["detect_timeout_s"]
    assert settings.plan_timeout_s == params["plan_timeout_s"]


def test_the_core_imports_neither_ros_nor_the_nodes() -> None:
    probe = ("import sys, inspection.coordinator\n"
             "roots = {'rclpy', 'rcl_interfaces', 'std_msgs', 'std_srvs', 'sensor_msgs', 'geometry_msgs',\n"
             "         'trajectory_msgs', 'builtin_interfaces'}\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in roots or m.startswith('inspection.nodes')"
             " or m.startswith('inspection.cli')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
