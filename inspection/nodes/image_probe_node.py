"""Image transport probe: publishes a numbered test pattern, or receives one and counts what arrived.

Run one of each on the cell to check that camera-sized frames cross DDS (QoS, Fast DDS profile,
network) before blaming the detector: the receiver reports frames received, lost, rate and latency.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image

from inspection.atomic import write_json_atomic
from inspection.nodes.common import declare_parameters, image_qos, run_node
from inspection.nodes.ros_convert import ImageConversionError, image_to_numpy, numpy_to_image

NODE_NAME = "image_probe_node"
# The frame number is written as 8 little-endian bytes at the start of the first row.
SEQUENCE_BYTES = 8
DISCOVERY_SETTLE_S = 0.5


def numbered_pattern(width: int, height: int, encoding: str, sequence: int) -> np.ndarray:
    """A gradient image whose first bytes carry ``sequence``, so the receiver can count losses."""
    dtype = np.uint16 if encoding == "mono16" else np.uint8
    channels = 1 if encoding.startswith("mono") else 3
    ramp = (np.arange(width, dtype=np.uint32) * 255 // max(width - 1, 1)).astype(dtype)
    image = np.broadcast_to(ramp, (height, width)).copy()
    if channels == 3:
        image = np.stack([image, image[::-1], np.full_like(image, sequence % 256)], axis=2)
    raw = image.view(np.uint8).reshape(height, -1)
    raw[0, :SEQUENCE_BYTES] = np.frombuffer(int(sequence).to_bytes(SEQUENCE_BYTES, "little"), dtype=np.uint8)
    return image


def read_sequence(pixels: np.ndarray) -> int:
    return int.from_bytes(np.ascontiguousarray(pixels).view(np.uint8).reshape(-1)[:SEQUENCE_BYTES].tobytes(), "little")


class ImageProbeNode(Node):
    """Publisher or receiver of the numbered test pattern, chosen by the ``mode`` parameter."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.finished = Future()
        self.sent = 0
        self.matched_at: float | None = None
        self.received = 0
        self.bad_frames = 0
        self.last_sequence = -1
        self.latencies_s: list[float] = []
        self.first_arrival = 0.0
        self.last_arrival = 0.0
        qos = image_qos(self.params["reliable"])
        if self.params["mode"] == "publish":
            self.publisher = self.create_publisher(Image, self.params["topic"], qos)
            self.timer = self.create_timer(1.0 / self.params["rate_hz"], self.publish_callback)
        else:
            self.subscription = self.create_subscription(Image, self.params["topic"], self.image_callback, qos)
            self.idle_timer = self.create_timer(0.5, self.idle_callback)

    def idle_callback(self) -> None:
        """Finish once frames stop arriving, so a lost tail still ends in a report."""
        idle_s = time.monotonic() - self.last_arrival
        if self.received and idle_s > self.params["idle_timeout_s"]:
            self.finish()

    def publish_callback(self) -> None:
        count = self.params["count"]
        if count and self.sent >= count:
            self.timer.cancel()
            # Leave the last frames time to be delivered before the process exits.
            self.create_timer(1.0, lambda: self.finished.done() or self.finished.set_result(True))
            return
        # Discovery is asymmetric: the publisher can see the reader before the reader has matched it,
        # so frames sent in that instant are dropped by best effort. Wait out a short settling time.
        if self.publisher.get_subscription_count() == 0:
            self.matched_at = None
            return
        now = time.monotonic()
        if self.matched_at is None:
            self.matched_at = now
        if now - self.matched_at < DISCOVERY_SETTLE_S:
            return
        pixels = numbered_pattern(self.params["width"], self.params["height"], self.params["encoding"], self.sent)
        stamp = self.get_clock().now().to_msg()
        self.publisher.publish(numpy_to_image(pixels, self.params["encoding"], self.params["frame_id"], stamp))
        self.sent += 1

    def image_callback(self, msg: Image) -> None:
        try:
            sequence = read_sequence(image_to_numpy(msg))
        except ImageConversionError as exc:
            self.bad_frames += 1
            self.get_logger().warning(f"{self.params['topic']}: skipped a bad frame: {exc}")
            return
        now = time.monotonic()
        sent_at = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.latencies_s.append(self.get_clock().now().nanoseconds * 1e-9 - sent_at)
        if not self.received:
            self.first_arrival = now
        self.last_sequence = max(self.last_sequence, sequence)
        self.last_arrival = now
        self.received += 1
        if self.params["count"] and self.received >= self.params["count"]:
            self.finish()

    def summary(self) -> dict[str, Any]:
        # The publisher numbers frames from 0 once a subscriber matched, so gaps from 0 are losses.
        expected = self.last_sequence + 1
        span = self.last_arrival - self.first_arrival
        latencies = np.array(self.latencies_s) if self.latencies_s else np.array([np.nan])
        return {
            "topic": self.params["topic"],
            "received": self.received,
            "lost": max(expected - self.received, 0),
            "bad_frames": self.bad_frames,
            "rate_hz": (self.received - 1) / span if span > 0 else None,
            "latency_median_s": float(np.nanmedian(latencies)) if self.latencies_s else None,
            "latency_max_s": float(np.nanmax(latencies)) if self.latencies_s else None,
        }

    def finish(self) -> None:
        if self.params["report_file"]:
            write_json_atomic(self.params["report_file"], self.summary())
        if not self.finished.done():
            self.finished.set_result(True)


def main(args: list[str] | None = None) -> int:
    return run_node(ImageProbeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
