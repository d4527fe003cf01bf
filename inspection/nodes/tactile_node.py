"""Tactile node (Stage II): one tactile frame per press in, one finding with its verdict out.

Subscribes tactile/image_raw (sensor_msgs/Image, rgb8/bgr8), tactile/press (std_msgs/String JSON
           {"stamp", "index", "sensor_to_part": 4x4, "depth_m", optional "region"}: the press that
           frame belongs to, matched by header stamp), tactile/background (latched no-contact frame),
           inspection/plan/json (latched: presses are tagged with the region of the nearest planned press)
Publishes  inspection/findings/json (std_msgs/String JSON {"finding": TactileFinding, "verdict": Verdict,
           "probabilities": {...}, "stamp": {"sec", "nanosec"} of the tactile frame, "pixel_size_m" of the
           heightmap, "anomaly": {"score", "threshold", "flagged", "peak_xy", "peak_part"} with a
           reference_file, else null, "press_position" (the sensor origin in the part frame, m) and
           "press_depth_m": the coordinator places the press in the plan it executes by them}),
           inspection/finding_markers (visualization_msgs/MarkerArray)
           tactile/heightmap (sensor_msgs/Image 32FC1: the reconstructed gel indentation in mm, published just
           before its finding under the tactile frame's header, so the finding's "stamp" names it)
           inspection/diagnostics (std_msgs/String JSON: frames and press records in, processed, dropped,
           memory; every diagnostics_period_s)
Presses paired before the first background frame wait for it (at most PENDING_LIMIT, oldest dropped
and counted) and are analysed when it comes: the background is a property of the sensor, valid for a
press taken before it reached the node. A black, saturated or contact-less frame, or a frame whose press
never arrives, is logged and counted; the node goes on with the next press. Paired frames are analysed on a worker
thread from a bounded mailbox (PENDING_LIMIT, oldest dropped and counted), so a sensor streaming faster
than the analysis never stalls the subscriptions or grows memory.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict

import numpy as np
from rclpy._rclpy_pybind11 import InvalidHandle, RCLError
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from inspection.errors import InputError
from inspection.geometry.mesh_io import load_mesh
from inspection.mailbox import LatestMailbox
from inspection.records import TactileFinding
from inspection.nodes.common import LATCHED, RELIABLE, declare_parameters, image_qos, run_node
from inspection.nodes.diagnostics import Diagnostics
from inspection.nodes.ros_convert import ImageConversionError, image_to_rgb8, numpy_to_image, pose_at
from inspection.paths import model_file
from inspection.planning.plan_summary import PlanSummary, planned_region, read_plan_summary
from inspection.tactile.runtime import tune_for_frames
from inspection.tactile.stage import NoContact, StageTwo

NODE_NAME = "tactile_node"
PENDING_LIMIT = 32  # frames or press records waiting for their partner; older ones are dropped and counted
PARTNER_TIMEOUT_S = 5.0  # a frame or press record whose partner has not come by then was dropped upstream


def _stamp_key(stamp) -> tuple[int, int]:
    return (int(stamp.sec), int(stamp.nanosec))


def _model_path(name: str) -> str:
    return name if "/" in name else str(model_file(name))


class TactileNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        tune_for_frames()
        self.stage = StageTwo.load(_model_path(self.params["calibration"]), _model_path(self.params["classifier"]),
                                   self.params["acceptance_file"] or None, self.params["device"],
                                   self.params["reference_file"] or None)
        if self.params["part_mesh"]:
            self.stage.set_part(load_mesh(self.params["part_mesh"]), self.params["part_edge_margin_m"])
        else:
            self.get_logger().info("part_mesh: none given; where the part ends under a press is guessed from its image")
        if self.stage.classifier.missing_classes:
            self.get_logger().warning(f"classifier {self.params['classifier']} never says "
                                      f"{list(self.stage.classifier.missing_classes)}: trained before those classes")
        self.frames: OrderedDict[tuple[int, int], Image] = OrderedDict()
        self.presses: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self.planned: PlanSummary | None = None  # the latest plan: its presses' positions and regions
        self.awaiting_background: list[tuple[Image, dict]] = []  # paired before any background frame
        self.counts = {"frames_in": 0, "press_records_in": 0, "findings": 0, "no_contact": 0, "bad_frames": 0,
                       "unmatched": 0}
        self.count_lock = threading.Lock()  # callbacks and the worker both count
        self.pairs: LatestMailbox[tuple[Image, dict]] = LatestMailbox(capacity=PENDING_LIMIT)
        self.findings_publisher = self.create_publisher(String, "inspection/findings/json", RELIABLE)
        self.marker_publisher = self.create_publisher(MarkerArray, "inspection/finding_markers", 10)
        self.heightmap_publisher = self.create_publisher(Image, "tactile/heightmap", RELIABLE)
        self.create_subscription(Image, "tactile/background", self.background_callback, LATCHED)
        self.create_subscription(Image, "tactile/image_raw", self.frame_callback, image_qos(reliable=True, depth=20))
        self.create_subscription(String, "tactile/press", self.press_callback, RELIABLE)
        self.create_subscription(String, "inspection/plan/json", self.plan_callback, LATCHED)
        self.create_timer(1.0, self.expire_callback)
        Diagnostics(self, self.diagnostics, self.params["diagnostics_period_s"])
        self.worker = threading.Thread(target=self.work, name="tactile_worker", daemon=True)
        self.worker.start()

    def count(self, key: str) -> None:
        with self.count_lock:
            self.counts[key] += 1

    def diagnostics(self) -> dict[str, int]:
        with self.count_lock:
            counts = dict(self.counts)
        mailbox = self.pairs.counters
        return {**counts, "processed": mailbox.taken, "dropped": mailbox.dropped + counts["unmatched"]}

    def expire_callback(self) -> None:
        """Report presses whose frame (or frames whose press record) never came, and forget them."""
        now = time.monotonic()
        for pending, missing in ((self.presses, "tactile frame"), (self.frames, "press record")):
            for key in [k for k, (arrived, _) in pending.items() if now - arrived > PARTNER_TIMEOUT_S]:
                pending.pop(key)
                self.count("unmatched")
                self.get_logger().warning(f"stamp {key[0]}.{key[1]:09d}: no {missing} within {PARTNER_TIMEOUT_S:.0f} s "
                                          "(dropped upstream); that press gives no finding")
    def background_callback(self, message: Image) -> None:
        try:
            self.stage.set_background(image_to_rgb8(message))
            self.get_logger().info("tactile/background: background frame set")
        except (ImageConversionError, InputError) as exc:
            self.get_logger().error(f"tactile/background: unusable background frame: {exc}")
            return
        waiting, self.awaiting_background = self.awaiting_background, []
        for pair in waiting:
            self.pairs.put(pair)

    def plan_callback(self, message: String) -> None:
        try:
            self.planned = read_plan_summary(message.data)
        except InputError as exc:
            self.get_logger().error(f"ignored a bad plan: {exc}")  # exc names the topic and field

    def frame_callback(self, message: Image) -> None:
        self.count("frames_in")
        self._remember(self.frames, _stamp_key(message.header.stamp), message)
        self._pair(_stamp_key(message.header.stamp))

    def press_callback(self, message: String) -> None:
        self.count("press_records_in")
        try:
            press = json.loads(message.data)
            key = (int(press["stamp"]["sec"]), int(press["stamp"]["nanosec"]))
            transform = np.asarray(press["sensor_to_part"], float)
            if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
                raise ValueError(f"sensor_to_part must be a finite 4x4 matrix, got shape {transform.shape}")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.count("bad_frames")
            self.get_logger().error(f"tactile/press: ignored a bad press record: {exc}")
            return
        press["sensor_to_part"] = transform
        self._remember(self.presses, key, press)
        self._pair(key)

    def _remember(self, pending: OrderedDict, key: tuple[int, int], item) -> None:
        pending[key] = (time.monotonic(), item)
        while len(pending) > PENDING_LIMIT:
            stale, _ = pending.popitem(last=False)
            self.count("unmatched")
            self.get_logger().warning(f"dropped an unmatched tactile frame or press record (stamp {stale})")

    def _region_of(self, press: dict) -> str:
        if press.get("region"):
            return str(press["region"])
        if self.planned is None:
            return ""
        return planned_region(press["sensor_to_part"][:3, 3], press.get("depth_m", 0.0), self.planned.press_positions,
                              self.planned.press_regions)

    def _pair(self, key: tuple[int, int]) -> None:
        if key not in self.frames or key not in self.presses:
            return
        (_, frame_message), (_, press) = self.frames.pop(key), self.presses.pop(key)
        if self.stage.reconstructor is not None:
            self.pairs.put((frame_message, press))
            return
        self.awaiting_background.append((frame_message, press))
        self.get_logger().warning(f"press {press.get('index', '?')} waits for tactile/background "
                                  "(no no-contact frame yet)")
        if len(self.awaiting_background) > PENDING_LIMIT:
            self.awaiting_background.pop(0)
            self.count("unmatched")
            self.get_logger().warning("dropped the oldest press waiting for tactile/background")

    def work(self) -> None:
        while not self.pairs.closed:
            pair = self.pairs.take(timeout_s=1.0)
            if pair is None:
                continue
            try:
                self._analyse(*pair)
            except (InvalidHandle, RCLError):  # shutting down: the context went away mid-publish
                return

    def _analyse(self, frame_message: Image, press: dict) -> None:
        index = int(press.get("index", self.counts["findings"]))
        try:
            frame = image_to_rgb8(frame_message)
            result = self.stage.analyse(frame, press["sensor_to_part"], f"t{index}", self._region_of(press), index,
                                        float(press.get("depth_m", 0.0)))
        except NoContact as exc:
            self.count("no_contact")
            self.get_logger().warning(f"tactile/image_raw: {exc}")
            return
        except (ImageConversionError, InputError) as exc:
            self.count("bad_frames")
            self.get_logger().error(f"tactile/image_raw: skipped press {index}: {exc}")
            return
        self.count("findings")
        header = frame_message.header
        self.heightmap_publisher.publish(numpy_to_image(result.reconstruction.height_mm, "32FC1", header.frame_id,
                                                        header.stamp))
        self.findings_publisher.publish(String(data=json.dumps({
            "finding": result.finding.to_json(), "verdict": result.verdict.to_json(),
            "probabilities": result.probabilities, "stamp": {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec},
            "pixel_size_m": result.reconstruction.pixel_size_m, "anomaly": result.anomaly_json(),
            "press_position": [float(v) for v in press["sensor_to_part"][:3, 3]],
            "press_depth_m": float(press.get("depth_m", 0.0))})))
        self.marker_publisher.publish(self._marker(result.finding, frame_message.header.stamp))
        self.get_logger().info(f"press {index}: {result.finding.class_name} ({result.finding.confidence:.2f}), "
                               f"depth {result.finding.depth_mm:.3f} mm; {result.verdict.rule}")

    def _marker(self, finding: TactileFinding, stamp) -> MarkerArray:
        marker = Marker()
        marker.header.frame_id, marker.header.stamp = self.params["part_frame"], stamp
        marker.ns, marker.id, marker.type, marker.action = "findings", finding.press_index, Marker.SPHERE, Marker.ADD
        marker.pose = pose_at(finding.position, finding.normal)
        marker.scale.x = marker.scale.y = marker.scale.z = max(finding.width_mm, 2.0) * 1e-3
        if finding.is_defect:
            marker.color.r = 1.0
        else:
            marker.color.g = 1.0
        marker.color.a = 0.9
        return MarkerArray(markers=[marker])

    def destroy_node(self) -> None:
        if hasattr(self, "worker"):  # absent when construction failed (bad model files)
            self.pairs.close()
            self.worker.join(timeout=10.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(TactileNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
