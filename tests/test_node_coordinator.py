"""Coordinator node over real DDS: a run that cannot proceed, or is stopped, still ends in a report
that says what is missing, and its journal."""
from __future__ import annotations

import json
import signal
import time

from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.model import InspectionReport
from inspection.nodes.common import LATCHED
from tests.conftest import spin_until, start_node, stop_node


def _start(ros_node) -> str:
    client = ros_node.create_client(Trigger, "inspection/start")
    assert client.wait_for_service(timeout_sec=60)
    future = client.call_async(Trigger.Request())
    assert spin_until(ros_node, future.done, 30) and future.result().success
    return future.result().message


def test_timeout_ends_in_a_partial_report(ros_env, ros_node, tmp_path) -> None:
    process = start_node("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                         "-p", "service_timeout_s:=2.0")
    try:
        run_dir = _start(ros_node)
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
    run_dir = _start(ros_node)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)  # the operator stops the cell while it waits for the camera
    process.wait(timeout=30)
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
        run_dir = tmp_path / _start(ros_node).split("/")[-1]
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
