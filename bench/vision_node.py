"""Vision node end-to-end latency against the library call it wraps.

Renders one simulated 1920x1080 frame, then (a) times StageOne.inspect on it in this process and
(b) publishes it to a vision_node process over DDS and times publish -> inspection/hypotheses/json,
one frame at a time (so no frame waits behind another). Prints medians and their ratio (aim <= 1.2).

    .venv/bin/python bench/vision_node.py [--frames 8] [--model defect_detector.onnx]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection import runtime  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--model", default="defect_detector.onnx")
    parser.add_argument("--seed", type=int, default=90100)
    args = parser.parse_args()
    env = runtime.configure_environment()
    os.environ.update(env)
    os.environ["ROS_DOMAIN_ID"] = runtime.private_domain_id()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    from inspection.cell import load_cell
    from inspection.config import load_node_params
    from inspection.geometry.mesh_io import export_stl, load_mesh
    from inspection.nodes.ros_convert import camera_info_from_config, numpy_to_image
    from inspection.sim.cell_sim import SimulatedCell
    from inspection.sim.scene import random_scene
    from inspection.vision.localize import CameraView
    from inspection.vision.stage import StageOne

    cell = load_cell()
    scene = random_scene(np.random.default_rng(args.seed))
    frame = SimulatedCell(cell, scene).capture().image
    workdir = Path(tempfile.mkdtemp(prefix="bench-vision-node-"))
    mesh = export_stl(scene.part, workdir / "part.stl")
    params = load_node_params("vision_node", overrides={"model": args.model, "part_mesh": str(mesh)})
    stage = StageOne.from_params(params, load_mesh(mesh))
    view = CameraView.from_cell(cell)
    stage.inspect([frame], [view])  # warm-up
    library = []
    for _ in range(args.frames):
        start = time.perf_counter()
        stage.inspect([frame], [view])
        library.append(time.perf_counter() - start)

    process = subprocess.Popen([sys.executable, "-m", "inspection.nodes.vision_node", "--ros-args",
                                "-p", f"part_mesh:={mesh}", "-p", f"model:={args.model}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    node = rclpy.create_node("bench_vision_node")
    arrivals: list[float] = []
    node.create_subscription(String, "inspection/hypotheses/json", lambda _m: arrivals.append(time.perf_counter()), 10)
    images = node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    infos = node.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
    try:
        deadline = time.monotonic() + 120
        while images.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        time.sleep(2.0)  # the node's subscriptions match ours only after discovery settles
        through_node = []
        for index in range(args.frames + 1):  # the first is the node's warm-up
            stamp = node.get_clock().now().to_msg()
            infos.publish(camera_info_from_config(cell.camera, stamp))
            count, start = len(arrivals), time.perf_counter()
            images.publish(numpy_to_image(frame, "rgb8", cell.camera.frame, stamp))
            while len(arrivals) == count and time.perf_counter() - start < 60:
                rclpy.spin_once(node, timeout_sec=0.01)
            if len(arrivals) > count and index > 0:
                through_node.append(arrivals[-1] - start)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        process.terminate()
        process.wait()
    lib, via = statistics.median(library), statistics.median(through_node) if through_node else float("nan")
    print(f"frames: {args.frames} of 1920x1080, model {args.model}, {os.cpu_count()} CPUs")
    print(f"library StageOne.inspect median {1000 * lib:.0f} ms")
    print(f"vision_node publish -> hypotheses median {1000 * via:.0f} ms ({len(through_node)} frames received)")
    print(f"ratio node / library: {via / lib:.2f} (aim <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
