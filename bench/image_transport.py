"""Benchmark: camera images between two processes over DDS with the project's Fast DDS profile.

Runs the image probe node as publisher and receiver (separate processes, sensor-data QoS) at
640x480 and at the cell camera's full resolution, and prints frames/s, loss and latency.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from inspection import runtime
from inspection.cell import load_cell


def probe(width: int, height: int, frames: int, rate_hz: float, use_profile: bool = True) -> dict:
    """Run one publisher/receiver pair; returns the receiver's report."""
    env = dict(os.environ)
    env.update(runtime.configure_environment())
    if not use_profile:
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    env["ROS_DOMAIN_ID"] = runtime.private_domain_id()
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "receiver.json"
        common = ["-p", f"width:={width}", "-p", f"height:={height}", "-p", f"count:={frames}",
                  "-p", f"rate_hz:={rate_hz}"]
        node = [sys.executable, "-m", "inspection.nodes.image_probe_node", "--ros-args"]
        receiver = subprocess.Popen(node + common + ["-p", "mode:=receive", "-p", f"report_file:={report}"], env=env)
        publisher = subprocess.Popen(node + common + ["-p", "mode:=publish"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        timeout = 30 + frames / rate_hz
        try:
            receiver.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            receiver.kill()
        publisher.kill()
        publisher.wait()
        if not report.exists():
            return {"received": 0, "lost": frames, "rate_hz": None, "latency_median_s": None}
        result = json.loads(report.read_text())
        result["lost"] = frames - result["received"]  # counts a lost tail too
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args()
    camera = load_cell().camera
    print(f"{'resolution':>12} {'profile':>8} {'received':>9} {'lost':>5} {'fps':>6} {'latency ms':>11}")
    for width, height in ((640, 480), (camera.width, camera.height)):
        for use_profile in (True, False):
            result = probe(width, height, args.frames, args.rate, use_profile)
            fps = f"{result['rate_hz']:.1f}" if result.get("rate_hz") else "-"
            latency = f"{1000 * result['latency_median_s']:.1f}" if result.get("latency_median_s") else "-"
            print(f"{width:>5}x{height:<6} {'ours' if use_profile else 'default':>8} {result['received']:>9} "
                  f"{result['lost']:>5} {fps:>6} {latency:>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
