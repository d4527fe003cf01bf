"""Simulated cell node: stands in for the cell's camera, arm and tactile sensor drivers.

Publishes  camera/image_raw, camera/camera_info   on the capture service, or at camera_rate_hz
           camera/pose (geometry_msgs/PoseStamped, world frame)  the camera's optical frame for each frame,
                                                   same stamp as the image, published just before it
           camera/photometric/image_raw (sensor_msgs/Image, 8UC<lights>)  when cell.yaml has camera.photometric:
                                                   the view's photometric-stereo burst, one grey image per light
                                                   in the rig's order as channels; same stamp and frame_id as
                                                   the image, published just before it
           camera/view_plan (geometry_msgs/PoseArray, world frame, latched)  one optical-frame pose per view
           joint_states                            the simulated arm, at joint_state_rate_hz
           tactile/image_raw                       one frame per press (sensor resting pressed in)
           tactile/press (std_msgs/String)         JSON {"stamp", "index", "sensor_to_part", "depth_m"} per frame
           tactile/background (latched)            the no-contact frame reconstruction subtracts
           sim/ground_truth (std_msgs/String, latched)   the scene: part, defects, camera visibility
           inspection/estop/state (std_msgs/Bool, latched)       true while the emergency stop is active
Subscribes joint_trajectory (trajectory_msgs/JointTrajectory): executed in time, as a position controller
Service    sim/capture (std_srvs/Trigger): render and publish one camera frame, from the next view of the plan
           inspection/estop (std_srvs/Trigger): emergency stop; the arm holds where it is at that instant and
           trajectories are refused until inspection/estop_reset (std_srvs/Trigger)
The view plan (camera_views) is the fixed cell camera, or a grid of normal views at its stand-off that covers
the whole part; captures cycle through it (the simulated camera moves without an arm). Optical frames follow
REP-103's camera_optical convention: z forward, x right, y down.
Topic names and types are those of the real cell's drivers, so the pipeline cannot tell them apart. On the
cell, inspection/estop must be wired to the controller's stop (e.g. the UR dashboard's stop, or cancelling
the joint_trajectory_controller's goal) and inspection/estop/state fed from the robot's safety status; the
hardware e-stop button stays the primary stop, this service is the software one.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.nodes.common import LATCHED, RELIABLE, declare_parameters, image_qos, run_node
from inspection.nodes.ros_convert import (
    burst_to_image, camera_info_from_config, numpy_to_image, pose_stamped, poses_message, trajectory_arrays,
)
from inspection.sim.cell_sim import PressEvent, SimulatedCell
from inspection.sim.parts import random_part
from inspection.sim.scene import Scene, random_scene

NODE_NAME = "sim_node"
BURST_TOPIC = "camera/photometric/image_raw"


def make_scene(params: dict) -> Scene:
    """The scene file when given, else a random part of ``part_kind`` with random defects from ``seed``."""
    if params["scene_file"]:
        return Scene.load(params["scene_file"])
    rng = np.random.default_rng(params["seed"])
    kind = params["part_kind"]
    part = random_part(rng) if kind == "random" else random_part(rng, kind)
    return random_scene(rng, part)


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.cell = load_cell(self.params["cell_file"] or None)
        scene = make_scene(self.params)
        self.sim = SimulatedCell(self.cell, scene, self.params["image_width"] or None,
                                 self.params["image_height"] or None, seed=self.params["seed"],
                                 views=self.params["camera_views"], view_overlap=self.params["view_overlap"])
        self.next_view = 0
        rendered = self.sim.camera  # the cell camera at the rendered resolution
        self.rendered_camera = replace(self.cell.camera, width=rendered.width, height=rendered.height,
                                       fx=rendered.fx, fy=rendered.fy, cx=rendered.cx, cy=rendered.cy)
        self.sim_lock = threading.Lock()  # the arm/tactile step and the camera render share the simulator's rng
        # Simulated time at which the e-stop was pressed, until the step applies it (a render may hold sim_lock).
        self.estop_at: float | None = None
        self.estopped = False
        self.start_time = time.monotonic()
        if self.params["export_mesh"]:
            from inspection.geometry.mesh_io import export_stl

            export_stl(scene.part, self.params["export_mesh"])
        self.image_publisher = self.create_publisher(Image, "camera/image_raw", image_qos())
        self.info_publisher = self.create_publisher(CameraInfo, "camera/camera_info", image_qos())
        self.burst_publisher = (self.create_publisher(Image, BURST_TOPIC, image_qos())
                                if self.cell.camera.photometric is not None else None)
        self.pose_publisher = self.create_publisher(PoseStamped, "camera/pose", RELIABLE)
        self.view_plan_publisher = self.create_publisher(PoseArray, "camera/view_plan", LATCHED)
        self.joint_publisher = self.create_publisher(JointState, "joint_states", 10)
        self.tactile_publisher = self.create_publisher(Image, "tactile/image_raw", RELIABLE)
        self.press_publisher = self.create_publisher(String, "tactile/press", RELIABLE)
        self.background_publisher = self.create_publisher(Image, "tactile/background", LATCHED)
        self.truth_publisher = self.create_publisher(String, "sim/ground_truth", LATCHED)
        self.estop_publisher = self.create_publisher(Bool, "inspection/estop/state", LATCHED)
        camera_group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "sim/capture", self.capture_service, callback_group=camera_group)
        if self.params["camera_rate_hz"] > 0:
            self.create_timer(1.0 / self.params["camera_rate_hz"], self.publish_camera_frame,
                              callback_group=camera_group)
        self.create_subscription(JointTrajectory, "joint_trajectory", self.trajectory_callback, RELIABLE)
        estop_group = MutuallyExclusiveCallbackGroup()  # never queued behind a render or a step
        self.create_service(Trigger, "inspection/estop", self.estop_service, callback_group=estop_group)
        self.create_service(Trigger, "inspection/estop_reset", self.estop_reset_service, callback_group=estop_group)
        self.estop_publisher.publish(Bool(data=False))
        self.create_timer(1.0 / self.params["joint_state_rate_hz"], self.step_callback)
        stamp = self.get_clock().now().to_msg()
        self.background_publisher.publish(numpy_to_image(self.sim.background_frame(), "rgb8",
                                                         self.cell.tactile.frame, stamp))
        views = self.sim.views
        self.view_plan_publisher.publish(poses_message([self.sim.world_from_camera(k) for k in range(len(views))],
                                                       self.cell.world_frame, stamp))
        # Ground truth renders every view once (seconds): after start-up, in the camera's group, so the node
        # answers at once and a capture never shares the CPU with it; one view a step, so a shutdown waits
        # for one render at most, not for all of them.
        self.truth_views_left = list(range(len(views)))
        self.truth_timer = self.create_timer(0.0, self.ground_truth_step, callback_group=camera_group)
        geometric = sum(d.is_geometric for d in scene.defects)
        self.get_logger().info(f"simulated {scene.part.params['kind']} with {len(scene.defects)} defects "
                               f"({geometric} geometric), camera {self.sim.camera.width}x{self.sim.camera.height}, "
                               f"{len(views)} view(s) ({self.params['camera_views']})")

    def ground_truth_step(self) -> None:
        """Render the next view the ground truth needs; once none is left, publish it."""
        if self.truth_views_left:
            self.sim.defect_views(self.truth_views_left.pop(0))
            return
        self.truth_timer.cancel()
        self.truth_publisher.publish(String(data=json.dumps(self.sim.ground_truth())))

    def now_s(self) -> float:
        """Simulated time: wall-clock seconds since start times ``time_scale``."""
        return (time.monotonic() - self.start_time) * self.params["time_scale"]

    def capture_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        view = self.next_view
        self.publish_camera_frame()
        response.success = True
        response.message = f"published view {view} of {len(self.sim.views)} on camera/image_raw"
        return response

    def publish_camera_frame(self) -> None:
        """Render the next view of the plan; its pose and its photometric burst (on a camera with the lights)
        go out first, under the image's stamp, so the vision node holds both when the image arrives."""
        view, self.next_view = self.next_view, (self.next_view + 1) % len(self.sim.views)
        with self.sim_lock:
            render = self.sim.capture(view)
            burst = self.sim.capture_burst(view) if self.burst_publisher is not None else None
        stamp = self.get_clock().now().to_msg()
        self.pose_publisher.publish(pose_stamped(self.sim.world_from_camera(view), self.cell.world_frame, stamp))
        if self.burst_publisher is not None:
            self.burst_publisher.publish(burst_to_image(burst, BURST_TOPIC, self.cell.camera.frame, stamp))
        self.image_publisher.publish(numpy_to_image(render.image, "rgb8", self.cell.camera.frame, stamp))
        self.info_publisher.publish(camera_info_from_config(self.rendered_camera, stamp))

    def estop_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Record the instant; the next step holds the arm at its position then, whatever it was doing."""
        at = self.now_s()
        self.estopped = True
        self.estop_at = at
        self.estop_publisher.publish(Bool(data=True))
        self.get_logger().warning(f"EMERGENCY STOP at t {at:.3f} s: the arm holds; trajectories are refused "
                                  "until inspection/estop_reset")
        response.success, response.message = True, f"arm halted at t {at:.3f} s"
        return response

    def estop_reset_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        was = self.estopped
        self.estopped = False
        self.estop_publisher.publish(Bool(data=False))
        self.get_logger().info("emergency stop reset: trajectories are accepted again")
        response.success, response.message = True, "reset" if was else "was not stopped"
        return response

    def trajectory_callback(self, message: JointTrajectory) -> None:
        try:
            names, positions, times = trajectory_arrays(message)
            with self.sim_lock:
                if self.estopped:
                    raise InputError("emergency stop active; call inspection/estop_reset")
                self.sim.robot.start(names, positions, times, self.now_s())
        except (InputError, ValueError) as exc:
            self.get_logger().error(f"joint_trajectory: rejected ({exc}); the arm holds its position")
            return
        self.get_logger().info(f"executing a trajectory of {len(times)} points, {times[-1]:.1f} s")

    def step_callback(self) -> None:
        now = self.now_s()
        with self.sim_lock:
            halt_at, self.estop_at = self.estop_at, None
            if halt_at is not None:
                self.sim.halt(halt_at)
            state = self.sim.robot.state(now)
            events = self.sim.step(now)
        message = JointState()
        message.header.stamp = self.get_clock().now().to_msg()
        message.name = list(state.names)
        message.position = [float(v) for v in state.positions]
        message.velocity = [float(v) for v in state.velocities]
        self.joint_publisher.publish(message)
        for event in events:
            self.publish_press(event, message.header.stamp)

    def publish_press(self, event: PressEvent, stamp) -> None:
        self.tactile_publisher.publish(numpy_to_image(event.frame.image, "rgb8", self.cell.tactile.frame, stamp))
        self.press_publisher.publish(String(data=json.dumps({
            "stamp": {"sec": stamp.sec, "nanosec": stamp.nanosec}, "index": event.index,
            "sensor_to_part": event.sensor_to_part.tolist(), "depth_m": event.depth_m,
        })))


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, threads=3)  # a render, a step and the e-stop at once


if __name__ == "__main__":
    raise SystemExit(main())
