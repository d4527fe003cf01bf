"""Simulator node over real DDS: ground truth, camera frames on request (the view plan, and each frame's
camera pose and photometric burst under its stamp), trajectory execution and a tactile frame for every press."""
from __future__ import annotations

import json

import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.cell import load_cell
from inspection.config import load_node_params
from inspection.geometry.surface import PartSurface
from inspection.records import ScanRegion
from inspection.nodes.ros_convert import (
    image_to_burst, image_to_numpy, joint_trajectory, pose_stamped_to_matrix, poses_to_matrices, stamp_to_ns,
)
from inspection.nodes.sim_node import BURST_TOPIC, make_scene
from inspection.planning.planner import TactileScanPlanner
from inspection.sim.cell_sim import SimulatedCell
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
        plan = TactileScanPlanner(cell).plan(PartSurface.from_arrays(scene.part.vertices, scene.part.triangles),
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


def test_estop_halts_the_arm_within_one_control_period_until_reset(ros_env, ros_node) -> None:
    import time

    from std_msgs.msg import Bool

    process = start_node("inspection.nodes.sim_node", ros_env, "-p", "image_width:=160", "-p", "image_height:=90")
    joints: list[JointState] = []
    estop_state: list[bool] = []
    ros_node.create_subscription(JointState, "joint_states", joints.append, 50)
    ros_node.create_subscription(Bool, "inspection/estop/state", lambda m: estop_state.append(m.data), LATCHED)
    trajectories = ros_node.create_publisher(JointTrajectory, "joint_trajectory", RELIABLE)
    estop, reset = (ros_node.create_client(Trigger, name) for name in ("inspection/estop", "inspection/estop_reset"))
    cell = load_cell()
    home = np.array(cell.robot.home_positions)
    period = 1.0 / load_node_params("sim_node")["joint_state_rate_hz"]

    def slow_move(seconds: float) -> JointTrajectory:
        times = np.linspace(0.0, seconds, 41)
        positions = home + np.outer(times / seconds, [0.8, 0.0, 0.0, 0.0, 0.0, 0.0])
        return joint_trajectory(cell.robot.joint_names, positions, times)

    def call(client) -> float:
        assert client.wait_for_service(timeout_sec=30)
        future = client.call_async(Trigger.Request())
        assert spin_until(ros_node, future.done, 10) and future.result().success
        return time.time()

    def stamp(message: JointState) -> float:
        return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9

    try:
        assert spin_until(ros_node, lambda: joints and estop_state == [False]
                          and trajectories.get_subscription_count() > 0, 60), stop_node(process)
        trajectories.publish(slow_move(8.0))
        assert spin_until(ros_node, lambda: joints[-1].position[0] > home[0] + 0.05, 20)
        pressed = call(estop)
        spin_until(ros_node, lambda: False, 1.0)
        after = [m for m in joints if stamp(m) > pressed + period]
        assert len(after) > 20 and estop_state[-1] is True
        assert all(np.array_equal(m.position, after[0].position) and not any(m.velocity) for m in after)
        assert home[0] + 0.05 < after[0].position[0] < home[0] + 0.8  # stopped mid-move, not at the end

        trajectories.publish(slow_move(2.0))  # refused while the stop is active
        spin_until(ros_node, lambda: False, 1.0)
        assert joints[-1].position[0] == after[0].position[0]

        call(reset)
        assert spin_until(ros_node, lambda: estop_state[-1] is False, 5)
        trajectories.publish(slow_move(2.0))
        assert spin_until(ros_node, lambda: abs(joints[-1].position[0] - (home[0] + 0.8)) < 1e-6, 10)
    finally:
        output = stop_node(process)
    assert "EMERGENCY STOP" in output and "rejected (emergency stop active" in output


def test_sim_node_publishes_the_view_plan_and_each_frames_pose_under_its_stamp(ros_env, ros_node) -> None:
    process = start_node("inspection.nodes.sim_node", ros_env, "-p", "seed:=7", "-p", "image_width:=160",
                         "-p", "image_height:=90", "-p", "camera_views:=grid")
    got: dict[str, list] = {"plan": [], "pose": [], "image": [], "burst": []}
    ros_node.create_subscription(PoseArray, "camera/view_plan", got["plan"].append, LATCHED)
    ros_node.create_subscription(PoseStamped, "camera/pose", got["pose"].append, RELIABLE)
    ros_node.create_subscription(Image, "camera/image_raw", got["image"].append, qos_profile_sensor_data)
    ros_node.create_subscription(Image, BURST_TOPIC, got["burst"].append, qos_profile_sensor_data)
    client = ros_node.create_client(Trigger, "sim/capture")
    try:
        assert spin_until(ros_node, lambda: got["plan"], 60), stop_node(process)
        cell = load_cell()
        scene = make_scene(load_node_params("sim_node", overrides={"seed": 7}))
        expected = SimulatedCell(cell, scene, 160, 90, views="grid")
        plan = poses_to_matrices(got["plan"][0], "camera/view_plan", cell.world_frame)
        assert len(plan) == len(expected.views) > 1
        assert all(np.allclose(p, expected.world_from_camera(k), atol=1e-9) for k, p in enumerate(plan))
        assert client.wait_for_service(timeout_sec=30)
        spin_until(ros_node, lambda: False, 1.0)  # best-effort images: let the node's writer match our reader
        answers = []
        for _ in range(len(plan) + 1):  # one more than the plan: the cycle starts again
            future = client.call_async(Trigger.Request())
            assert spin_until(ros_node, future.done, 60)
            answers.append(future.result().message)
            count = len(answers)
            assert spin_until(ros_node, lambda: len(got["pose"]) >= count and len(got["image"]) >= count
                              and len(got["burst"]) >= count, 30)
    finally:
        stop_node(process)
    assert answers[0] == f"published view 0 of {len(plan)} on camera/image_raw"
    poses = [pose_stamped_to_matrix(m, "camera/pose", cell.world_frame) for m in got["pose"]]
    assert [stamp for stamp, _ in poses] == [stamp_to_ns(m.header.stamp) for m in got["image"]]
    assert all(np.allclose(pose, plan[k % len(plan)], atol=1e-9) for k, (_, pose) in enumerate(poses))
    # The view's burst: one grey image per light of cell.yaml's rig, under the frame's stamp and frame_id.
    assert [stamp_to_ns(m.header.stamp) for m in got["burst"]] == [stamp_to_ns(m.header.stamp) for m in got["image"]]
    assert {m.header.frame_id for m in got["burst"]} == {cell.camera.frame}
    lights = len(cell.camera.photometric.azimuths_deg)
    for burst in (image_to_burst(m, BURST_TOPIC) for m in got["burst"]):
        assert burst.shape == (90, 160, lights) and burst.std() > 5  # rendered, not blank
