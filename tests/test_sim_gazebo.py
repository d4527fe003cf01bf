"""Gazebo assets: the world is well formed, every model and mesh it references exists, and its camera
and part match config/cell.yaml. (Gazebo itself cannot run here.)"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from inspection import paths
from inspection.cell import load_cell

SIM = paths.share_dir() / "sim"
WORLD = SIM / "worlds" / "inspection_cell.sdf"
# Gazebo camera frame (x forward, y left, z up) expressed in the optical frame (z forward, x right, y down).
GAZEBO_FROM_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _model_dir(uri: str) -> Path:
    assert uri.startswith("model://"), uri
    return SIM / "models" / uri[len("model://"):].split("/")[0]


def _include(name: str) -> ET.Element:
    for include in ET.parse(WORLD).getroot().iter("include"):
        if include.findtext("name") == name:
            return include
    raise AssertionError(f"world has no include named {name}")


def _pose(element: ET.Element) -> tuple[np.ndarray, np.ndarray]:
    values = [float(v) for v in element.findtext("pose").split()]
    return np.array(values[:3]), Rotation.from_euler("xyz", values[3:]).as_matrix()


def test_world_and_models_are_well_formed_and_complete() -> None:
    root = ET.parse(WORLD).getroot()
    assert root.tag == "sdf" and root.find("world") is not None
    includes = list(root.iter("include"))
    assert {i.findtext("name") for i in includes} >= {"part", "inspection_camera"}
    for include in includes:
        model_dir = _model_dir(include.findtext("uri"))
        config = ET.parse(model_dir / "model.config").getroot()
        model_sdf = model_dir / config.findtext("sdf")
        model_root = ET.parse(model_sdf).getroot()
        for uri in model_root.iter("uri"):
            target = uri.text.strip()
            path = _model_dir(target) / target.split("/", 3)[3] if target.startswith("model://") else model_dir / target
            assert path.is_file(), f"{model_sdf}: {target} does not exist"


def test_camera_matches_cell_yaml() -> None:
    camera = load_cell().camera
    sdf = ET.parse(SIM / "models" / "inspection_camera" / "model.sdf").getroot()
    cam = sdf.find(".//sensor/camera")
    assert int(cam.findtext("image/width")) == camera.width and int(cam.findtext("image/height")) == camera.height
    assert float(cam.findtext("horizontal_fov")) == pytest.approx(2 * math.atan(camera.width / (2 * camera.fx)))
    intrinsics = cam.find("lens/intrinsics")
    for key in ("fx", "fy", "cx", "cy"):
        assert float(intrinsics.findtext(key)) == pytest.approx(getattr(camera, key))
    k1, k2, p1, p2, k3 = camera.distortion
    distortion = cam.find("distortion")
    for key, value in (("k1", k1), ("k2", k2), ("k3", k3), ("p1", p1), ("p2", p2)):
        assert float(distortion.findtext(key)) == pytest.approx(value)
    assert cam.findtext("optical_frame_id") == camera.frame
    position, rotation = _pose(_include("inspection_camera"))
    np.testing.assert_allclose(position, camera.pose.xyz, atol=1e-9)
    expected = camera.pose.matrix()[:3, :3] @ GAZEBO_FROM_OPTICAL
    np.testing.assert_allclose(rotation, expected, atol=1e-9)


def test_part_pose_matches_cell_yaml() -> None:
    part = load_cell().part
    position, rotation = _pose(_include("part"))
    np.testing.assert_allclose(position, part.pose.xyz, atol=1e-9)
    np.testing.assert_allclose(rotation, part.pose.matrix()[:3, :3], atol=1e-9)


def test_bridge_topics_are_the_pipeline_topics() -> None:
    bridge = yaml.safe_load((paths.config_file("gz_bridge.yaml")).read_text())
    by_topic = {entry["ros_topic_name"]: entry for entry in bridge}
    assert by_topic["camera/image_raw"]["ros_type_name"] == "sensor_msgs/msg/Image"
    assert by_topic["camera/camera_info"]["ros_type_name"] == "sensor_msgs/msg/CameraInfo"
    assert by_topic["joint_states"]["ros_type_name"] == "sensor_msgs/msg/JointState"
    assert all(entry["direction"] in ("GZ_TO_ROS", "ROS_TO_GZ", "BIDIRECTIONAL") for entry in bridge)


def test_shipped_part_mesh_is_the_parametric_default_part() -> None:
    import trimesh

    from tools.export_gazebo_part import DEFAULT_PART
    from inspection.sim.parts import build_part

    part = build_part(DEFAULT_PART)
    shipped = trimesh.load(SIM / "models" / "fuselage_panel" / "meshes" / "fuselage_panel.stl", process=False)
    assert len(shipped.faces) == len(part.triangles)
    np.testing.assert_allclose(shipped.bounds, [part.vertices.min(axis=0), part.vertices.max(axis=0)], atol=1e-6)
    top_centre = shipped.vertices[np.argmax(shipped.vertices[:, 2])]
    np.testing.assert_allclose(top_centre[2], 0.0, atol=1e-6)  # part frame origin on the top surface
