"""Simulator node over real DDS: ground truth, camera frames on request, trajectory execution and a
tactile frame for every press."""
from __future__ import annotations

import json

import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.cell import load_cell
from inspection.config import load_node_params
from inspection.model import ScanRegion
from inspection.nodes.ros_convert import image_to_numpy, joint_trajectory
from inspection.nodes.sim_node import make_scene
from inspection.planning.planner import TactileScanPlanner
from inspection.planning.surface import Surface
from tests.conftest import spin_until, start_node, stop_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


def test_sim_node_serves_camera_arm_and_tactile(ros_env, ros_node) -> None:
    process = start_node("inspection.nodes.sim_node", ros_env, "-p", "seed:=4", "-p", "image_width:=480",
                         "-p", "image_height:=270")
    got: dict[str, list] = {k: [] for k in ("truth", "background", "image", "info", "joints", "tactile", "press")}
    subscriptions = [
        (String, "sim/ground_truth", "truth", LATCHED), (Image, "tactile/background", "background", LATCHED),
        (Image, "camera/image_raw", "image", qos_profile_sensor_data),
        (CameraInfo, "camera/camera_info", "info", qos_profile_sensor_data),
        (JointState, "joint_states", "joints", 10), (Image, "tactile/image_raw", "tactile", RELIABLE),
        (String, "tactile/press", "press", RELIABLE),
    ]
    for msg_type, topic, key, qos in subscriptions:
        ros_node.create_subscription(msg_type, topic, lambda m, key=key: got[key].append(m), qos)
    trajectories = ros_node.create_publisher(JointTrajectory, "joint_trajectory", RELIABLE)
    try:
        assert spin_until(ros_node, lambda: got["truth"] and got["background"] and got["joints"], 60), \
            stop_node(process)
        truth = json.loads(got["truth"][0].data)
        scene = make_scene(load_node_params("sim_node", overrides={"seed": 4}))
        assert [d["id"] for d in truth["defects"]] == [d.id for d in scene.defects]
        assert all("camera_visible" in d for d in truth["defects"])

        client = ros_node.create_client(Trigger, "sim/capture")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        assert spin_until(ros_node, lambda: future.done() and got["image"] and got["info"], 60)
        image = image_to_numpy(got["image"][0])
        assert image.shape == (270, 480, 3) and image.std() > 5  # a rendered part, not a blank frame
        assert got["info"][0].width == 480 and got["info"][0].k[0] > 0

        # Plan presses over one geometric defect and let the simulated arm execute them.
        cell = load_cell()
        target = next(d for d in scene.defects if d.is_geometric)
        plan = TactileScanPlanner(cell).plan(Surface.from_arrays(scene.part.vertices, scene.part.triangles),
                                             [ScanRegion("r0", target.center, target.normal, 0.004)])
        assert plan.presses and not plan.unreachable
        positions, times = plan.trajectory.as_arrays()
        trajectories.publish(joint_trajectory(plan.trajectory.joint_names, positions, times))
        expected = len(plan.presses)
        assert spin_until(ros_node, lambda: len(got["press"]) >= expected and len(got["tactile"]) >= expected,
                          times[-1] + 20), (len(got["press"]), expected)
        press = json.loads(got["press"][0].data)
        sensor_to_part = np.array(press["sensor_to_part"])
        planned = plan.presses[0].press
        assert np.linalg.norm(sensor_to_part[:3, 3] - (planned.position - planned.normal * press["depth_m"])) < 1e-3
        assert abs(press["depth_m"] - cell.tactile.press_depth_m) < 1e-4
        frame = image_to_numpy(got["tactile"][0])
        background = image_to_numpy(got["background"][0])
        assert frame.shape == (240, 320, 3)
        assert np.abs(frame.astype(int) - background.astype(int)).mean() > 1.0  # the press shows
        assert spin_until(ros_node, lambda: np.allclose(got["joints"][-1].position, positions[-1], atol=1e-6),
                          times[-1] + 10)  # the arm ends where the trajectory ends
    finally:
        stop_node(process)
