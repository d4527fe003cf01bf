"""The photometric-stereo burst on camera/photometric/image_raw: its Image encoding (8UC<lights>) both ways,
and over real DDS into the vision node, where a burst and a frame of the same stamp meet in the shape finder;
a frame whose burst is missing or unreadable is still processed."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from inspection import paths
from inspection.cell import load_cell
from inspection.config import load_node_params
from inspection.geometry.mesh_io import export_stl
from inspection.nodes.ros_convert import (
    ImageConversionError, burst_to_image, camera_info_from_config, image_to_burst, numpy_to_image,
)
from inspection.nodes.sim_node import BURST_TOPIC, make_scene
from inspection.paths import model_file
from inspection.sim.cell_sim import SimulatedCell
from tests.conftest import spin_until, start_node, stop_node

BURST = np.random.default_rng(3).integers(0, 256, size=(5, 7, 4), dtype=np.uint8)


def test_burst_round_trip_keeps_every_light_in_order() -> None:
    message = burst_to_image(BURST, BURST_TOPIC, "camera_optical", Time(sec=4, nanosec=5))
    assert (message.encoding, message.height, message.width, message.step) == ("8UC4", 5, 7, 7 * 4)
    assert (message.header.frame_id, message.header.stamp.sec, message.header.stamp.nanosec) == ("camera_optical", 4, 5)
    back = image_to_burst(message, BURST_TOPIC)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, BURST)
    padded = burst_to_image(BURST, BURST_TOPIC)  # rows padded by a driver: the step says how far apart they are
    padded.data = b"".join(row.tobytes() + b"\xff" * 3 for row in BURST)
    padded.step += 3
    np.testing.assert_array_equal(image_to_burst(padded, BURST_TOPIC), BURST)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: setattr(m, "encoding", "rgb8"), "camera/photometric/image_raw: encoding 'rgb8' is not a burst"),
        (lambda m: setattr(m, "encoding", "8UC0"), "encoding '8UC0' is not a burst"),
        (lambda m: setattr(m, "encoding", "16UC4"), "encoding '16UC4' is not a burst"),
        (lambda m: setattr(m, "data", b"\0" * 10), "camera/photometric/image_raw: data has 10 bytes"),
        (lambda m: setattr(m, "step", 7), "camera/photometric/image_raw: step 7 is smaller"),
        (lambda m: setattr(m, "width", 0), "camera/photometric/image_raw: empty image"),
    ],
)
def test_an_unreadable_burst_is_one_line_naming_the_topic(edit, message) -> None:
    burst = burst_to_image(BURST, BURST_TOPIC)
    edit(burst)
    with pytest.raises(ImageConversionError, match=message) as caught:
        image_to_burst(burst, BURST_TOPIC)
    assert "\n" not in str(caught.value)


def test_only_an_8_bit_stack_of_images_is_sent_as_a_burst() -> None:
    with pytest.raises(ImageConversionError, match=r"camera/photometric/image_raw: a burst is \(height, width, "
                                                   r"lights\) uint8, got float32 \(5, 7, 4\)"):
        burst_to_image(BURST.astype(np.float32), BURST_TOPIC)
    with pytest.raises(ImageConversionError, match=r"got uint8 \(5, 7\)"):
        burst_to_image(BURST[:, :, 0], BURST_TOPIC)


@pytest.mark.skipif(not model_file("defect_detector.onnx").is_file(),
                    reason="models/defect_detector.onnx is not built (inspection train vision)")
def test_a_burst_meets_its_frame_in_the_vision_node(ros_env, ros_node, tmp_path) -> None:
    """Three frames of one simulated view: with its burst (read), with a burst of the wrong number of lights
    (the stage says so, the frame goes on), with no burst (waited for, counted, the frame goes on)."""
    cell = load_cell()
    scene = make_scene(load_node_params("sim_node", overrides={"seed": 11}))
    sim = SimulatedCell(cell, scene, 320, 180, seed=11)
    frame, burst = sim.capture().image, sim.capture_burst()
    assert burst.shape == (180, 320, len(cell.camera.photometric.azimuths_deg))
    info = camera_info_from_config(replace(cell.camera, width=320, height=180, fx=sim.camera.fx, fy=sim.camera.fy,
                                           cx=sim.camera.cx, cy=sim.camera.cy))
    mesh = export_stl(scene.part, tmp_path / "part.stl")
    vision = start_node("inspection.nodes.vision_node", ros_env, "-p", f"part_mesh:={mesh}", "-p", "confidence:=0.05",
                        "-p", "shape_detector:=true", "-p", "diagnostics_period_s:=0.2")
    processed: set[int] = set()
    diagnostics: list[dict] = []

    def keep(message: String) -> None:
        stamp = json.loads(message.data)["stamp"]
        processed.add(stamp["sec"] * 1_000_000_000 + stamp["nanosec"])

    ros_node.create_subscription(String, "inspection/hypotheses/json", keep, 10)
    ros_node.create_subscription(String, "inspection/diagnostics", lambda m: diagnostics.append(json.loads(m.data)), 10)
    images = ros_node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    infos = ros_node.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
    bursts = ros_node.create_publisher(Image, BURST_TOPIC, qos_profile_sensor_data)

    def send(sec: int, lights: np.ndarray | None) -> bool:
        stamp = Time(sec=sec)
        for _ in range(3):  # best effort: a frame lost on the way is sent again
            if lights is not None:
                bursts.publish(burst_to_image(lights, BURST_TOPIC, cell.camera.frame, stamp))
            info.header.stamp = stamp
            infos.publish(info)
            images.publish(numpy_to_image(frame, "rgb8", cell.camera.frame, stamp))
            if spin_until(ros_node, lambda: sec * 1_000_000_000 in processed, 8):
                return True
        return False

    try:
        assert spin_until(ros_node, lambda: images.get_subscription_count() > 0 and bursts.get_subscription_count() > 0,
                          60), stop_node(vision)
        spin_until(ros_node, lambda: False, 1.0)  # discovery is asymmetric: let the node's readers match us too
        assert send(1, burst)
        assert spin_until(ros_node, lambda: diagnostics and diagnostics[-1]["processed"] >= 1, 5)
        after_first = diagnostics[-1]
        assert send(2, burst[:, :, :3])
        assert send(3, None)
        assert spin_until(ros_node, lambda: diagnostics[-1]["processed"] >= 3, 5)
        assert vision.poll() is None
    finally:
        output = stop_node(vision)
    assert after_first["frames_without_burst"] == 0 and after_first["bad_bursts"] == 0, output[-3000:]
    assert "3 images for 4 lights" in output, output[-3000:]
    assert f"{BURST_TOPIC}: none stamped 3000000000 ns" in output, output[-3000:]
    assert diagnostics[-1]["frames_without_burst"] >= 1 and diagnostics[-1]["bad_bursts"] >= 1


def test_the_shape_finder_on_a_camera_without_lights_is_refused_in_one_line(ros_env, tmp_path) -> None:
    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    del document["camera"]["photometric"]
    cell_file = tmp_path / "cell.yaml"
    cell_file.write_text(yaml.safe_dump(document))
    vision = start_node("inspection.nodes.vision_node", ros_env, "-p", f"cell_file:={cell_file}", "-p",
                        f"part_mesh:={tmp_path / 'part.stl'}", "-p", "shape_detector:=true")
    assert vision.wait(timeout=60) == 2
    output = stop_node(vision)
    assert f"error: parameter shape_detector: the camera of {cell_file} has no photometric lights" in output, output
    assert "Traceback" not in output
