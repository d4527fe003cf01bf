"""The one config loader: pipeline.yaml (ROS 2 parameter format) and cell.yaml, with clear errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from inspection import paths
from inspection.cell import load_cell
from inspection.config import ConfigError, load_node_params
from inspection.params import NODE_PARAMETERS
from tests.conftest import load_edited_cell


def test_every_node_section_loads_and_matches_the_spec() -> None:
    document = yaml.safe_load(paths.config_file("pipeline.yaml").read_text())
    for node, specs in NODE_PARAMETERS.items():
        assert node in document, f"pipeline.yaml has no section for {node}"
        values = load_node_params(node)
        assert set(values) == {s.name for s in specs}


def _write_params(tmp_path, node: str, params: dict) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"use_sim_time": False}},
                                    node: {"ros__parameters": params}}))
    return str(path)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"widht": 640}, "unknown parameter 'image_probe_node.widht'; did you mean 'width'"),
        ({"width": "wide"}, "image_probe_node.width: expected int"),
        ({"width": 0}, "below the minimum"),
        ({"rate_hz": 5000.0}, "above the maximum"),
        ({"encoding": "yuv422"}, "not one of"),
    ],
)
def test_bad_parameters_name_file_and_key(tmp_path, params, message) -> None:
    path = _write_params(tmp_path, "image_probe_node", params)
    with pytest.raises(ConfigError, match=message) as info:
        load_node_params("image_probe_node", path)
    assert "params.yaml" in str(info.value) or "override" not in str(info.value)


def test_precedence_defaults_file_overrides(tmp_path) -> None:
    path = _write_params(tmp_path, "image_probe_node", {"width": 320})
    values = load_node_params("image_probe_node", path, overrides={"height": 200})
    assert (values["width"], values["height"], values["rate_hz"]) == (320, 200, 30.0)


def test_broken_yaml_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("image_probe_node:\n  ros__parameters: {width: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML at line"):
        load_node_params("image_probe_node", path)


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nothere.yaml: cannot read"):
        load_node_params("image_probe_node", tmp_path / "nothere.yaml")


def test_cell_loads_with_consistent_frames() -> None:
    cell = load_cell()
    assert cell.camera.width >= 1920 and cell.camera.height >= 1080
    assert len(cell.robot.joint_names) == 6
    camera_axis = cell.camera_to_world()[:3, 2]
    part_origin = cell.part_to_world()[:3, 3]
    to_part = part_origin - cell.camera_to_world()[:3, 3]
    # The camera looks at the part.
    assert np.dot(camera_axis, to_part / np.linalg.norm(to_part)) > 0.9
    assert cell.tactile.footprint_m[0] == pytest.approx(0.01856)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["part"]["pose"].update(xyz=[450.0, 0, 50.0]), "were millimetres given"),
        (lambda d: d["part"]["pose"].update(rpy=[0, 0, 90.0]), "were degrees given"),
        (lambda d: d["camera"].update(fx=-1.0), "focal lengths must be positive"),
        (lambda d: d["camera"].pop("width"), "camera.width: required field is missing"),
        (lambda d: d["tactile"].update(press_depth_m=0.01), "press_depth_m"),
        (lambda d: d["robot"].update(home_positions=[0.0]), "home_positions"),
    ],
)
def test_bad_cell_values_are_named(tmp_path, edit, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_edited_cell(tmp_path, edit)


def test_share_dir_override(tmp_path, monkeypatch) -> None:
    shutil.copytree(paths.share_dir() / "config", tmp_path / "config")
    monkeypatch.setenv("INSPECTION_SHARE", str(tmp_path))
    assert paths.config_file("cell.yaml") == tmp_path / "config" / "cell.yaml"
    assert load_cell().camera.width >= 1920
