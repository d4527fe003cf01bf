"""Bad messages reaching the coordinator over real DDS (the test plays the camera, Stage I and the
planner): a broken regions or plan message ends the run in a partial report naming the topic and
the field, never a stuck or crashed coordinator."""
from __future__ import annotations

import json

import pytest
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.records import ScanRegion
from inspection.nodes.common import LATCHED
from inspection.nodes.ros_convert import records_to_messages
from tests.conftest import spin_until
from tests.fault_harness import NodeProcess, journal_events, start_inspection, wait_for_report

GOOD_REGIONS = records_to_messages([ScanRegion("r0", (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.01)], "part",
                                   type("Stamp", (), {"sec": 1, "nanosec": 0})())[1].data


@pytest.mark.parametrize(("regions", "plan", "missing"), [
    ('{"records": [{"kind": "scan_region", "schema_version": "1.0", "id": "r0"}]}', None,
     "stopped in phase detect: records[0].center: required field is missing"),
    (GOOD_REGIONS, "{not json", "stopped in phase plan: inspection/plan/json: not valid JSON"),
    (GOOD_REGIONS, json.dumps({"presses": [], "cycle_time_s": "soon"}),
     "stopped in phase plan: inspection/plan/json.cycle_time_s: expected a finite number of seconds"),
])
def test_bad_message_ends_the_run_in_a_partial_report(ros_env, ros_node, tmp_path, regions, plan, missing) -> None:
    coordinator = NodeProcess("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}",
                              "-p", "plan_timeout_s:=20.0", "-p", "detect_timeout_s:=20.0")
    regions_pub = ros_node.create_publisher(String, "inspection/scan_regions/json", LATCHED)
    plan_pub = ros_node.create_publisher(String, "inspection/plan/json", LATCHED)

    def answer(_request, response):
        response.success, response.message = True, "test stand-in"
        return response

    def capture(_request, response):
        regions_pub.publish(String(data=regions))
        return answer(_request, response)

    ros_node.create_service(Trigger, "vision/reset", answer)
    ros_node.create_service(Trigger, "sim/capture", capture)
    try:
        run_dir = start_inspection(ros_node, tmp_path)
        if plan is not None:  # after the regions, as the planner would
            assert spin_until(ros_node, lambda: journal_events(run_dir, "regions"), 30), coordinator.output
            plan_pub.publish(String(data=plan))
        report = wait_for_report(ros_node, run_dir, 60, lambda: coordinator.output)
        assert coordinator.alive()
    finally:
        coordinator.stop()
    assert not report.complete and any(m.startswith(missing) for m in report.missing), report.missing
