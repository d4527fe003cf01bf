"""Kinematics and trajectory: IK reaches the presses, limits hold, time is monotone, nothing is dropped."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspection.cell import Pose, load_cell
from inspection.geometry.surface import PartSurface
from inspection.records import ScanRegion
from inspection.planning.motion import MotionError
from inspection.planning.planner import PlannerSettings, TactileScanPlanner
from inspection.planning.trajectory import Limits, joint_move, line_move, trapezoid_duration
from inspection.sim import shapes

CELL = load_cell()
PANEL = PartSurface.from_arrays(*shapes.cylinder_panel(1.0, 0.6, 0.6))
DOME = PartSurface.from_arrays(*shapes.height_field(2.0, 2.0, 0.5, 0.01))
SPHERE = PartSurface.from_arrays(*shapes.sphere(0.15, 4))


def _panel_region(name: str, angle: float, y: float, radius: float = 0.01) -> ScanRegion:
    normal = (math.sin(angle), 0.0, math.cos(angle))
    return ScanRegion(name, (normal[0], y, normal[2] - 1.0), normal, radius)


PANEL_REGIONS = [_panel_region("a", 0.2, 0.1), _panel_region("b", -0.25, -0.15), _panel_region("c", 0.0, 0.25),
                 _panel_region("d", 0.1, -0.2, 0.02)]


@pytest.fixture(scope="module")
def planner() -> TactileScanPlanner:
    return TactileScanPlanner(CELL)


@pytest.fixture(scope="module")
def panel_plan(planner):
    return planner.plan(PANEL, PANEL_REGIONS)


def test_trapezoid_durations_match_the_closed_form() -> None:
    assert trapezoid_duration(1.0, 1.0, 2.0) == pytest.approx(1.5)  # cruise phase
    assert trapezoid_duration(0.1, 1.0, 2.0) == pytest.approx(2 * math.sqrt(0.05))  # triangle


def test_joint_move_is_synchronised_and_within_velocity_and_acceleration() -> None:
    limits = Limits(np.full(6, 1.0), np.full(6, 2.0), 0.02, max_joint_step=0.002)
    q0, q1 = np.zeros(6), np.array([1.2, -0.4, 0.05, 0.0, 0.6, -1.0])
    positions, times = joint_move(q0, q1, limits)
    assert np.allclose(positions[-1], q1) and times[-1] == pytest.approx(trapezoid_duration(1.2, 1.0, 2.0))
    velocity = np.diff(positions, axis=0) / np.diff(times)[:, None]
    assert np.abs(velocity).max() <= 1.0 + 1e-9
    acceleration = np.diff(velocity, axis=0) / np.diff((times[1:] + times[:-1]) / 2)[:, None]
    assert np.abs(acceleration).max() <= 2.0 * 1.02
    fractions = (positions - q0)[:, 0] / q1[0]
    assert np.allclose((positions - q0), fractions[:, None] * q1)  # all joints on one straight joint-space line


def test_every_press_is_reached_at_the_commanded_depth(planner, panel_plan) -> None:
    assert len(panel_plan.presses) >= len(PANEL_REGIONS) and not panel_plan.unreachable
    for planned in panel_plan.presses:
        press = planned.press
        sensor = planner.kinematics.sensor_pose(planned.q_contact)
        target = press.position - press.normal * press.depth_m
        assert np.linalg.norm(sensor[:3, 3] - target) < 2e-4
        assert math.degrees(math.acos(np.clip(sensor[:3, 2] @ press.approach_axis, -1, 1))) < 0.5


def test_trajectory_respects_limits_and_is_continuous(planner, panel_plan) -> None:
    positions, times = panel_plan.trajectory.as_arrays()
    kin = planner.kinematics
    assert positions.shape == (len(times), 6) and times[0] == 0.0
    assert np.all(np.diff(times) > 0)
    assert np.all(positions >= kin.lower) and np.all(positions <= kin.upper)
    assert np.abs(np.diff(positions, axis=0)).max() <= 0.05 + 1e-9
    velocity = np.abs(np.diff(positions, axis=0)) / np.diff(times)[:, None]
    assert velocity.max() <= CELL.robot.max_joint_velocity * (1 + 1e-6)
    assert np.allclose(positions[0], kin.home) and np.allclose(positions[-1], kin.home)
    assert panel_plan.cycle_time_s == pytest.approx(times[-1])
    contact_times = [p.contact_time_s for p in panel_plan.presses]
    assert contact_times == sorted(contact_times)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(-0.28, 0.28), st.floats(-0.28, 0.28), st.floats(0.003, 0.03)),
                min_size=1, max_size=4))
def test_any_plan_keeps_limits_monotone_time_and_continuity(planner, regions) -> None:
    scan_regions = [_panel_region(f"r{i}", a, y, r) for i, (a, y, r) in enumerate(regions)]
    plan = planner.plan(PANEL, scan_regions)
    positions, times = plan.trajectory.as_arrays()
    assert np.all(positions >= planner.kinematics.lower) and np.all(positions <= planner.kinematics.upper)
    assert (len(times) == 1) == (not plan.presses)  # corners beyond reach leave the arm at home
    if plan.presses:
        assert np.all(np.diff(times) > 0)
        assert np.abs(np.diff(positions, axis=0)).max() <= 0.05 + 1e-9
        velocity = np.abs(np.diff(positions, axis=0)) / np.diff(times)[:, None]
        assert velocity.max() <= CELL.robot.max_joint_velocity + 1e-6
    # Every press of the coverage is either planned or listed as unreachable: none is dropped.
    assert len(plan.presses) + len(plan.unreachable) == len(planner.tool_paths(PANEL, scan_regions).presses)


def test_tool_is_slow_near_the_part(planner, panel_plan) -> None:
    positions, times = panel_plan.trajectory.as_arrays()
    sensor = np.array([planner.kinematics.sensor_pose(q)[:3, 3] for q in positions])
    near = PANEL.distance(sensor) < CELL.tactile.approach_standoff_m - 0.0015
    segment_near = near[1:] | near[:-1]
    speed = np.linalg.norm(np.diff(sensor, axis=0), axis=1) / np.diff(times)
    assert segment_near.any()
    assert speed[segment_near].max() <= CELL.robot.max_tool_speed_near_part * 1.01


def test_doubly_curved_and_closed_parts_are_planned(planner) -> None:
    dome_region = ScanRegion("dome", (0.05, -0.05, -(2 * 0.05 ** 2 + 2 * 0.05 ** 2) / 2),
                             tuple(shapes.height_field_normal(np.array([[0.05, -0.05, 0]]), 2, 2)[0]), 0.015)
    dome = planner.plan(DOME, [dome_region])
    assert dome.presses and not dome.unreachable
    top = np.array([0.0, 0.0, 0.0])
    side = np.array([0.15 * math.sin(0.6), 0.0, -0.15 + 0.15 * math.cos(0.6)])
    regions = [ScanRegion("top", tuple(top), (0.0, 0.0, 1.0), 0.01),
               ScanRegion("side", tuple(side), tuple(shapes.sphere_normal(side[None])[0]), 0.01)]
    sphere = planner.plan(SPHERE, regions)
    assert {p.press.regions[0] for p in sphere.presses} == {"top", "side"}
    assert len(sphere.presses) + len(sphere.unreachable) == len(planner.tool_paths(SPHERE, regions).presses)


def test_out_of_reach_presses_are_listed_with_the_reason_not_dropped() -> None:
    far = dataclasses.replace(CELL, part=dataclasses.replace(CELL.part, pose=Pose((2.5, 0.0, 0.05))))
    plan = TactileScanPlanner(far).plan(PANEL, PANEL_REGIONS[:2])
    assert not plan.presses and len(plan.unreachable) >= 2
    assert {u.region for u in plan.unreachable} == {"a", "b"}
    assert all("IK did not converge" in u.reason for u in plan.unreachable)
    assert len(plan.trajectory.positions) == 1  # stays at home


def test_singular_and_colliding_poses_are_refused(planner) -> None:
    picky = TactileScanPlanner(CELL, PlannerSettings(min_manipulability=0.5))
    plan = picky.plan(PANEL, PANEL_REGIONS[:1])
    assert not plan.presses and all("singularity" in u.reason for u in plan.unreachable)
    cautious = TactileScanPlanner(CELL, PlannerSettings(min_clearance_m=0.1))
    plan = cautious.plan(PANEL, PANEL_REGIONS[:1])
    assert not plan.presses and all("collision" in u.reason for u in plan.unreachable)
    assert any("wrist" in u.reason for u in plan.unreachable)  # the link nearest the part is named


def test_no_trajectory_point_brings_an_arm_mesh_near_the_part(planner, panel_plan) -> None:
    """Independent of the planner's sampling: dense points of the UR5 collision meshes stay clear."""
    import trimesh

    from inspection.planning.collision import _resolve_mesh
    from inspection.robot_description import resolve_urdf

    urdf = resolve_urdf(CELL.robot.urdf)
    kin = planner.kinematics
    links = {}
    for name in ("forearm_link", "wrist_1_link", "wrist_2_link", "wrist_3_link"):
        stl = "wrist" + name[6] if name.startswith("wrist") else "forearm"
        mesh = trimesh.load(_resolve_mesh(f"package://example-robot-data/robots/ur_description/meshes/ur5/collision/"
                                          f"{stl}.stl", urdf), force="mesh")
        surface_points, _ = trimesh.sample.sample_surface(mesh, 1500, seed=7)
        links[kin.model.getFrameId(name)] = np.vstack([surface_points, mesh.vertices])
    positions, _ = panel_plan.trajectory.as_arrays()
    # Every 20th point along the way, and every press at full depth (the arm's nearest approach).
    for q in [*positions[::20], *(p.q_contact for p in panel_plan.presses)]:
        for transform, vertices in zip(kin.frame_placements(q, list(links)), links.values()):
            points = vertices @ transform[:3, :3].T + transform[:3, 3]
            assert PANEL.distance(points).min() > 0.005


def test_planning_is_deterministic(panel_plan) -> None:
    again = TactileScanPlanner(CELL).plan(PANEL, PANEL_REGIONS)
    assert again.to_dict() == panel_plan.to_dict()


def test_a_transit_that_sweeps_the_part_between_lifted_poses_goes_via_home(planner) -> None:
    """Around the nose of a leading edge the joint-space move between the two lifted poses can sweep the part
    (seed 424242, part 1 of the stored campaign lost 10 presses that way): the planner then lifts higher and,
    last, goes via home. A motion double refuses every direct press-to-press move and every move between two
    lifted poses, so only the way via home is left."""
    kinematics, limits = planner.kinematics, planner.limits

    def height(q: np.ndarray) -> float:  # of the sensor above the panel (a cylinder of radius 1 m about z = -1)
        x, _, z = kinematics.sensor_pose(q)[:3, 3]
        return math.hypot(x, z + 1.0) - 1.0

    class SweepingMotion:
        def __init__(self) -> None:
            self.refused = 0

        def transit(self, q_from: np.ndarray, q_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            at_home = np.allclose(q_from, kinematics.home) or np.allclose(q_to, kinematics.home)
            near = height(q_from) < 0.05 and height(q_to) < 0.05
            lifted = min(height(q_from), height(q_to)) > 0.05
            if not at_home and (near or lifted):
                self.refused += 1
                raise MotionError("transit: collision: swept the part (test double)")
            return joint_move(q_from, q_to, limits)

        def line(self, path_q: np.ndarray, arc_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return path_q, line_move(path_q, arc_length, limits)

    double = SweepingMotion()
    sweeping = TactileScanPlanner(CELL, motion=double)
    plan = sweeping.plan(PANEL, PANEL_REGIONS)
    assert plan.unreachable == [] and len(plan.presses) == len(planner.plan(PANEL, PANEL_REGIONS).presses)
    assert double.refused >= 3 * (len(plan.presses) - 1)  # direct, lifted, lifted twice as high: each press after the first
    positions = plan.trajectory.as_arrays()[0]
    at_home = np.flatnonzero(np.all(np.isclose(positions, kinematics.home), axis=1))
    visits = 1 + int(np.sum(np.diff(at_home) > 1))  # runs of consecutive samples at home
    assert visits == len(plan.presses) + 1  # the start, once between each two presses, and the return
