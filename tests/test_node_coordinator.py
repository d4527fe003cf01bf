"""Coordinator node over real DDS: a run that cannot proceed, or is stopped, still ends in a report
that says what is missing, and its journal."""
from __future__ import annotations

import json
import signal
import time

from std_srvs.srv import Trigger

from inspection.model import InspectionReport
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
