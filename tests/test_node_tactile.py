"""Tactile node over real DDS: press frames in, findings out; every error path logs and goes on."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from inspection.cell import load_cell
from inspection.geometry.mesh_io import export_stl
from inspection.geometry.surface import PartSurface
from inspection.records import TactileFinding
from inspection.nodes.ros_convert import numpy_to_image
from inspection.sim.defects import random_defect
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, surface_gap
from tests.conftest import spin_until, start_node, stop_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


def _press_pose(x: float) -> np.ndarray:
    """Sensor frame pressed 0.8 mm into a flat part at (x, 0, 0): sensor +z = -part z."""
    pose = np.diag([1.0, -1.0, -1.0, 1.0])
    pose[:3, 3] = (x, 0.0, -0.0008)
    return pose


def test_findings_for_presses_and_survival_of_bad_input(ros_env, ros_node, tmp_path) -> None:
    """With the part's mesh (``part_mesh``), as the launch file gives it: where each press's gel leaves the
    part is taken from it, and the node says so by not falling back to the image."""
    config = load_cell().tactile
    simulator = TactileSimulator(config)
    rng = np.random.default_rng(0)
    dent = random_defect(rng, "dent", "g0", np.array([0.1, 0.0, 0.0]), np.array([0, 0, 1.0]), np.array([1.0, 0, 0]))
    frames = {}
    for name, x, defects in (("dent", 0.1, [dent]), ("clean", 0.2, [])):
        gap, heights = surface_gap(config, _press_pose(x), LocalSurface(), defects)
        frames[name] = simulator.press(gap, config.press_depth_m, rng, defects, defect_heights=heights).image
    # The flat part the presses land on, 0.05-0.25 m along x: every press lies wholly on it.
    corners = np.array([[0.05, -0.03, 0.0], [0.25, -0.03, 0.0], [0.25, 0.03, 0.0], [0.05, 0.03, 0.0]])
    part = PartSurface.from_arrays(corners, np.array([[0, 1, 2], [0, 2, 3]]))
    mesh = export_stl(part, tmp_path / "part.stl")
    process = start_node("inspection.nodes.tactile_node", ros_env, "-p", f"part_mesh:={mesh}")
    findings: list[dict] = []
    ros_node.create_subscription(String, "inspection/findings/json", lambda m: findings.append(json.loads(m.data)),
                                 RELIABLE)
    background_pub = ros_node.create_publisher(Image, "tactile/background", LATCHED)
    plan_pub = ros_node.create_publisher(String, "inspection/plan/json", LATCHED)
    frame_pub = ros_node.create_publisher(Image, "tactile/image_raw", RELIABLE)
    press_pub = ros_node.create_publisher(String, "tactile/press", RELIABLE)

    def send(index: int, image: np.ndarray | None, x: float, raw: str | None = None) -> None:
        stamp = ros_node.get_clock().now().to_msg()
        if image is not None:
            frame_pub.publish(numpy_to_image(image, "rgb8", "gelsight", stamp))
        press_pub.publish(String(data=raw or json.dumps({
            "stamp": {"sec": stamp.sec, "nanosec": stamp.nanosec}, "index": index,
            "sensor_to_part": _press_pose(x).tolist(), "depth_m": 0.0 if index == 7 else config.press_depth_m})))
        spin_until(ros_node, lambda: False, 0.3)

    try:
        assert spin_until(ros_node, lambda: frame_pub.get_subscription_count() > 0
                          and press_pub.get_subscription_count() > 0, 60), stop_node(process)
        send(0, frames["dent"], 0.1)                       # before any background frame: waits for it
        plan_pub.publish(String(data=json.dumps({"presses": [{"region": "r7", "position": [0.1, 0.0, 0.0]}],
                                                 "cycle_time_s": 4.0})))
        background_pub.publish(numpy_to_image(simulator.background(rng), "rgb8", "gelsight"))
        spin_until(ros_node, lambda: False, 1.0)
        send(1, np.zeros((240, 320, 3), np.uint8), 0.1)     # black frame
        send(2, np.full((240, 320, 3), 255, np.uint8), 0.1)  # saturated frame
        send(3, None, 0.1, raw="{not json")                  # broken press record
        send(6, None, 0.1)                                   # press whose frame was dropped
        send(7, simulator.background(rng), 0.1)              # nothing felt, and the arm says it never pressed
        send(4, frames["dent"], 0.1)
        send(5, frames["clean"], 0.2)
        assert spin_until(ros_node, lambda: len(findings) >= 3, 30), stop_node(process)
        spin_until(ros_node, lambda: False, 7.0)  # past the partner timeout of the dropped frame
        assert process.poll() is None
    finally:
        output = stop_node(process)
    by_index = {f["finding"]["press_index"]: f for f in findings}
    assert set(by_index) == {0, 4, 5}, output
    # the press paired before any background waited for it instead of being lost
    assert by_index[0]["finding"]["class_name"] == "dent" and "press 0 waits for tactile/background" in output
    dent_finding = TactileFinding.from_json(by_index[4]["finding"])
    assert dent_finding.region_id == "r7"
    assert by_index[4]["press_position"] == pytest.approx(_press_pose(0.1)[:3, 3].tolist())
    assert by_index[4]["press_depth_m"] == pytest.approx(config.press_depth_m)
    assert TactileFinding.from_json(by_index[5]["finding"]).region_id == ""  # 0.1 m from the planned press
    assert np.linalg.norm(np.subtract(dent_finding.position, (0.1, 0.0, 0.0))) < 0.01
    clean = TactileFinding.from_json(by_index[5]["finding"])
    assert clean.class_name == "none" and by_index[5]["verdict"]["accepted"]
    assert "part_mesh: none given" not in output
    assert "empty/black" in output and "saturated" in output
    assert "tactile/press: ignored a bad press record" in output
    assert "no tactile frame within" in output and "press 7: no contact between gel and part" in output
