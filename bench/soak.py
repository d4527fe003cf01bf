"""Soak: the vision and tactile nodes under sustained input faster than they can process it.

Starts vision_node and tactile_node as their own processes (an isolated DDS domain), and from this
process publishes pre-rendered simulated camera frames (full resolution, with camera_info) at
--camera-hz and tactile frames, each with its press record, at --tactile-hz, for --minutes. The nodes
must keep the latest input, drop the rest with counters (inspection/diagnostics) and keep their memory
bounded. Every --report-every seconds, and at the end, it prints per node: frames in, processed,
dropped, resident memory and its high-water mark (VmRSS, VmHWM from /proc/<pid>/status).

    .venv/bin/python bench/soak.py [--minutes 10] [--camera-hz 10] [--tactile-hz 60] [--out runs/soak]

Exit 0 when both nodes lived, processed input, and their resident memory grew less than
--max-growth-mb from the first report after warm-up to the end; else 1. --json writes the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection import runtime  # noqa: E402

NODES = ("vision_node", "tactile_node")


def _frames(seed: int, width: int, height: int, out: Path):
    """One camera frame of a simulated part (and the part's mesh), a tactile background and one press."""
    from inspection.cell import load_cell
    from inspection.geometry.mesh_io import export_stl
    from inspection.sim.cell_sim import SimulatedCell
    from inspection.sim.defects import random_defect
    from inspection.sim.scene import random_scene
    from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, surface_gap

    cell = load_cell()
    rng = np.random.default_rng(seed)
    scene = random_scene(rng)
    simulated = SimulatedCell(cell, scene, width, height, seed=seed)
    camera = simulated.camera
    mesh = export_stl(scene.part, out / "part.stl")
    sensor = TactileSimulator(cell.tactile)
    pose = np.diag([1.0, -1.0, -1.0, 1.0])  # sensor pressed into a flat part over a dent, +z into the part
    pose[:3, 3] = (0.1, 0.0, -cell.tactile.press_depth_m)
    touch = np.random.default_rng(0)  # a dent the classifier feels, so every press runs the whole Stage II
    dent = random_defect(touch, "dent", "d0", np.array([0.1, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]),
                         np.array([1.0, 0.0, 0.0]))
    gap, heights = surface_gap(cell.tactile, pose, LocalSurface(), [dent])
    press = sensor.press(gap, cell.tactile.press_depth_m, touch, [dent], defect_heights=heights).image
    return cell, camera, simulated.capture().image, mesh, sensor.background(touch), press, pose


def _line(name: str, pid: int, diagnostics: dict) -> dict:
    from inspection.sysinfo import memory_kb

    memory = memory_kb(pid)
    row = {"node": name, "frames_in": diagnostics.get("frames_in"), "processed": diagnostics.get("processed"),
           "dropped": diagnostics.get("dropped"), "rss_mb": memory.get("rss_kb", 0) / 1024,
           "hwm_mb": memory.get("hwm_kb", 0) / 1024, "alive": bool(memory)}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to keep the input coming")
    parser.add_argument("--camera-hz", type=float, default=10.0)
    parser.add_argument("--tactile-hz", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=0, help="camera frame width; 0: cell.yaml's (1920)")
    parser.add_argument("--height", type=int, default=0, help="camera frame height; 0: cell.yaml's (1080)")
    parser.add_argument("--report-every", type=float, default=30.0, help="seconds between progress lines")
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the run before the memory baseline")
    parser.add_argument("--max-growth-mb", type=float, default=100.0,
                        help="resident memory may grow this much after warm-up")
    parser.add_argument("--out", type=Path, default=Path("runs/soak"), help="folder for nodes.log and the mesh")
    parser.add_argument("--json", type=Path, help="write the progress rows and the verdict here")
    parser.add_argument("--seed", type=int, default=90200)
    args = parser.parse_args()

    os.environ.update(runtime.configure_environment())
    os.environ.setdefault("ROS_DOMAIN_ID", runtime.private_domain_id())
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    from inspection.atomic import write_json_atomic
    from inspection.launcher import NodeProcesses, default_params_file
    from inspection.nodes.common import LATCHED, RELIABLE
    from inspection.nodes.diagnostics import TOPIC
    from inspection.nodes.ros_convert import camera_info_from_config, numpy_to_image

    args.out.mkdir(parents=True, exist_ok=True)
    cell, camera, frame, mesh, background, press_frame, pose = _frames(
        args.seed, args.width or None, args.height or None, args.out)
    log = open(args.out / "nodes.log", "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    processes = NodeProcesses(log=log)
    params_file = default_params_file(None)
    rclpy.init()
    node = rclpy.create_node("soak_publisher")
    latest: dict[str, dict] = {}
    sent = {"camera": 0, "tactile": 0}
    node.create_subscription(String, TOPIC, lambda m: latest.update({json.loads(m.data)["node"]: json.loads(m.data)}),
                             10)
    image_pub = node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
    tactile_pub = node.create_publisher(Image, "tactile/image_raw", RELIABLE)
    press_pub = node.create_publisher(String, "tactile/press", RELIABLE)
    background_pub = node.create_publisher(Image, "tactile/background", LATCHED)
    info = camera_info_from_config(replace(cell.camera, width=camera.width, height=camera.height, fx=camera.fx,
                                           fy=camera.fy, cx=camera.cx, cy=camera.cy))
    camera_message = numpy_to_image(frame, "rgb8", cell.camera.frame)
    tactile_message = numpy_to_image(press_frame, "rgb8", cell.tactile.frame)
    rows: list[dict] = []
    verdict = "fail"
    running = threading.Event()  # publishing starts once both nodes are up

    def publish_camera() -> None:
        if not running.is_set():
            return
        stamp = node.get_clock().now().to_msg()
        camera_message.header.stamp = info.header.stamp = stamp
        image_pub.publish(camera_message)
        info_pub.publish(info)
        sent["camera"] += 1

    def publish_tactile() -> None:
        if not running.is_set():
            return
        stamp = node.get_clock().now().to_msg()
        tactile_message.header.stamp = stamp
        tactile_pub.publish(tactile_message)
        press_pub.publish(String(data=json.dumps({
            "stamp": {"sec": stamp.sec, "nanosec": stamp.nanosec}, "index": sent["tactile"],
            "sensor_to_part": pose.tolist(), "depth_m": cell.tactile.press_depth_m})))
        sent["tactile"] += 1

    node.create_timer(1.0 / args.camera_hz, publish_camera)
    node.create_timer(1.0 / args.tactile_hz, publish_tactile)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        processes.start("vision_node", params_file, {"part_mesh": str(mesh)})
        processes.start("tactile_node", params_file, {})
        background_pub.publish(numpy_to_image(background, "rgb8", cell.tactile.frame))
        spinner.start()
        deadline = time.monotonic() + 120
        while set(latest) != set(NODES):  # both nodes up (their first diagnostics) before the clock starts
            if processes.exited() or time.monotonic() > deadline:
                raise RuntimeError(f"nodes did not come up (exited: {processes.exited()}); see {args.out / 'nodes.log'}")
            time.sleep(0.2)
        running.set()
        started = time.monotonic()
        duration = args.minutes * 60.0
        baseline: dict[str, float] = {}
        next_report = started + min(args.report_every, duration)
        while True:
            now = time.monotonic()
            if processes.exited():
                raise RuntimeError(f"node(s) died: {processes.exited()}; see {args.out / 'nodes.log'}")
            if now >= next_report or now >= started + duration:
                elapsed = now - started
                print(f"t {elapsed:6.0f} s  sent camera {sent['camera']}, tactile {sent['tactile']}")
                for name in NODES:
                    row = {"t_s": round(elapsed, 1), **_line(name, processes.processes[name].pid, latest.get(name, {}))}
                    rows.append(row)
                    if elapsed >= args.warmup * duration and name not in baseline:
                        baseline[name] = row["rss_mb"]
                    print(f"  {name:13s} in {row['frames_in']}, processed {row['processed']}, dropped {row['dropped']}, "
                          f"RSS {row['rss_mb']:.0f} MB, high-water {row['hwm_mb']:.0f} MB", flush=True)
                if now >= started + duration:
                    break
                next_report = now + args.report_every
            time.sleep(0.2)
        final = {row["node"]: row for row in rows[-len(NODES):]}
        growth = {name: final[name]["rss_mb"] - baseline.get(name, final[name]["rss_mb"]) for name in NODES}
        problems = [f"{name}: processed nothing" for name in NODES if not final[name]["processed"]]
        problems += [f"{name}: RSS grew {growth[name]:.0f} MB after warm-up (limit {args.max_growth_mb:.0f})"
                     for name in NODES if growth[name] > args.max_growth_mb]
        verdict = "ok" if not problems else "; ".join(problems)
        print(f"end: sent camera {sent['camera']} ({args.camera_hz:g} Hz, {camera.width}x{camera.height}), "
              f"tactile {sent['tactile']} ({args.tactile_hz:g} Hz); RSS growth after warm-up "
              + ", ".join(f"{name} {growth[name]:+.0f} MB" for name in NODES) + f"; verdict: {verdict}")
        return 0 if verdict == "ok" else 1
    except RuntimeError as exc:
        verdict = str(exc)
        print(f"soak failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.json:
            write_json_atomic(args.json, {"minutes": args.minutes, "camera_hz": args.camera_hz,
                                          "tactile_hz": args.tactile_hz, "sent": sent, "rows": rows,
                                          "verdict": verdict})
        running.clear()
        processes.stop()
        executor.shutdown()
        if spinner.is_alive():
            spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
        log.close()


if __name__ == "__main__":
    raise SystemExit(main())
