"""Real ROS 2 over real DDS: two processes exchange 640x480 images with sensor-data QoS."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _probe(mode: str, extra: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "inspection.nodes.image_probe_node", "--ros-args",
         "-p", f"mode:={mode}", "-p", "width:=640", "-p", "height:=480", "-p", "count:=40",
         "-p", "rate_hz:=20.0", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_images_cross_dds_between_processes(ros_env, tmp_path) -> None:
    assert ros_env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("config/fastdds.xml")
    report = tmp_path / "receiver.json"
    receiver = _probe("receive", ["-p", f"report_file:={report}"], ros_env)
    publisher = _probe("publish", [], ros_env)
    try:
        receiver.wait(timeout=90)
    finally:
        publisher.kill()
        receiver.kill()
        publisher.wait()
    output = receiver.stdout.read() if receiver.stdout else ""
    assert report.exists(), f"receiver wrote no report; its output:\n{output}"
    result = json.loads(report.read_text())
    assert result["received"] == 40, result
    assert result["lost"] == 0 and result["bad_frames"] == 0, result
    assert result["rate_hz"] == pytest.approx(20.0, rel=0.3)


def test_bad_parameter_value_fails_with_a_clear_message(ros_env) -> None:
    process = _probe("sideways", [], ros_env)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "mode: 'sideways' is not one of ['publish', 'receive']" in output
