"""Bad input, stage by stage, beyond the per-module tests: every mesh reader (simulator, planner,
Stage I localisation) refuses the same broken files naming them; region files, plan messages and the
config files refuse NaN, infinities, wrong types and out-of-range values naming the field.

Covered elsewhere: broken/empty/non-manifold/millimetre meshes for the simulator (test_sim_parts.py),
NaN, zero normals, off-mesh and millimetre regions through `inspection plan` (test_planning_cli.py,
test_planning_coverage.py), images with a wrong encoding, step or size (test_ros_convert.py,
test_faults_injection.py, and through the nodes in test_node_vision.py, test_node_tactile.py and
test_faults_pipeline.py), parameters (test_config.py), cell and safety values (test_config.py,
test_safety.py).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
import yaml

from inspection.cell import load_cell
from inspection.config import ConfigError, load_node_params
from inspection.errors import InputError
from inspection.geometry.mesh_io import load_mesh
from inspection.planning.plan_summary import (
    planned_region, read_plan_summary, regions_without_findings, trajectory_stamp_ns,
)
from inspection.planning.regions_io import read_regions
from inspection.sim import shapes
from inspection.sim.parts import load_mesh_part
from tests.conftest import load_edited_cell

PANEL = shapes.cylinder_panel(1.0, 0.3, 0.3)


def _mesh_file(tmp_path, kind: str):
    vertices, triangles = (np.array(a, float) for a in PANEL)
    if kind == "garbage":
        path = tmp_path / "part.stl"
        path.write_bytes(b"solid part\n\x00\x01 not a facet\n")
        return path
    if kind == "empty":
        path = tmp_path / "part.stl"
        path.write_bytes(b"")
        return path
    if kind == "point_cloud":  # vertices only, as a scanner exports
        path = tmp_path / "part.ply"
        trimesh.PointCloud(vertices).export(path)
        return path
    if kind == "nan":
        path = tmp_path / "part.obj"
        vertices[3] = np.nan
    elif kind == "inf":
        path = tmp_path / "part.obj"
        vertices[5, 2] = np.inf
    elif kind == "millimetres":
        path = tmp_path / "part.stl"
        vertices *= 1000.0
    elif kind == "degenerate":  # every triangle has zero area (a corner repeated)
        path = tmp_path / "part.obj"
        triangles = np.asarray(triangles)[:, [0, 0, 1]]
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in vertices] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in
                                                                  np.asarray(triangles, int)]
    if path.suffix == ".obj":
        path.write_text("\n".join(lines) + "\n")
    else:
        trimesh.Trimesh(vertices, np.asarray(triangles, int), process=False).export(path)
    return path


READERS = {"simulator": load_mesh_part, "planner": load_mesh, "stage I": load_mesh}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("kind", "message"), [
    ("garbage", r"part\.stl: (cannot read mesh|mesh is empty)"),
    ("empty", r"part\.stl: (cannot read mesh|mesh is empty)"),
    ("point_cloud", r"part\.ply: (mesh is empty|cannot read mesh)"),
    ("nan", r"part\.obj: 1 vertices are NaN or infinite"),
    ("inf", r"part\.obj: 1 vertices are NaN or infinite"),
    ("millimetres", r"part\.stl: .*millimetres"),
    ("degenerate", r"part\.obj: .*(degenerate|zero (surface )?area|empty)"),
])
def test_every_mesh_reader_refuses_a_broken_mesh_naming_the_file(tmp_path, reader, kind, message) -> None:
    path = _mesh_file(tmp_path, kind)
    with pytest.raises(InputError, match=message):
        READERS[reader](path)


def _region(**changes) -> dict:
    return {"id": "r0", "center": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0], "radius_m": 0.01, **changes}


@pytest.mark.parametrize(("document", "message"), [
    ([_region(center=[0.0, float("inf"), 0.0])], r"regions\[0\]\.center: .* not finite"),
    ([_region(normal=[float("nan"), 0.0, 1.0])], r"regions\[0\]\.normal: .* not finite"),
    ([_region(center="0, 0, 0")], r"regions\[0\]\.center: expected \[x, y, z\] numbers"),
    ([_region(center=[0.0, 0.0])], r"regions\[0\]\.center: expected \[x, y, z\] numbers"),
    ([_region(center=[True, 0.0, 0.0])], r"regions\[0\]\.center: expected \[x, y, z\] numbers"),
    ([_region(radius_m=-0.01)], r"regions\[0\]\.radius_m: expected a positive number"),
    ([_region(radius_m="1 cm")], r"regions\[0\]\.radius_m: expected a number of metres"),
    ([_region(finder="laser")], r"regions\[0\]\.finder: 'laser' is not one of \['detector', 'spot', 'shape'\]"),
    ([_region(), _region()], r"regions\[1\]\.id: duplicate id 'r0'"),
    ([{"center": [0, 0, 0], "normal": [0, 0, 1], "radius_m": 0.01}], r"regions\[0\]\.id: expected a non-empty"),
    ({"regions": []}, r"expected a list of regions, got dict"),
])
def test_region_file_refuses_bad_values_naming_the_field(tmp_path, document, message) -> None:
    path = tmp_path / "regions.json"
    path.write_text(json.dumps(document))  # json writes NaN and Infinity, as a careless exporter would
    with pytest.raises(InputError, match=message):
        read_regions(path)


GOOD_PLAN = {"presses": [{"region": "r0"}, {"region": "r0"}], "cycle_time_s": 12.5, "full_coverage_presses": 90,
             "unreachable": [{"region": "r1", "reason": "approach pose: IK did not converge", "position": [0, 0, 0]}]}


def test_plan_message_is_read() -> None:
    plan = read_plan_summary(json.dumps(GOOD_PLAN))
    assert (plan.presses, plan.cycle_time_s, plan.full_coverage_presses, plan.refused) == (2, 12.5, 90, "")
    assert plan.unreachable == (("r1", "approach pose: IK did not converge"),)
    assert plan.press_regions == ("r0", "r0") and plan.press_positions == ()  # a plan naming regions only
    placed = read_plan_summary(json.dumps({**GOOD_PLAN, "presses": [{"region": "r0", "position": [0, 0, 0]},
                                                                     {"region": "r2", "position": [0.1, 0, 0.2]}]}))
    assert placed.press_positions == ((0.0, 0.0, 0.0), (0.1, 0.0, 0.2))


def test_a_press_is_placed_in_the_plan_by_where_it_was_made() -> None:
    positions, regions = [(0.0, 0.0, 0.0), (0.1, 0.0, 0.0)], ["a", "b"]
    assert planned_region((0.099, 0.0, 0.004), 0.0005, positions, regions) == "b"  # 4.1 mm < 5 mm + depth
    assert planned_region((0.1, 0.0, 0.006), 0.0, positions, regions) == ""  # 6 mm from every planned press
    assert planned_region((0.0, 0.0, 0.0), 0.0, [], []) == ""


def test_the_trajectory_stamp_of_a_plan_pairs_it_with_its_trajectory() -> None:
    assert trajectory_stamp_ns(json.dumps({**GOOD_PLAN, "trajectory_stamp": {"sec": 3, "nanosec": 5}})) == 3 * 10**9 + 5
    assert trajectory_stamp_ns(json.dumps(GOOD_PLAN)) is None
    assert trajectory_stamp_ns("{not json") is None


def test_regions_short_of_findings_are_named() -> None:
    lines = regions_without_findings(["a", "a", "b", "c"], ["a", "c", "c"])
    assert lines == ["region a: 1 of 2 presses gave no tactile finding",
                     "region b: 1 of 1 presses gave no tactile finding"]
    assert regions_without_findings(["a"], ["a"]) == []


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", r"inspection/plan/json: not valid JSON"),
    ("[1, 2]", r"inspection/plan/json: expected an object, got list"),
    (json.dumps({**GOOD_PLAN, "presses": 3}), r"inspection/plan/json\.presses: expected a list"),
    (json.dumps({**GOOD_PLAN, "presses": [{"region": 7}]}), r"\.presses: expected objects with a 'region' string"),
    (json.dumps({**GOOD_PLAN, "cycle_time_s": float("nan")}), r"\.cycle_time_s: expected a finite number"),
    (json.dumps({**GOOD_PLAN, "cycle_time_s": -1.0}), r"\.cycle_time_s: expected a finite number of seconds >= 0"),
    (json.dumps({k: v for k, v in GOOD_PLAN.items() if k != "cycle_time_s"}), r"\.cycle_time_s: expected"),
    (json.dumps({**GOOD_PLAN, "full_coverage_presses": "many"}), r"\.full_coverage_presses: expected an integer"),
    (json.dumps({**GOOD_PLAN, "unreachable": [{"region": 3}]}), r"\.unreachable: expected a list of"),
    (json.dumps({**GOOD_PLAN, "refused": ["unsafe"]}), r"\.refused: expected a string"),
    (json.dumps({**GOOD_PLAN, "presses": [{"region": "r0", "position": [0, 0, 0]}, {"region": "r0"}]}),
     r"\.presses\[1\]\.position: expected 3 finite numbers \(m\), got None"),
    (json.dumps({**GOOD_PLAN, "presses": [{"region": "r0", "position": [0, "x", 0]}]}),
     r"\.presses\[0\]\.position: expected 3 finite numbers"),
])
def test_bad_plan_message_is_named(text, message) -> None:
    with pytest.raises(InputError, match=message):
        read_plan_summary(text)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["camera"].update(width="wide"), r"camera\.width: expected an integer"),
    (lambda d: d["camera"].update(fx=float("nan")), r"camera\.fx: expected a finite number"),
    (lambda d: d["robot"].update(max_joint_velocity=True), r"robot\.max_joint_velocity: expected a number"),
    (lambda d: d["robot"].update(max_joint_velocity=-1.0), r"robot\.max_joint_velocity: must be positive"),
    (lambda d: d["tactile"].update(pixel_size_m=0.058), r"tactile\.pixel_size_m: .* implausible"),
    (lambda d: d["camera"].update(distortion=[0.1, 0.0]), r"camera\.distortion: expected plumb_bob with 5"),
    (lambda d: d["robot"].update(joint_names="shoulder"), r"robot\.joint_names: expected a list"),
    (lambda d: d.update(tactil=d.pop("tactile")), r"unknown field\(s\) \['tactil'\]"),
    (lambda d: d.pop("schema_version"), r"schema_version: missing"),
])
def test_cell_file_refuses_wrong_types_and_values_naming_the_key(tmp_path, edit, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_edited_cell(tmp_path, edit)


def test_cell_file_that_is_not_a_mapping_is_named(tmp_path) -> None:
    path = tmp_path / "cell.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="cell.yaml"):
        load_cell(path)


@pytest.mark.parametrize(("section", "message"), [
    ({"planner_node": {"ros__parameters": {"dwell_s": ".5"}}}, r"planner_node\.dwell_s: expected float"),
    ({"planner_node": {"ros__parameters": {"two_opt_passes": 2.5}}}, r"planner_node\.two_opt_passes: expected int"),
    ({"planner_node": {"ros__parameters": {"two_opt_passes": True}}}, r"planner_node\.two_opt_passes: expected int"),
    ({"planner_node": {"ros__parameters": {"dwell_s": float("inf")}}}, r"planner_node\.dwell_s: expected a finite"),
    ({"planner_node": {"ros__parameters": {"footprint_overlap": 0.95}}}, r"footprint_overlap: 0\.95 is above"),
    ({"planner_node": {"ros__parameters": {"motion_backend": "ompl"}}}, r"motion_backend: 'ompl' is not one of"),
    ({"planner_node": {"dwell_s": 0.5}}, r"'planner_node' must contain 'ros__parameters'"),
    ({"planner_node": {"ros__parameters": ["dwell_s"]}}, r"'planner_node\.ros__parameters' must be a mapping"),
])
def test_parameter_file_refuses_wrong_types_and_ranges_naming_the_key(tmp_path, section, message) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(section))
    with pytest.raises(ConfigError, match=message):
        load_node_params("planner_node", path)
