"""Camera frames lost between the simulator and the real vision node (a fault relay on camera/image_raw):
the coordinator captures the view again within capture_retries, and when every capture is lost the run
ends in a partial report naming the camera view."""
from __future__ import annotations

import json
import time

import yaml
from std_msgs.msg import String

from inspection import paths
from inspection.nodes.common import LATCHED
from tests.conftest import spin_until
from tests.fault_harness import NodeProcess, journal_events, start_inspection, wait_for_report
from tests.fault_relay_node import relay_connected


def _small_camera_cell(folder):
    """cell.yaml with the camera at a quarter of its resolution (same field of view): cheap frames whose
    size matches the cell, so the vision node needs no camera_info to use them."""
    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    camera = document["camera"]
    for key in ("width", "height"):
        camera[key] //= 4
    for key in ("fx", "fy"):
        camera[key] /= 4
    camera["cx"], camera["cy"] = (camera["width"] - 1) / 2, (camera["height"] - 1) / 2
    path = folder / "cell.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_lost_camera_frames_are_captured_again_within_limits(ros_env, ros_node, tmp_path) -> None:
    cell_file, mesh, runs = _small_camera_cell(tmp_path), tmp_path / "part.stl", tmp_path / "runs"
    nodes = {"sim": NodeProcess("inspection.nodes.sim_node", ros_env, "-p", "seed:=1", "-p", f"cell_file:={cell_file}",
                                "-p", f"export_mesh:={mesh}")}

    def explain() -> str:
        return "\n".join(f"--- {name}\n{process.output[-3000:]}" for name, process in nodes.items())

    try:
        deadline = time.monotonic() + 60
        while not mesh.is_file():
            assert nodes["sim"].alive() and time.monotonic() < deadline, explain()
            time.sleep(0.2)
        # Confidence 1.0: Stage I answers every frame it gets, with no regions, so the run ends after capture.
        nodes["vision"] = NodeProcess("inspection.nodes.vision_node", ros_env, "-p", f"part_mesh:={mesh}",
                                      "-p", f"cell_file:={cell_file}", "-p", "confidence:=1.0",
                                      "-r", "camera/image_raw:=faulty/camera/image_raw")
        nodes["relay"] = NodeProcess("tests.fault_relay_node", ros_env, "-p", "input:=camera/image_raw",
                                     "-p", "output:=faulty/camera/image_raw", "-p", "reliable:=false")
        nodes["coordinator"] = NodeProcess("inspection.nodes.coordinator_node", ros_env, "-p", f"run_root:={runs}",
                                           "-p", "detect_timeout_s:=5.0", "-p", "capture_retries:=2")
        schedule = ros_node.create_publisher(String, "fault_relay/schedule", LATCHED)
        # Five frames lost: the first run's three captures, then the second run's first.
        schedule.publish(String(data=json.dumps({"first": ["drop"] * 4, "then": "pass"})))
        # Up: the relay has its schedule, hears the simulator and is heard by the vision node.
        assert spin_until(ros_node, lambda: "new schedule" in nodes["relay"].output
                          and relay_connected(nodes["relay"].output), 60), explain()

        lost = start_inspection(ros_node, runs)
        report = wait_for_report(ros_node, lost, 90, explain)
        assert not report.complete, explain()
        assert report.missing == ["stopped in phase capture: Stage I scan regions of camera view 0: nothing after "
                                  "5 s (tried 3 times)"]
        assert [r["attempt"] for r in journal_events(lost, "retry")] == [2, 3]

        retried = start_inspection(ros_node, runs)
        report = wait_for_report(ros_node, retried, 90, explain)
        assert report.complete and report.missing == [], explain()
        assert [r["attempt"] for r in journal_events(retried, "retry")] == [2]
        assert journal_events(retried, "regions")  # Stage I's answer to the frame that got through
        assert nodes["relay"].output.count(": drop") == 4 and nodes["vision"].alive()
    finally:
        for process in nodes.values():
            process.stop()
