"""Safety through the nodes over real DDS: the planner node publishes a refusal (and no trajectory) for
a plan that breaks a hard limit, and the coordinator ends the run at once with a report saying why and
listing every region as not inspected. (The e-stop: tests/test_node_sim.py, tests/test_faults_pipeline.py.)"""
from __future__ import annotations

import json
import math

import trimesh
import yaml
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection import paths
from inspection.records import ScanRegion
from inspection.nodes.common import LATCHED
from inspection.nodes.ros_convert import records_to_messages
from inspection.sim.shapes import cylinder_panel
from tests.conftest import spin_until
from tests.fault_harness import NodeProcess, start_inspection, wait_for_report


def test_unsafe_plan_is_refused_by_the_planner_node_and_reported(ros_env, ros_node, tmp_path) -> None:
    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    document["safety"]["workspace_max"][0] = 0.7  # the panel's far side (world x 0.75) is out of bounds
    cell_file = tmp_path / "cell.yaml"
    cell_file.write_text(yaml.safe_dump(document))
    mesh = tmp_path / "panel.stl"
    trimesh.Trimesh(*cylinder_panel(1.0, 0.6, 0.6)).export(mesh)
    normal = (math.sin(0.2), 0.0, math.cos(0.2))
    regions = [ScanRegion("far", (normal[0], 0.1, normal[2] - 1.0), normal, 0.01)]
    _, regions_message = records_to_messages(regions, "part", ros_node.get_clock().now().to_msg())

    nodes = {"planner": NodeProcess("inspection.nodes.planner_node", ros_env, "-p", f"part_mesh:={mesh}",
                                    "-p", f"cell_file:={cell_file}"),
             "coordinator": NodeProcess("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={tmp_path}")}
    trajectories: list[JointTrajectory] = []
    plans: list[dict] = []
    ros_node.create_subscription(JointTrajectory, "inspection/trajectory", trajectories.append, LATCHED)
    ros_node.create_subscription(String, "inspection/plan/json", lambda m: plans.append(json.loads(m.data)), LATCHED)
    regions_pub = ros_node.create_publisher(String, "inspection/scan_regions/json", LATCHED)

    def answer(_request, response):
        response.success, response.message = True, "test stand-in"
        return response

    def capture(request, response):  # the camera and Stage I at once: this frame shows one region
        regions_pub.publish(String(data=regions_message.data))
        return answer(request, response)

    ros_node.create_service(Trigger, "vision/reset", answer)
    ros_node.create_service(Trigger, "sim/capture", capture)

    def explain() -> str:
        return "\n".join(f"--- {name}\n{process.output[-3000:]}" for name, process in nodes.items())

    try:
        run_dir = start_inspection(ros_node, tmp_path)
        report = wait_for_report(ros_node, run_dir, 120, explain)
        assert spin_until(ros_node, lambda: plans, 10)
    finally:
        for process in nodes.values():
            process.stop()
    (plan,) = plans
    assert plan["presses"] == [] and "safety.workspace_max[x] 0.7 m" in plan["refused"]
    assert plan["unreachable"] == [{"region": "far", "position": list(regions[0].center),
                                    "reason": "plan refused as unsafe"}]
    assert trajectories == []  # nothing the arm could execute was ever published
    assert not report.complete and report.summary.tactile_presses == 0
    assert "region far: unreachable (plan refused as unsafe)" in report.missing
    assert any(m.startswith("stopped in phase plan: press plan refused by the safety check: unsafe plan refused")
               for m in report.missing), report.missing
    assert "planning failed: unsafe plan refused" in nodes["planner"].output
