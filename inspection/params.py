"""Every node parameter, declared once: name, default (which fixes the type), range, description.

The nodes declare these with ROS ParameterDescriptors; the CLI and the tests validate
config/pipeline.yaml against the same table (see inspection.config).
"""
from __future__ import annotations

from inspection.config import ParamSpec

IMAGE_PROBE = (
    ParamSpec("mode", "receive", "publish a test pattern, or receive and count frames", choices=("publish", "receive")),
    ParamSpec("topic", "camera/image_raw", "image topic to publish on or listen to"),
    ParamSpec("width", 640, "test-pattern width in pixels", low=1, high=16384),
    ParamSpec("height", 480, "test-pattern height in pixels", low=1, high=16384),
    ParamSpec("encoding", "rgb8", "test-pattern encoding", choices=("rgb8", "bgr8", "mono8", "mono16")),
    ParamSpec("rate_hz", 30.0, "publish rate", low=0.1, high=1000.0),
    ParamSpec("count", 0, "frames to publish or receive before exiting; 0 runs until stopped", low=0),
    ParamSpec("frame_id", "camera_optical", "header frame of published frames"),
    ParamSpec("reliable", False, "reliable QoS instead of the REP-2003 sensor-data (best-effort) profile"),
    ParamSpec("idle_timeout_s", 3.0, "receive mode: finish this long after the last frame", low=0.1, high=3600.0),
    ParamSpec("report_file", "", "receive mode: write frames received, lost and rate as JSON here at exit"),
)

NODE_PARAMETERS: dict[str, tuple[ParamSpec, ...]] = {
    "image_probe_node": IMAGE_PROBE,
}
