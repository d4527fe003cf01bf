"""The cell's hard safety limits: the shipped cell plans safely, every limit can refuse a plan and says
where and by how much, and a bad `safety:` section is named at load time."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import trimesh
import yaml

from inspection import paths
from inspection.cell import load_cell
from inspection.config import ConfigError
from inspection.geometry.surface import PartSurface
from inspection.records import ScanRegion
from inspection.planning.planner import PlannerSettings, TactileScanPlanner
from inspection.planning.safety import SafetyChecker, UnsafePlanError
from inspection.planning.trajectory import JointTrajectory, joint_move
from inspection.sim import shapes
from tests.conftest import load_edited_cell, run_cli

CELL = load_cell()
PANEL = PartSurface.from_arrays(*shapes.cylinder_panel(1.0, 0.6, 0.6))


def _region(name: str, angle: float, y: float, radius: float = 0.01) -> ScanRegion:
    normal = (math.sin(angle), 0.0, math.cos(angle))
    return ScanRegion(name, (normal[0], y, normal[2] - 1.0), normal, radius)


REGIONS = [_region("a", 0.2, 0.1), _region("b", -0.25, -0.15), _region("c", 0.0, 0.25)]


def _cell(**safety):
    return dataclasses.replace(CELL, safety=dataclasses.replace(CELL.safety, **safety))


@pytest.fixture(scope="module")
def planner() -> TactileScanPlanner:
    return TactileScanPlanner(CELL)


@pytest.fixture(scope="module")
def plan(planner):
    return planner.plan(PANEL, REGIONS)


def _check(planner, cell, plan, presses=None):
    checker = SafetyChecker(cell, planner.kinematics, planner._links, planner._reach, planner.settings.sensor_radius_m)
    presses = [p.press for p in plan.presses] if presses is None else presses
    return checker.check(plan.trajectory, presses, [p.contact_time_s for p in plan.presses][:len(presses)],
                         planner._prepared[1][0])


def test_shipped_cell_gives_safe_plans(planner, plan) -> None:
    assert plan.presses and not plan.unreachable
    assert _check(planner, CELL, plan) == []


@pytest.mark.parametrize(("safety", "limit", "where"), [
    ({"max_joint_velocity": 0.5}, "safety.max_joint_velocity", "speed"),
    ({"max_joint_acceleration": 1.0}, "safety.max_joint_acceleration", "acceleration"),
    ({"max_tool_speed_near_part": 0.01}, "safety.max_tool_speed_near_part", "gel speed within 15 mm"),
    ({"max_press_depth_m": 0.0005}, "safety.max_press_depth_m", "gel pressed in by"),
    ({"workspace_max": (0.7, 0.8, 1.0)}, "safety.workspace_max[x]", "at world x ="),
    ({"min_link_clearance_m": 0.2}, "safety.min_link_clearance_m", "collision:"),
])
def test_each_limit_refuses_and_says_where_and_by_how_much(planner, plan, safety, limit, where) -> None:
    violations = _check(planner, _cell(**safety), plan)
    (violation,) = [v for v in violations if v.limit.startswith(limit)]
    broken = violation.value < violation.bound if limit.endswith("clearance_m") else violation.value > violation.bound
    assert where in str(violation) and broken
    assert violation.where.startswith(("segment", "point")) and "press" in violation.where


def test_contact_away_from_any_planned_press_is_refused(planner, plan) -> None:
    # The same motion with the presses forgotten: every contact is now somewhere nothing was planned.
    violations = _check(planner, CELL, plan, presses=[])
    (violation,) = [v for v in violations if v.limit == "safety.contact_patch_radius_m"]
    assert "inside the part, off every press" in str(violation)


def test_tightened_joint_limit_is_kept_by_ik_and_checked(planner) -> None:
    trajectory = JointTrajectory(planner.kinematics.joint_names)
    trajectory.start(planner.kinematics.home)
    target = planner.kinematics.home.copy()
    target[0] = 3.3  # past the tightened +-3.1416 of shoulder_pan_joint, inside the URDF's +-2 pi
    unlimited = dataclasses.replace(planner.limits, velocity=np.full(6, 10.0), acceleration=np.full(6, 100.0))
    trajectory.extend(*joint_move(trajectory.last, target, unlimited))
    checker = planner.safety_checker()
    violations = checker.check(trajectory, [], [], PANEL)
    text = "; ".join(map(str, violations))
    assert "shoulder_pan_joint past its upper limit at 3.3 rad breaks safety.joint_limits" in text
    assert "safety.max_joint_velocity" in text  # 10 rad/s asked for
    assert planner.kinematics.upper[0] == pytest.approx(3.1416)  # IK solves within the tightened range


def test_planner_refuses_the_whole_plan_with_the_reason(planner) -> None:
    fast = TactileScanPlanner(_cell(max_joint_velocity=0.5))
    with pytest.raises(UnsafePlanError, match=r"unsafe plan refused .*segment \d+ \(t [\d.]+-[\d.]+ s, "
                                              r"[^:]*press \d+ \(region a\)[^:]*\): \w+_joint speed 1 rad/s "
                                              r"breaks safety.max_joint_velocity \(or the URDF's\) 0.5 rad/s"):
        fast.plan(PANEL, REGIONS[:1])


def test_cli_refuses_an_unsafe_plan_and_writes_nothing(tmp_path) -> None:
    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    document["safety"]["workspace_max"][0] = 0.7  # the panel's far side (world x 0.75) is out of bounds
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump(document))
    trimesh.Trimesh(*shapes.cylinder_panel(1.0, 0.6, 0.6)).export(tmp_path / "panel.stl")
    (tmp_path / "regions.json").write_text(json.dumps(
        [{"id": "far", "center": list(_region("far", 0.2, 0.1).center), "normal": [math.sin(0.2), 0, math.cos(0.2)],
          "radius_m": 0.01}]))
    result = run_cli("plan", "--mesh", str(tmp_path / "panel.stl"), "--regions", str(tmp_path / "regions.json"),
                     "--cell", str(tmp_path / "cell.yaml"), "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 1, result.stderr
    assert "error: unsafe plan refused" in result.stderr and "safety.workspace_max[x] 0.7 m" in result.stderr
    assert "(region far)" in result.stderr
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("safety"), "safety: required field is missing"),
    (lambda d: d["safety"].pop("max_press_depth_m"), "safety.max_press_depth_m: required field is missing"),
    (lambda d: d["safety"].update(max_joint_velocity="fast"), "safety.max_joint_velocity: expected a number"),
    (lambda d: d["safety"].update(max_joint_acceleration=-1.0), "safety.max_joint_acceleration: -1.0 must be positive"),
    (lambda d: d["safety"].update(workspace_min=[0.0, 0.0, 2.0]), "safety.workspace_min .* must be below"),
    (lambda d: d["safety"].update(workspace_min=[0.1, 0.0, 0.0]), "robot.base_pose.xyz .* outside the safety workspace"),
    (lambda d: d["safety"]["joint_limits"].update(elbow=[-1.0, 1.0]), r"safety.joint_limits: \['elbow'\] are not"),
    (lambda d: d["safety"]["joint_limits"].update(elbow_joint=[1.0, -1.0]), "lower 1.0 must be below upper -1.0"),
    (lambda d: d["safety"]["joint_limits"].update(elbow_joint=[-1.0, 1.0]), "home_positions: elbow_joint at 1.5708"),
    (lambda d: d["robot"].update(max_joint_velocity=2.0), "robot.max_joint_velocity 2.0 exceeds safety"),
    (lambda d: d["robot"].update(max_tool_speed_near_part=0.05), "robot.max_tool_speed_near_part 0.05 exceeds"),
    (lambda d: d["tactile"].update(press_depth_m=0.0018), "tactile.press_depth_m 0.0018 exceeds safety"),
    (lambda d: d["safety"].update(max_press_depth_m=0.003), "exceeds the gel's rated tactile.max_press_depth_m"),
    (lambda d: d["safety"].update(slow_zone_m=0.03), "safety.slow_zone_m 0.03 must be below tactile.approach"),
])
def test_bad_safety_section_is_named_at_load(tmp_path, edit, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_edited_cell(tmp_path, edit)


@pytest.mark.parametrize(("cell", "settings", "message"), [
    (_cell(joint_limits={"elbow_joint": (-4.0, 2.0)}), PlannerSettings(), "elbow_joint: .* wider than the URDF"),
    (_cell(workspace_max=(1.1, 0.8, 0.4)), PlannerSettings(), "robot.home_positions: at home .*workspace_max"),
    (CELL, PlannerSettings(min_clearance_m=0.001), "min_clearance_m 0.001 is below safety.min_link_clearance_m"),
])
def test_limits_that_need_the_robot_model_are_checked_at_start(cell, settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TactileScanPlanner(cell, settings)
