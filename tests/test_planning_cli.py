"""`inspection plan` end to end, and its answers to bad input: one line naming the field, exit 1."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import trimesh

from inspection.sim import shapes
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    mesh = folder / "panel.stl"
    trimesh.Trimesh(*shapes.cylinder_panel(1.0, 0.6, 0.6)).export(mesh)
    return folder, mesh


def _region(name: str, angle: float, y: float, radius: float = 0.01) -> dict:
    return {"id": name, "center": [math.sin(angle), y, math.cos(angle) - 1.0],
            "normal": [math.sin(angle), 0.0, math.cos(angle)], "radius_m": radius}


def _write(folder, name: str, content) -> str:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_plan_writes_presses_trajectory_and_cycle_time(panel) -> None:
    folder, mesh = panel
    regions = _write(folder, "regions.json", [_region("a", 0.1, 0.05), _region("b", -0.2, -0.1, 0.015)])
    out = folder / "plan.json"
    result = run_cli("plan", "--mesh", str(mesh), "--regions", regions, "--json", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.read_text())
    assert {p["region"] for p in plan["presses"]} == {"a", "b"} and plan["unreachable"] == []
    for press in plan["presses"]:
        position, axis = np.array(press["position"]), np.array(press["approach_axis"])
        assert abs(np.linalg.norm(axis) - 1) < 1e-9
        # The STL repeats vertices per triangle; merged, the normals are smooth: within 2 deg of the cylinder's.
        truth = shapes.cylinder_panel_normal(position[None], 1.0)[0]
        assert np.degrees(np.arccos(np.clip(-axis @ truth, -1, 1))) < 2.0
    trajectory = plan["trajectory"]
    assert len(trajectory["joint_names"]) == 6
    times = [p["time_from_start"] for p in trajectory["points"]]
    assert times == sorted(times) and plan["cycle_time_s"] == pytest.approx(times[-1]) and times[-1] > 0
    assert "presses" in result.stdout and plan["meta"]["motion_backend"].startswith("builtin")


def test_full_coverage_needs_more_presses_than_targeted(panel, tmp_path) -> None:
    _, _ = panel
    small = tmp_path / "small.stl"
    trimesh.Trimesh(*shapes.cylinder_panel(1.0, 0.08, 0.08)).export(small)
    regions = _write(tmp_path, "r.json", [_region("a", 0.0, 0.0, 0.008)])
    targeted_run = run_cli("plan", "--mesh", str(small), "--regions", regions, "--json", str(tmp_path / "t.json"))
    assert targeted_run.returncode == 0, targeted_run.stderr
    result = run_cli("plan", "--mesh", str(small), "--full-coverage", "--json", str(tmp_path / "f.json"))
    assert result.returncode == 0, result.stderr
    targeted = json.loads((tmp_path / "t.json").read_text())["presses"]
    full = json.loads((tmp_path / "f.json").read_text())["presses"]
    assert len(full) > 3 * len(targeted)


@pytest.mark.parametrize(("mesh_text", "regions", "message"), [
    ("solid broken\nthis is not an stl\n", None, "broken.stl"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 nan\nf 1 2 3\n", None, r"broken.obj: 1 vertices are NaN"),
    (None, [dict(_region("a", 0.0, 0.0), center=[float("nan"), 0.0, 0.0])], r"regions\[0\].center.*not finite"),
    (None, [dict(_region("a", 0.0, 0.0), normal=[0.0, 0.0, 0.0])], r"regions\[0\].normal: zero-length"),
    (None, [_region("a", 0.0, 0.0), dict(_region("b", 0.0, 0.0), center=[0.0, 0.0, 0.5])],
     r"region 'b' \(regions\[1\].center.*from the mesh surface"),
    (None, [dict(_region("a", 0.0, 0.0), center=[100.0, 50.0, 0.0])], r"regions\[0\].center: .*millimetres"),
    (None, [dict(_region("a", 0.0, 0.0), radius_m=10.0)], r"regions\[0\].radius_m: .*millimetres"),
    (None, "[{\"id\": \"a\", ", "not valid JSON"),
])
def test_bad_input_is_one_line_naming_the_problem(panel, tmp_path, mesh_text, regions, message) -> None:
    _, mesh = panel
    if mesh_text is not None:
        mesh = tmp_path / ("broken.obj" if mesh_text.startswith("v ") else "broken.stl")
        mesh.write_text(mesh_text)
    regions_path = _write(tmp_path, "regions.json", regions if regions is not None else [_region("a", 0.0, 0.0)])
    result = run_cli("plan", "--mesh", str(mesh), "--regions", regions_path, "--json", str(tmp_path / "o.json"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "o.json").exists()


def test_mesh_in_millimetres_is_caught(tmp_path) -> None:
    vertices, triangles = shapes.cylinder_panel(1.0, 0.6, 0.6)
    mesh = tmp_path / "mm.stl"
    trimesh.Trimesh(vertices * 1000, triangles).export(mesh)
    regions = _write(tmp_path, "r.json", [_region("a", 0.0, 0.0)])
    result = run_cli("plan", "--mesh", str(mesh), "--regions", regions, "--json", str(tmp_path / "o.json"))
    assert result.returncode == 1 and "were millimetres given?" in result.stderr and "mm.stl" in result.stderr
