"""Planner node over real DDS: scan regions in, a joint trajectory and a press plan out."""
from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.cell import load_cell
from inspection.records import ScanRegion
from inspection.nodes.ros_convert import records_to_messages, trajectory_arrays
from inspection.sim.shapes import cylinder_panel
from tests.conftest import spin_until, start_node, stop_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def test_regions_become_a_trajectory_within_limits(ros_env, ros_node, tmp_path) -> None:
    vertices, triangles = cylinder_panel(1.0, 0.6, 0.6)
    mesh_path = tmp_path / "panel.stl"
    trimesh.Trimesh(vertices, triangles).export(mesh_path)
    process = start_node("inspection.nodes.planner_node", ros_env, "-p", f"part_mesh:={mesh_path}")
    received: dict[str, object] = {}
    ros_node.create_subscription(JointTrajectory, "inspection/trajectory", lambda m: received.update(traj=m), LATCHED)
    ros_node.create_subscription(String, "inspection/plan/json", lambda m: received.update(plan=m), LATCHED)
    publisher = ros_node.create_publisher(String, "inspection/scan_regions/json", LATCHED)
    regions = [ScanRegion("r0", (0.0, 0.0, 0.0), (0, 0, 1), 0.01),
               ScanRegion("r1", (0.05, 0.08, -0.00125), (0.05, 0, 1), 0.012)]
    _, side_channel = records_to_messages(regions, "part", ros_node.get_clock().now().to_msg())
    publisher.publish(side_channel)
    try:
        assert spin_until(ros_node, lambda: "traj" in received and "plan" in received, 90), stop_node(process)
        names, positions, times = trajectory_arrays(received["traj"])
        cell = load_cell()
        assert names == list(cell.robot.joint_names)
        assert np.all(np.diff(times) > 0)
        plan = json.loads(received["plan"].data)
        assert {p["region"] for p in plan["presses"]} == {"r0", "r1"} and plan["unreachable"] == []
        assert plan["full_coverage_presses"] > 10 * len(plan["presses"])
        assert plan["cycle_time_s"] == pytest.approx(times[-1], abs=1e-5)
        stamp = received["traj"].header.stamp
        assert plan["trajectory_stamp"] == {"sec": stamp.sec, "nanosec": stamp.nanosec}  # the pair's mark
        assert plan["regions_stamp"] == json.loads(side_channel.data)["stamp"]  # the regions it answers
        client = ros_node.create_client(Trigger, "inspection/plan")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        assert spin_until(ros_node, future.done, 60)
        assert future.result().success and "presses" in future.result().message
    finally:
        stop_node(process)


def test_bad_regions_message_is_logged_and_the_node_survives(ros_env, ros_node, tmp_path) -> None:
    vertices, triangles = cylinder_panel(1.0, 0.6, 0.6)
    mesh_path = tmp_path / "panel.stl"
    trimesh.Trimesh(vertices, triangles).export(mesh_path)
    process = start_node("inspection.nodes.planner_node", ros_env, "-p", f"part_mesh:={mesh_path}")
    plans: list[String] = []
    ros_node.create_subscription(String, "inspection/plan/json", plans.append, LATCHED)
    publisher = ros_node.create_publisher(String, "inspection/scan_regions/json", QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    assert spin_until(ros_node, lambda: publisher.get_subscription_count() > 0, 60)
    publisher.publish(String(data='{"records": [{"kind": "scan_region", "schema_version": "1.0", "id": "x"}]}'))
    spin_until(ros_node, lambda: False, 1.0)  # the node keeps one message per topic: let it take this one
    # A good message after the bad one: its plan proves the bad one was handled and the node lived on.
    _, good = records_to_messages([ScanRegion("r0", (0.0, 0.0, 0.0), (0, 0, 1), 0.005)], "part",
                                  ros_node.get_clock().now().to_msg())
    publisher.publish(good)
    try:
        assert spin_until(ros_node, lambda: bool(plans), 90)
        assert process.poll() is None
    finally:
        output = stop_node(process)
    assert "inspection/scan_regions/json: ignored a bad message" in output
    assert "records[0].center: required field is missing" in output
