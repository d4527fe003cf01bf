"""Coordinator node: the ROS face of the inspection's phase machine (inspection.coordinator), which runs
one inspection through explicit phases and always ends with a report. This node only maps topics and
services onto it; the phases, waits, retries, cancel/e-stop and partial reports live in the core.

    idle -> capture -> detect -> plan -> execute -> fuse -> report -> idle

Service    inspection/start (std_srvs/Trigger), inspection/cancel (std_srvs/Trigger)
Publishes  inspection/state (std_msgs/String JSON {"phase", "progress", "message", "run_dir"}, latched)
           joint_trajectory (trajectory_msgs/JointTrajectory: the plan, to the arm's trajectory controller)
Uses       vision/reset and the camera trigger service (sim/capture here), inspection/scan_regions/json,
           inspection/plan/json + inspection/trajectory, inspection/findings/json, sim/ground_truth (if any),
           inspection/estop/state (std_msgs/Bool, latched: the e-stop ends the run; no start while it is active)
           camera/view_plan (geometry_msgs/PoseArray, latched): capture_views 0 takes one frame per pose of it
Evidence   camera/image_raw + camera/camera_info + camera/pose (the frame's camera pose, same stamp; absent on
           a fixed camera), tactile/image_raw + tactile/heightmap: camera crops per hypothesis (from the view that
           shows it best), tactile frames and heightmap plots per finding, in run_dir/evidence/ as they arrive
           (inspection.fusion.evidence); latency from frame stamps to results in run_dir/latency.json
Every wait has a timeout; a timeout, a cancel, an e-stop or a refused plan ends in a partial report that
says what is missing. A camera view whose frame never reaches Stage I is captured again (capture_retries).
Everything received is journalled in the run folder as it arrives (journal.jsonl).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy._rclpy_pybind11 import InvalidHandle, RCLError
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.cell import load_cell
from inspection.coordinator import Coordinator, CoordinatorSettings, Phase, StartRefused
from inspection.errors import InputError
from inspection.fusion.evidence import CameraModel
from inspection.nodes.common import LATCHED, RELIABLE, declare_parameters, image_qos, run_node
from inspection.nodes.ros_convert import (
    ImageConversionError, image_to_numpy, image_to_rgb8, intrinsics_from_camera_info, pose_stamped_to_matrix,
    poses_to_matrices, stamp_to_ns,
)
from inspection.stamped import StampedBuffer

NODE_NAME = "coordinator_node"
FINDINGS_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
# Tactile frames and heightmaps queue here while the coordinator writes evidence; a depth of 20 kept only
# the last 20 of a run whose callbacks had fallen behind (observed once: the first presses' evidence lost,
# their findings, at depth 50, all there). 100 presses of both images are about 55 MB at most.
EVIDENCE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
POSE_WAIT_S = 2.0  # a camera frame's pose comes on another topic, published just before it


class TriggerClient:
    """An rclpy std_srvs/Trigger client as the coordinator's TriggerService port."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.srv_name

    def is_ready(self) -> bool:
        # SIGTERM shuts the context down before the node's shutdown cancels the run: a service is then
        # "not ready" (the wait ends with that cancel, and the report says it was shut down), not an error.
        try:
            return self.client.service_is_ready()
        except RuntimeError:  # "rcl node's context is invalid"
            if self.client.context.ok():
                raise
            return False

    def call(self) -> Future:
        return self.client.call_async(Trigger.Request())


class CoordinatorNode(Node):
    """Implements the coordinator's CoordinatorIO with this node's publishers and service clients."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.group = ReentrantCallbackGroup()
        self.logger = self.get_logger()
        self.cell = load_cell(self.params["cell_file"] or None)
        self.camera_info: CameraInfo | None = None
        self.camera_poses: StampedBuffer[np.ndarray] = StampedBuffer(32)
        self.state_publisher = self.create_publisher(String, "inspection/state", LATCHED)
        self.trajectory_publisher = self.create_publisher(JointTrajectory, self.params["trajectory_topic"], 10)
        self.vision_reset = TriggerClient(self.create_client(Trigger, "vision/reset", callback_group=self.group))
        self.camera_trigger = TriggerClient(self.create_client(Trigger, self.params["capture_service"],
                                                               callback_group=self.group))
        self.core = Coordinator(CoordinatorSettings.from_params(self.params), self)
        core = self.core
        self.create_subscription(String, "inspection/scan_regions/json", lambda m: core.regions_received(m.data),
                                 LATCHED, callback_group=self.group)
        self.create_subscription(String, "inspection/hypotheses/json", self.hypotheses_callback, 10,
                                 callback_group=self.group)
        self.create_subscription(String, "inspection/plan/json", lambda m: core.plan_received(m.data), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(JointTrajectory, "inspection/trajectory",
                                 lambda m: core.trajectory_received(m, stamp_to_ns(m.header.stamp)), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(String, "inspection/findings/json", self.finding_callback, FINDINGS_QOS,
                                 callback_group=self.group)
        self.create_subscription(String, "sim/ground_truth", lambda m: core.truth_received(m.data), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(Bool, "inspection/estop/state", lambda m: core.estop_changed(m.data), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(CameraInfo, "camera/camera_info", self.camera_info_callback, image_qos(),
                                 callback_group=self.group)
        self.create_subscription(Image, "camera/image_raw", self.camera_callback, image_qos(), callback_group=self.group)
        self.create_subscription(PoseStamped, "camera/pose", self.camera_pose_callback, RELIABLE,
                                 callback_group=self.group)
        self.create_subscription(PoseArray, "camera/view_plan", self.view_plan_callback, LATCHED,
                                 callback_group=self.group)
        self.create_subscription(Image, "tactile/image_raw", self.tactile_frame_callback, EVIDENCE_QOS,
                                 callback_group=self.group)
        self.create_subscription(Image, "tactile/heightmap", self.heightmap_callback, EVIDENCE_QOS,
                                 callback_group=self.group)
        self.create_service(Trigger, "inspection/start", self.start_service, callback_group=self.group)
        self.create_service(Trigger, "inspection/cancel", self.cancel_service, callback_group=self.group)
        core.publish_state(0.0, "ready")

    # --- CoordinatorIO -----------------------------------------------------------------------------
    def publish_state(self, state: dict[str, Any]) -> None:
        """Tell the world; during shutdown the topic is gone but the run must still end in a report."""
        try:
            self.state_publisher.publish(String(data=json.dumps(state)))
            self.get_logger().info(f"[{state['phase']}] {state['message']}")
        except (InvalidHandle, RCLError):
            print(f"[{state['phase']}] {state['message']}", flush=True)

    def execute(self, trajectory: object) -> None:
        self.trajectory_publisher.publish(trajectory)

    # --- inputs ------------------------------------------------------------------------------------
    def hypotheses_callback(self, message: String, info: MessageInfo) -> None:
        self.core.hypotheses_received(message.data, info["source_timestamp"], info["received_timestamp"])

    def finding_callback(self, message: String, info: MessageInfo) -> None:
        self.core.finding_received(message.data, info["source_timestamp"], info["received_timestamp"])

    def view_plan_callback(self, message: PoseArray) -> None:
        try:
            views = len(poses_to_matrices(message, "camera/view_plan", self.cell.world_frame))
        except ValueError as exc:
            self.core.view_plan_received(0, problem=str(exc))
            return
        self.core.view_plan_received(views)

    def camera_info_callback(self, message: CameraInfo) -> None:
        self.camera_info = message

    def camera_pose_callback(self, message: PoseStamped) -> None:
        try:
            self.camera_poses.put(*pose_stamped_to_matrix(message, "camera/pose", self.cell.world_frame))
        except ValueError as exc:
            self.get_logger().error(f"ignored a camera pose: {exc}")

    def camera_callback(self, message: Image) -> None:
        info = self.camera_info
        if not self.core.collecting_evidence:
            return
        stamp = stamp_to_ns(message.header.stamp)
        try:
            k = distortion = None
            if info is not None and (info.width, info.height) == (message.width, message.height):
                k, distortion = intrinsics_from_camera_info(info)
            pose = None
            if self.camera_poses.ever:  # a moving camera: this frame's pose, never another's
                pose = self.camera_poses.get(stamp, POSE_WAIT_S)
                if pose is None:
                    raise InputError(f"camera/pose: none with the frame's stamp within {POSE_WAIT_S:.0f} s")
            camera = CameraModel.from_cell(self.cell, message.width, message.height, k, distortion, pose)
            self.core.camera_frame_received(stamp, image_to_rgb8(message), camera)
        except (ImageConversionError, InputError, ValueError) as exc:
            self.get_logger().warning(f"camera/image_raw: no camera crops from this frame: {exc}")

    def tactile_frame_callback(self, message: Image) -> None:
        if not self.core.collecting_evidence:
            return
        try:
            self.core.tactile_frame_received(stamp_to_ns(message.header.stamp), image_to_rgb8(message))
        except (ImageConversionError, InputError) as exc:
            self.get_logger().warning(f"tactile/image_raw: frame not kept as evidence: {exc}")

    def heightmap_callback(self, message: Image) -> None:
        if not self.core.collecting_evidence:
            return
        try:
            self.core.heightmap_received(stamp_to_ns(message.header.stamp), image_to_numpy(message))
        except (ImageConversionError, InputError) as exc:
            self.get_logger().warning(f"tactile/heightmap: heightmap not kept as evidence: {exc}")

    # --- services ----------------------------------------------------------------------------------
    def start_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.success, response.message = True, str(self.core.start())
        except StartRefused as exc:
            response.success, response.message = False, str(exc)
        return response

    def cancel_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        phase = self.core.cancel()
        response.success, response.message = phase != Phase.IDLE, f"cancel requested in phase {phase.value}"
        return response

    def destroy_node(self) -> None:
        """On shutdown (Ctrl-C, SIGTERM) a running inspection is cancelled and still writes its report."""
        self.core.shutdown(30.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CoordinatorNode, args, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
