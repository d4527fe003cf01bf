"""Test harness for fault injection through the real nodes: node processes whose output is drained
and kept (a killed or restarted node must not block on a full pipe), a Stage I stand-in, and a helper
that runs one inspection to its report.

The Stage I stand-in answers ``vision/reset`` and, for every camera frame, publishes scan regions that
the test chose (at known defects), so the tactile stage gets a fixed, small set of presses; the
vision node itself is exercised by the camera fault test.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.records import InspectionReport, ScanRegion
from inspection.nodes.common import LATCHED
from inspection.nodes import coordinator_client
from inspection.nodes.ros_convert import records_to_messages
from tests.conftest import spin_until


class NodeProcess:
    """One node (or the fault relay) as its own process; its output is read continuously."""

    def __init__(self, module: str, env: dict[str, str], *ros_args: str) -> None:
        self.module, self.env, self.ros_args = module, env, ros_args
        self.lines: list[str] = []
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", self.module, "--ros-args", *self.ros_args],
                                        env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()

    def _drain(self, process: subprocess.Popen) -> None:
        for line in process.stdout or ():
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash or the OOM killer would end it."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class StageOneStandIn:
    """Serves vision/reset; answers each camera frame with the chosen scan regions (latched)."""

    def __init__(self, node, regions: list[ScanRegion], part_frame: str = "part") -> None:
        self.node, self.regions, self.part_frame = node, regions, part_frame
        self.frames = 0
        self.publisher = node.create_publisher(String, "inspection/scan_regions/json", LATCHED)
        node.create_service(Trigger, "vision/reset", self.reset)
        node.create_subscription(Image, "camera/image_raw", self.frame, qos_profile_sensor_data)

    def reset(self, _request, response):
        response.success, response.message = True, "stand-in: nothing to forget"
        return response

    def frame(self, message: Image) -> None:
        self.frames += 1
        _, side_channel = records_to_messages(self.regions, self.part_frame, message.header.stamp)
        self.publisher.publish(side_channel)


def journal_events(run_dir: Path, event: str) -> list[dict]:
    """The journal's complete records of ``event``. The coordinator may be writing while this reads, so
    only newline-terminated lines count: the text after the last newline may be half a record."""
    path = run_dir / "journal.jsonl"
    if not path.is_file():
        return []
    complete_lines = path.read_text().split("\n")[:-1]
    records = [json.loads(line) for line in complete_lines if line.strip()]
    return [r for r in records if r.get("event") == event]


def start_inspection(node, run_root: Path) -> Path:
    return run_root / Path(coordinator_client.start_inspection(node, timeout_s=60)).name


def wait_for_report(node, run_dir: Path, timeout_s: float, explain=lambda: "") -> InspectionReport:
    """The run's report once the coordinator has journalled it as written (its last act)."""
    if not spin_until(node, lambda: bool(journal_events(run_dir, "report")), timeout_s):
        raise AssertionError(f"no report in {run_dir} after {timeout_s:.0f} s\n{explain()}")
    return InspectionReport.load(run_dir / "report.json")
