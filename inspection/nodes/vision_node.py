"""Vision node (Stage I): camera frames in, defect hypotheses and tactile scan regions out.

Subscribes camera/image_raw, camera/camera_info (REP-2003 sensor-data QoS; mono8, rgb8, bgr8, 16-bit)
           camera/pose (geometry_msgs/PoseStamped, world frame, reliable): the camera's optical frame (z forward)
           when the frame with the same header stamp was taken
           camera/photometric/image_raw (sensor_msgs/Image 8UC<lights>, sensor-data QoS): the photometric-stereo
           burst taken with the frame of the same header stamp (cell.yaml camera.photometric), read by the
           shape finder when shape_detector is on
Publishes  inspection/hypotheses (geometry_msgs/PoseArray) + inspection/hypotheses/json (std_msgs/String)
           inspection/scan_regions (PoseArray) + inspection/scan_regions/json (String, latched)
           inspection/markers (visualization_msgs/MarkerArray), camera/annotated (Image with boxes)
           inspection/diagnostics (std_msgs/String JSON: frames in, processed, dropped, bad, frames processed
           without their burst, bursts that could not be read, memory)
Service    vision/reset (std_srvs/Trigger): forget the hypotheses of earlier frames (a new part)
Each PoseArray pose is a defect centre with +z along the outward surface normal, in the part frame; the
JSON twin carries the full records (inspection.records, schema-versioned) under the same stamp.
Frames arriving faster than the detector runs are dropped (latest kept) and counted; a bad frame is
logged and skipped. Hypotheses accumulate over frames (several views of one part) until vision/reset.

Camera pose: each frame is cast from the camera/pose whose stamp equals the frame's (waiting up to
POSE_WAIT_S for it; a frame whose pose never comes is skipped as bad, never cast from a wrong pose). Until
any pose has been received the camera is the fixed one of cell.yaml, so a fixed-camera cell publishes no
pose. On a cell whose camera moves, whoever moves it publishes camera/pose: the arm driver, or a node that
looks up the camera's optical frame in TF at each image's stamp (tf2 is not installable here).

Photometric burst: with the shape finder on, each frame waits up to BURST_WAIT_S for the burst of its stamp
(published just before it, but best effort and larger, so it may arrive after it). A frame whose burst never
comes, or cannot be read, is still processed with the ring-lit detectors alone and counted
(frames_without_burst, bad_bursts): losing the burst loses only what the shape finder adds.
"""
from __future__ import annotations

import threading
from dataclasses import replace

import cv2
import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy._rclpy_pybind11 import InvalidHandle, RCLError
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.geometry.mesh_io import load_mesh
from inspection.mailbox import LatestMailbox
from inspection.records import DefectHypothesis
from inspection.nodes.common import LATCHED, RELIABLE, declare_parameters, image_qos, run_node
from inspection.nodes.diagnostics import Diagnostics
from inspection.nodes.ros_convert import (
    ImageConversionError, image_to_burst, image_to_rgb8, intrinsics_from_camera_info, numpy_to_image, pose_at,
    pose_stamped_to_matrix, records_to_messages, stamp_to_ns,
)
from inspection.stamped import StampedBuffer
from inspection.vision.localize import CameraView, merge_hypotheses, scan_regions
from inspection.vision.shape import shape_lights
from inspection.vision.stage import StageOne

NODE_NAME = "vision_node"
POSE_WAIT_S = 2.0  # a frame's pose is published just before it, but travels on another (reliable) topic
POSES_KEPT = 32
BURST_TOPIC = "camera/photometric/image_raw"
BURST_WAIT_S = 1.0  # published just before its frame; longer only when it was lost (best effort), not late
BURSTS_KEPT = 4  # full-resolution bursts are large; the mailbox keeps only the latest frame anyway
MISSING_BURST_WARN_EVERY = 20  # frames without a burst are warned of at the 1st, the 21st, the 41st...


class VisionNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.cell = load_cell(self.params["cell_file"] or None)
        if not self.params["part_mesh"]:
            raise InputError("parameter part_mesh: the part mesh (part frame, metres) is needed to localise defects")
        detector = None
        if self.params["explain"]:
            from inspection.explain.explainer import explaining_detector_from_params

            detector = explaining_detector_from_params(self.params)
        lights = shape_lights(self.params, self.cell.camera.photometric, self.params["cell_file"] or "config/cell.yaml")
        self.stage = StageOne.from_params(self.params, load_mesh(self.params["part_mesh"]), detector, lights)
        if self.stage.classes_never_detected:
            self.get_logger().warning(f"detector {self.params['model']} never finds "
                                      f"{list(self.stage.classes_never_detected)}: trained before those classes")
        self.camera_info: CameraInfo | None = None
        self.hypotheses: list[DefectHypothesis] = []
        self.frames = 0
        self.bad_frames = 0
        self.frames_without_burst = 0
        self.bad_bursts = 0
        self.mailbox: LatestMailbox[Image] = LatestMailbox()
        self.poses: StampedBuffer[np.ndarray] = StampedBuffer(POSES_KEPT)
        # Kept as messages, read only for the frames processed (the mailbox drops the others).
        self.bursts: StampedBuffer[Image] = StampedBuffer(BURSTS_KEPT)
        self.lock = threading.Lock()
        self.hypotheses_publisher = self.create_publisher(PoseArray, "inspection/hypotheses", 10)
        self.hypotheses_json_publisher = self.create_publisher(String, "inspection/hypotheses/json", 10)
        self.regions_publisher = self.create_publisher(PoseArray, "inspection/scan_regions", LATCHED)
        self.regions_json_publisher = self.create_publisher(String, "inspection/scan_regions/json", LATCHED)
        self.marker_publisher = self.create_publisher(MarkerArray, "inspection/markers", 10)
        self.annotated_publisher = self.create_publisher(Image, "camera/annotated", image_qos())
        self.create_subscription(CameraInfo, "camera/camera_info", self.info_callback, image_qos())
        self.create_subscription(Image, "camera/image_raw", self.mailbox.put, image_qos())
        self.create_subscription(PoseStamped, "camera/pose", self.pose_callback, RELIABLE)
        if self.stage.shape is not None:
            self.create_subscription(Image, BURST_TOPIC, self.burst_callback, image_qos())
        self.create_service(Trigger, "vision/reset", self.reset_service)
        Diagnostics(self, self.diagnostics, self.params["diagnostics_period_s"])
        self.worker = threading.Thread(target=self.work, name="vision_worker", daemon=True)
        self.worker.start()

    def diagnostics(self) -> dict[str, int]:
        counters = self.mailbox.counters
        return {"frames_in": counters.received, "processed": self.frames, "dropped": counters.dropped,
                "bad_frames": self.bad_frames, "frames_without_burst": self.frames_without_burst,
                "bad_bursts": self.bad_bursts}

    def info_callback(self, message: CameraInfo) -> None:
        self.camera_info = message

    def pose_callback(self, message: PoseStamped) -> None:
        try:
            self.poses.put(*pose_stamped_to_matrix(message, "camera/pose", self.cell.world_frame))
        except ValueError as exc:
            self.get_logger().error(f"ignored a camera pose: {exc}")

    def burst_callback(self, message: Image) -> None:
        self.bursts.put(stamp_to_ns(message.header.stamp), message)

    def burst_for(self, message: Image) -> np.ndarray | None:
        """The burst taken with the frame ``message`` (waiting up to BURST_WAIT_S), or None, counted and
        warned of, when it never came or cannot be read: the frame goes on without it."""
        stamp = stamp_to_ns(message.header.stamp)
        # A camera that publishes no burst (a Gazebo camera, a cell without the lights) costs no wait per frame.
        wait_s = BURST_WAIT_S if self.count_publishers(BURST_TOPIC) else 0.0
        burst_message = self.bursts.get(stamp, wait_s)
        if burst_message is None:
            self.frames_without_burst += 1
            if self.frames_without_burst % MISSING_BURST_WARN_EVERY == 1:
                self.get_logger().warning(
                    f"{BURST_TOPIC}: none stamped {stamp} ns within {wait_s:.0f} s of its frame; processed "
                    f"without the shape finder ({self.frames_without_burst} frame(s) so far, warned once every "
                    f"{MISSING_BURST_WARN_EVERY})")
            return None
        try:
            return image_to_burst(burst_message, BURST_TOPIC)
        except ImageConversionError as exc:
            self.bad_bursts += 1
            self.get_logger().warning(f"frame stamped {stamp} ns processed without its burst: {exc}")
            return None

    def reset_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            forgotten, self.hypotheses = len(self.hypotheses), []
        response.success, response.message = True, f"forgot {forgotten} hypotheses"
        return response

    def view_for(self, message: Image) -> CameraView:
        """The camera's pose when the frame was taken (camera/pose at its stamp, else the fixed cell camera)
        with the intrinsics it was taken with (camera_info when present)."""
        camera = self.cell.camera
        info = self.camera_info
        if info is not None and (info.width, info.height) == (message.width, message.height):
            k, d = intrinsics_from_camera_info(info)
            camera = replace(camera, width=info.width, height=info.height, fx=k[0, 0], fy=k[1, 1], cx=k[0, 2],
                             cy=k[1, 2], distortion=tuple(float(v) for v in (list(d) + [0.0] * 5)[:5]))
        elif (message.width, message.height) != (camera.width, camera.height):
            raise ImageConversionError(f"{message.width}x{message.height} frame without matching camera_info "
                                       f"(cell.yaml camera is {camera.width}x{camera.height})")
        world_from_camera = None
        if self.poses.ever:
            stamp = stamp_to_ns(message.header.stamp)
            world_from_camera = self.poses.get(stamp, POSE_WAIT_S)
            if world_from_camera is None:
                raise InputError(f"camera/pose: none stamped {stamp} ns within {POSE_WAIT_S:.0f} s of the frame, "
                                 "so it cannot be localised")
        view = CameraView.from_cell(self.cell, view_id=f"frame{self.frames}", camera_to_world=world_from_camera)
        return replace(view, camera=camera)

    def work(self) -> None:
        while not self.mailbox.closed:
            message = self.mailbox.take(timeout_s=1.0)
            if message is None:
                continue
            try:
                self.process(message)
            except (ImageConversionError, InputError, ValueError) as exc:
                self.bad_frames += 1
                self.get_logger().warning(f"camera/image_raw: skipped a bad frame: {exc}")
            except (InvalidHandle, RCLError):  # shutting down: the context went away mid-publish
                return

    def process(self, message: Image) -> None:
        frame = image_to_rgb8(message)
        view = self.view_for(message)
        burst = self.burst_for(message) if self.stage.shape is not None else None
        result = self.stage.inspect([frame], [view], [burst])
        self.frames += 1
        for line in result.bad_bursts:
            self.bad_bursts += 1
            self.get_logger().warning(f"{BURST_TOPIC}: {line}")
        with self.lock:
            self.hypotheses = merge_hypotheses(self.hypotheses + result.hypotheses, self.params["merge_distance_m"])
            hypotheses = list(self.hypotheses)
        regions = scan_regions(hypotheses, self.params["region_margin_m"])
        stamp, part_frame = message.header.stamp, self.cell.part.frame
        poses, side_channel = records_to_messages(hypotheses, part_frame, stamp)
        self.hypotheses_publisher.publish(poses)
        self.hypotheses_json_publisher.publish(side_channel)
        poses, side_channel = records_to_messages(regions, part_frame, stamp)
        self.regions_publisher.publish(poses)
        self.regions_json_publisher.publish(side_channel)
        self.marker_publisher.publish(self.markers(hypotheses, stamp))
        annotated = frame.copy()
        for detection in result.detections:
            cv2.rectangle(annotated, (int(detection.x1), int(detection.y1)), (int(detection.x2), int(detection.y2)),
                          (255, 40, 40), max(1, frame.shape[1] // 640))
        self.annotated_publisher.publish(numpy_to_image(annotated, "rgb8", message.header.frame_id, stamp))
        counters = self.mailbox.counters
        self.get_logger().info(
            f"frame {self.frames}: {len(result.detections)} detections, {len(hypotheses)} hypotheses, "
            f"{len(regions)} regions (frames in {counters.received}, dropped {counters.dropped}, bad {self.bad_frames})")

    def markers(self, hypotheses: list[DefectHypothesis], stamp) -> MarkerArray:
        markers = MarkerArray()
        for index, hypothesis in enumerate(hypotheses):
            marker = Marker()
            marker.header.frame_id, marker.header.stamp = self.cell.part.frame, stamp
            marker.ns, marker.id, marker.type, marker.action = "hypotheses", index, Marker.CYLINDER, Marker.ADD
            marker.pose = pose_at(hypothesis.position, hypothesis.normal)
            marker.scale.x = marker.scale.y = max(hypothesis.extent_m[0], 0.002)
            marker.scale.z = 0.0005
            marker.color.r, marker.color.a = 1.0, 0.8
            markers.markers.append(marker)
        return markers

    def destroy_node(self) -> None:
        if hasattr(self, "worker"):  # absent when construction failed (bad model or mesh)
            self.mailbox.close()
            self.worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(VisionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
