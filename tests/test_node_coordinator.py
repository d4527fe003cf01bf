"""Coordinator node over real DDS: a run that cannot proceed, or is stopped, still ends in a report
that says what is missing, and its journal; capture_views 0 takes one frame per pose of the view plan."""
from __future__ import annotations

import json
import signal
import time

import numpy as np
from geometry_msgs.msg import PoseArray
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.cell import load_cell
from inspection.records import InspectionReport
from inspection.nodes.common import LATCHED
from inspection.nodes.coordinator_client import start_inspection
from inspection.nodes.ros_convert import poses_message
from tests.conftest import spin_until, start_node, stop_node


def test_timeout_ends_in_a_partial_report(ros_env, ros_node, tmp_path) -> None:
    process = start_node("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                         "-p", "service_timeout_s:=2.0")
    try:
        run_dir = start_inspection(ros_node, timeout_s=60)
        report_file = tmp_path / run_dir.split("/")[-1] / "report.json"
        assert spin_until(ros_node, report_file.is_file, 30), stop_node(process)
    finally:
        stop_node(process)
    report = InspectionReport.load(report_file)
    assert not report.complete and report.defects == []
    assert "stopped in phase capture" in report.missing[0] and "vision/reset" in report.missing[0]
    assert report.summary.final_recall is None  # no ground truth on this run
    events = [json.loads(line)["event"] for line in (report_file.parent / "journal.jsonl").read_text().splitlines()]
    assert events[0] == "phase" and events[-1] == "report"


def test_shutdown_mid_run_still_writes_the_report(ros_env, ros_node, tmp_path) -> None:
    process = start_node("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                         "-p", "service_timeout_s:=60.0")
    try:
        run_dir = start_inspection(ros_node, timeout_s=60)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)  # the operator stops the cell while it waits for the camera
        process.wait(timeout=30)
    finally:
        stop_node(process)
    report = InspectionReport.load(tmp_path / run_dir.split("/")[-1] / "report.json")
    assert not report.complete and report.missing[0].startswith("stopped in phase capture")


def _call(ros_node, service: str) -> Trigger.Response:
    client = ros_node.create_client(Trigger, service)
    assert client.wait_for_service(timeout_sec=30)
    future = client.call_async(Trigger.Request())
    assert spin_until(ros_node, future.done, 30)
    return future.result()


def test_cancel_stops_the_run_in_a_partial_report_that_says_it_was_cancelled(ros_env, ros_node, tmp_path) -> None:
    states: list[dict] = []
    ros_node.create_subscription(String, "inspection/state", lambda m: states.append(json.loads(m.data)), LATCHED)
    process = start_node("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                         "-p", "service_timeout_s:=120.0")  # without the cancel it would wait two minutes
    try:
        run_dir = tmp_path / start_inspection(ros_node, timeout_s=60).split("/")[-1]
        assert spin_until(ros_node, lambda: bool(states) and states[-1]["phase"] == "capture", 30), states
        started = time.monotonic()
        response = _call(ros_node, "inspection/cancel")
        assert response.success and response.message == "cancel requested in phase capture"
        assert spin_until(ros_node, lambda: states[-1]["phase"] == "idle", 30), stop_node(process)
        assert time.monotonic() - started < 10  # the wait noticed the cancel, not its own timeout
        assert states[-1]["message"].startswith("done: 0 defects")
        idle = _call(ros_node, "inspection/cancel")  # nothing left to cancel
        assert not idle.success and idle.message == "cancel requested in phase idle"
        assert process.poll() is None  # the node lives on for the next inspection
    finally:
        stop_node(process)
    report = InspectionReport.load(run_dir / "report.json")
    assert not report.complete and report.missing == ["stopped in phase capture: cancelled"]
    html = (run_dir / "report.html").read_text()
    assert "Partial report" in html and "stopped in phase capture: cancelled" in html
    assert json.loads((run_dir / "latency.json").read_text()) == {}  # nothing measured before the cancel


def _stage_one_stand_in(ros_node, captures: list[int]) -> None:
    """vision/reset, and a camera trigger whose every frame Stage I answers at once with no regions."""
    regions = ros_node.create_publisher(String, "inspection/scan_regions/json", LATCHED)

    def reset(_request, response):
        response.success, response.message = True, "stand-in"
        return response

    def capture(_request, response):
        captures.append(len(captures))
        regions.publish(String(data=json.dumps({"stamp": {"sec": len(captures), "nanosec": 0}, "records": []})))
        return reset(_request, response)

    ros_node.create_service(Trigger, "vision/reset", reset)
    ros_node.create_service(Trigger, "sim/capture", capture)


def _run_with_capture_views_0(ros_env, ros_node, tmp_path, captures: list[int],
                              plan_timeout_s: float) -> InspectionReport:
    """One inspection by a coordinator started with ``capture_views:=0`` against the Stage I stand-in."""
    _stage_one_stand_in(ros_node, captures)
    process = start_node("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                         "-p", "capture_views:=0", "-p", f"view_plan_timeout_s:={plan_timeout_s}")
    try:
        run_dir = tmp_path / start_inspection(ros_node, timeout_s=60).split("/")[-1]
        assert spin_until(ros_node, (run_dir / "report.json").is_file, 60), stop_node(process)
    finally:
        stop_node(process)
    return InspectionReport.load(run_dir / "report.json")


def test_capture_views_0_takes_one_frame_per_pose_of_the_view_plan(ros_env, ros_node, tmp_path) -> None:
    plan = ros_node.create_publisher(PoseArray, "camera/view_plan", LATCHED)
    plan.publish(poses_message([np.eye(4)] * 3, load_cell().world_frame))
    captures: list[int] = []
    report = _run_with_capture_views_0(ros_env, ros_node, tmp_path, captures, plan_timeout_s=5.0)
    assert report.complete and report.missing == [] and len(captures) == 3


def test_capture_views_0_without_a_view_plan_takes_one_view_and_says_so(ros_env, ros_node, tmp_path) -> None:
    captures: list[int] = []
    report = _run_with_capture_views_0(ros_env, ros_node, tmp_path, captures, plan_timeout_s=1.0)
    assert len(captures) == 1 and not report.complete
    assert report.missing == ["camera view plan: camera/view_plan: nothing after 1 s; took 1 camera view "
                              "(set capture_views for a camera without a plan)"]
