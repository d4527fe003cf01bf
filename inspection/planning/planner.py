"""The tactile scan planner: regions on a mesh -> ordered presses -> IK -> a timed joint trajectory.

Each press is approached in joint space to a stand-off pose, pressed along a straight line (IK every
``line_step_m``), held for the dwell, retreated along the same line, then the arm transits to the
next press. A press whose poses fail IK, joint limits, the singularity bound or the clearance check
is listed as unreachable with the reason, never dropped silently. The finished trajectory is checked
against every joint limit and then against the cell's hard safety limits (``safety``): an unsafe plan is
refused with UnsafePlanError naming each broken limit, never returned.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from inspection.cell import CellConfig
from inspection.config import ConfigError
from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.records import ScanRegion
from inspection.planning.coverage import Footprint, FullCoverageRasterPlanner, RegionCoveragePlanner
from inspection.planning.interfaces import (CompoundMeshModifier, CompoundToolPathModifier, Press,
                                            StandoffModifier, ToolPathPlannerPipeline, ToolPaths)
from inspection.planning.collision import ClearanceChecker, load_link_samples, reach_bound
from inspection.planning.doubt import DefectCalibration, PressBudget, PressBudgetModifier
from inspection.planning.kinematics import IkSettings, RobotKinematics
from inspection.planning.mesh_modifiers import OrientNormalsModifier
from inspection.planning.motion import BuiltinMotion, MotionBackend, MotionError
from inspection.planning.ordering import TravelOrderModifier
from inspection.planning.safety import SafetyChecker, SafetyLimits, arm_points, outside_workspace
from inspection.planning.trajectory import JointTrajectory, Limits, check_trajectory

# How far inside the approach stand-off a transit may dip (the stand-off pose itself sits on the boundary).
SLOW_ZONE_TOLERANCE_M = 0.001


@dataclass(frozen=True)
class PlannerSettings:
    """planner_node parameters (see inspection/params.py for their meaning and ranges)."""

    footprint_overlap: float = 0.2
    dwell_s: float = 0.5
    transit_clearance_m: float = 0.1
    line_step_m: float = 0.002
    min_manipulability: float = 0.005
    sensor_radius_m: float = 0.02
    min_clearance_m: float = 0.005
    max_region_offset_m: float = 0.01
    two_opt_passes: int = 20
    ik_max_iterations: int = 150
    motion_backend: str = "auto"
    moveit_group: str = "ur_manipulator"
    defect_calibration: str = ""  # planning.doubt; "" = the detector confidence taken as the probability
    max_presses: int = 0  # press budget per part; 0 = no cap
    residual_risk: float = 0.0  # stop once unpressed regions hold at most this many expected defects; 0 = off

    @staticmethod
    def from_params(params: dict[str, Any]) -> "PlannerSettings":
        return PlannerSettings(**{k: params[k] for k in PlannerSettings.__dataclass_fields__ if k in params})


@dataclass(frozen=True)
class PlannedPress:
    press: Press
    q_contact: np.ndarray
    contact_time_s: float

    def to_dict(self) -> dict[str, Any]:
        p = self.press
        return {"region": p.regions[0] if p.regions else "", "regions": list(p.regions),
                "position": _floats(p.position), "approach_axis": _floats(p.approach_axis),
                "normal": _floats(p.normal), "x_axis": _floats(p.x_axis), "depth_m": p.depth_m,
                "approach_standoff_m": p.approach_m, "contact_time_s": round(self.contact_time_s, 6),
                "joint_positions": _floats(self.q_contact)}


@dataclass(frozen=True)
class Unreachable:
    region: str
    position: np.ndarray
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "position": _floats(self.position), "reason": self.reason}


@dataclass
class Plan:
    presses: list[PlannedPress]
    unreachable: list[Unreachable]
    trajectory: JointTrajectory
    warnings: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (region, why): left out by the press budget

    @property
    def cycle_time_s(self) -> float:
        return self.trajectory.end_time

    def to_dict(self) -> dict[str, Any]:
        return {"presses": [p.to_dict() for p in self.presses],
                "unreachable": [u.to_dict() for u in self.unreachable],
                "skipped": [{"region": region, "reason": reason} for region, reason in self.skipped],
                "trajectory": self.trajectory.to_dict(), "cycle_time_s": round(self.cycle_time_s, 6),
                "warnings": self.warnings}


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


class TactileScanPlanner:
    """Plans presses and the joint trajectory for one cell; reuse it across parts (the robot loads once)."""

    def __init__(self, cell: CellConfig, settings: PlannerSettings = PlannerSettings(),
                 motion: MotionBackend | None = None) -> None:
        self.cell, self.settings = cell, settings
        self.kinematics = RobotKinematics(cell, IkSettings(max_iterations=settings.ik_max_iterations))
        # IK keeps to the safety joint limits (the URDF's, tightened), so the safety check never meets them broken.
        safety = SafetyLimits.from_cell(cell, self.kinematics)
        self.kinematics.lower, self.kinematics.upper = safety.lower, safety.upper
        names, home = arm_points(self.kinematics, self.kinematics.home[None])
        world_from_part = cell.part_to_world()
        outside = outside_workspace(safety, names, home @ world_from_part[:3, :3].T + world_from_part[:3, 3])
        if outside:
            _, key, value, bound, what = outside
            raise ConfigError(f"robot.home_positions: at home {what} {value:.3f} m, outside {key} {bound} m")
        if settings.min_clearance_m < cell.safety.min_link_clearance_m:
            raise ConfigError(f"planner_node.min_clearance_m {settings.min_clearance_m} is below "
                              f"safety.min_link_clearance_m {cell.safety.min_link_clearance_m}: every plan would be "
                              f"refused")
        self.limits = Limits(self.kinematics.velocity_limit, self.kinematics.acceleration_limit,
                             cell.robot.max_tool_speed_near_part)
        self.motion = motion
        self._prepared: tuple[PartSurface, list[PartSurface]] | None = None
        self._links: tuple | None = None  # the arm's collision samples, loaded on first use
        self._reach = 0.0  # collision.reach_bound, with the samples
        width, height = cell.tactile.footprint_m
        self.footprint = Footprint(width, height, settings.footprint_overlap, cell.tactile.press_depth_m)
        calibration = (DefectCalibration.load(_model_file(settings.defect_calibration))
                       if settings.defect_calibration else DefectCalibration())
        self.budget = PressBudget(settings.max_presses, settings.residual_risk, calibration)

    def tool_paths(self, surface: PartSurface, regions: Sequence[ScanRegion] = (),
                   full_coverage: bool = False, budget: PressBudget | None = None) -> ToolPaths:
        """Mesh modifier -> coverage planner -> stand-offs, press budget (``budget``, default the
        settings') and travel order (the Noether pipeline). Full coverage is the baseline every targeted
        plan is measured against, so no budget ever trims it."""
        budget = PressBudget() if full_coverage else self.budget if budget is None else budget
        probabilities = {r.id: budget.calibration(r.confidence, r.finder) for r in regions}
        tactile = self.cell.tactile
        planner = (FullCoverageRasterPlanner(self.footprint) if full_coverage else
                   RegionCoveragePlanner(tuple(regions), self.footprint, self.settings.max_region_offset_m))
        start = self.kinematics.sensor_pose(self.kinematics.home)[:3, 3]
        pipeline = ToolPathPlannerPipeline(
            CompoundMeshModifier([OrientNormalsModifier()]), planner,
            CompoundToolPathModifier([
                StandoffModifier(tactile.press_depth_m, tactile.approach_standoff_m, tactile.approach_standoff_m,
                                 tactile.max_press_depth_m),
                PressBudgetModifier(probabilities, budget),
                TravelOrderModifier(start, self.settings.two_opt_passes),
            ]))
        # The same part is usually planned again and again (one plan per inspection): modify its mesh once.
        if self._prepared is None or self._prepared[0] is not surface:
            self._prepared = (surface, pipeline.modify_mesh(surface))
        (paths,) = pipeline.plan(surface, self._prepared[1])
        return paths

    def plan(self, surface: PartSurface, regions: Sequence[ScanRegion] = (), full_coverage: bool = False,
             budget: PressBudget | None = None) -> Plan:
        started = time.perf_counter()
        paths = self.tool_paths(surface, regions, full_coverage, budget)
        covered = time.perf_counter()
        settings = self.settings
        checker = self.clearance_checker(surface)
        home_reason = checker.check(self.kinematics, self.kinematics.home, sensor_free=True)
        if home_reason:
            raise InputError(f"robot.home_positions: at home the arm is too near the part ({home_reason})")
        motion = self.motion or BuiltinMotion(self.kinematics, checker, self.limits, self._reach)
        trajectory = JointTrajectory(self.kinematics.joint_names)
        trajectory.start(self.kinematics.home)
        planned: list[PlannedPress] = []
        unreachable = [Unreachable(region, _region_center(regions, region), reason)
                       for region, reason in paths.uncovered]
        previous: Press | None = None
        for press in paths.presses:
            try:
                q_approach, line_q, arc = self.press_motion(press, checker, trajectory.last)
                self._transit(motion, checker, trajectory, previous, press, q_approach)
            except MotionError as exc:
                unreachable.append(Unreachable(press.regions[0] if press.regions else "", press.position, str(exc)))
                continue
            positions, times = motion.line(line_q, arc)
            trajectory.extend(positions, times)
            planned.append(PlannedPress(press, line_q[-1], trajectory.end_time))
            trajectory.dwell(settings.dwell_s)
            trajectory.extend(positions[::-1], times[-1] - times[::-1])
            previous = press
        warnings = []
        try:
            self._transit(motion, checker, trajectory, previous, None, self.kinematics.home)
        except MotionError as exc:
            warnings.append(f"no collision-free return to home ({exc}); the trajectory ends at the last retreat")
        check_trajectory(trajectory, self.kinematics.lower, self.kinematics.upper, self.limits)
        self.safety_checker().assert_safe(trajectory, [p.press for p in planned], [p.contact_time_s for p in planned],
                                          self._prepared[1][0])
        finished = time.perf_counter()
        return Plan(planned, unreachable, trajectory, warnings,
                    {"coverage": covered - started, "kinematics": finished - covered, "total": finished - started},
                    list(paths.skipped))

    def clearance_checker(self, surface: PartSurface) -> ClearanceChecker:
        """Transits keep the gel outside the slow zone (the approach stand-off, less a tolerance)."""
        s = self.settings
        return ClearanceChecker(surface, self._arm_links(), s.sensor_radius_m, s.min_clearance_m,
                                self.cell.tactile.approach_standoff_m - SLOW_ZONE_TOLERANCE_M)

    def _arm_links(self) -> tuple:
        """The arm's collision samples and their reach bound, loaded on first use."""
        if self._links is None:
            self._links = tuple(load_link_samples(self.kinematics))
            self._reach = reach_bound(self.kinematics, self._links)
        return self._links

    def safety_checker(self) -> SafetyChecker:
        """The cell's hard limits, with the arm's collision samples (loaded by clearance_checker)."""
        links = self._arm_links()
        return SafetyChecker(self.cell, self.kinematics, links, self._reach, self.settings.sensor_radius_m)

    def press_motion(self, press: Press, checker: ClearanceChecker, seed: np.ndarray):
        """IK of the stand-off pose and of every point of the straight press line, with all checks."""
        kin, settings = self.kinematics, self.settings
        approach = kin.solve_with_restarts(press.sensor_pose(press.approach_m), seed)
        if not approach.ok:
            raise MotionError(f"approach pose: {approach.reason}")
        self._check_pose(approach.q, checker, sensor_free=True, what="approach pose")
        travel = press.approach_m + press.depth_m
        count = max(2, int(math.ceil(travel / settings.line_step_m)) + 1)
        arc = np.linspace(0.0, travel, count)
        line_q = [approach.q]
        checked, slack = approach.q, 0.0
        for s in arc[1:]:
            where = f"press line at {s * 1000:.1f} mm"
            step = kin.solve(press.sensor_pose(press.approach_m - s), line_q[-1])
            if not step.ok:
                raise MotionError(f"{where}: {step.reason}")
            if np.abs(step.q - line_q[-1]).max() > self.limits.max_joint_step:
                raise MotionError(f"{where}: joint jump (wrist flip near a singularity)")
            manipulability = kin.manipulability(step.q)
            if manipulability < settings.min_manipulability:
                raise MotionError(f"{where}: near a singularity (manipulability {manipulability:.4f})")
            # Clearance only where the arm may have used up the slack left at the last check (see BuiltinMotion).
            if self._reach * float(np.abs(step.q - checked).sum()) >= slack or s == arc[-1]:
                slack, reason = checker.slack(kin, step.q, sensor_free=False)
                checked = step.q
                if reason:
                    raise MotionError(f"{where}: {reason}")
            line_q.append(step.q)
        return approach.q, np.array(line_q), arc

    def _check_pose(self, q: np.ndarray, checker: ClearanceChecker, sensor_free: bool, what: str) -> None:
        manipulability = self.kinematics.manipulability(q)
        if manipulability < self.settings.min_manipulability:
            raise MotionError(f"{what}: near a singularity (manipulability {manipulability:.4f} < "
                              f"{self.settings.min_manipulability})")
        reason = checker.check(self.kinematics, q, sensor_free)
        if reason:
            raise MotionError(f"{what}: {reason}")

    def _lift(self, press: Press, seed: np.ndarray, checker: ClearanceChecker, clearance_m: float) -> np.ndarray:
        lifted = self.kinematics.solve_with_restarts(press.sensor_pose(clearance_m), seed)
        if not lifted.ok:
            raise MotionError(f"transit lift pose: {lifted.reason}")
        self._check_pose(lifted.q, checker, sensor_free=True, what="transit lift pose")
        return lifted.q

    def _transit(self, motion: MotionBackend, checker: ClearanceChecker, trajectory: JointTrajectory,
                 previous: Press | None, target: Press | None, q_target: np.ndarray) -> None:
        """Joint-space move to ``q_target``. If it passes too close to the part, go via poses lifted off both
        presses along their normals; if the move between those lifts still sweeps the part (around the nose
        of a leading edge, from one flank to the other), lift twice as high, and last go via home."""
        q_start = trajectory.last
        try:
            trajectory.extend(*motion.transit(q_start, q_target))
            return
        except MotionError as direct:
            if previous is None and target is None:
                raise
            failure = direct
        clearance = self.settings.transit_clearance_m
        for height, via_home in ((clearance, False), (2 * clearance, False), (clearance, True)):
            try:
                waypoints = [q_start]
                if previous is not None:
                    waypoints.append(self._lift(previous, q_start, checker, height))
                if via_home:
                    waypoints.append(self.kinematics.home)
                if target is not None:
                    waypoints.append(self._lift(target, q_target, checker, height))
                waypoints.append(q_target)
                segments = [motion.transit(a, b) for a, b in zip(waypoints[:-1], waypoints[1:])]
            except MotionError as exc:
                failure = exc
                continue
            for positions, times in segments:
                trajectory.extend(positions, times)
            return
        raise failure


def _model_file(name: str) -> str:
    """A path as given, or a bare name in the package's models/ folder (as the other model parameters)."""
    from inspection.paths import model_file

    return name if "/" in name else str(model_file(name))


def _region_center(regions: Sequence[ScanRegion], region_id: str) -> np.ndarray:
    for region in regions:
        if region.id == region_id:
            return np.asarray(region.center, dtype=float)
    return np.full(3, np.nan)


def build_planner(cell: CellConfig, settings: PlannerSettings, connect_moveit=None) -> tuple[TactileScanPlanner, str]:
    """The planner with the motion backend that ``settings.motion_backend`` selects, and that backend's name.

    In 'auto' mode a MoveIt that is importable but cannot start (no config, no robot_description)
    falls back to the built-in planner; in 'moveit' mode that is an error.
    """
    from inspection.planning import moveit_adapter

    backend = moveit_adapter.select_backend(settings.motion_backend, moveit_adapter.moveit_available()
                                            or connect_moveit is not None)
    planner = TactileScanPlanner(cell, settings)
    if backend == "builtin":
        return planner, "builtin"
    connect = connect_moveit or moveit_adapter.connect
    kin = planner.kinematics
    try:
        planner.motion = connect(settings.moveit_group, planner.limits, kin.urdf_velocity_limit, kin.acceleration_limit)
    except Exception as exc:  # noqa: BLE001 - MoveIt start-up failures come in many types
        if settings.motion_backend == "moveit":
            raise InputError(f"planner_node.motion_backend: 'moveit' requested but MoveIt could not start: "
                             f"{exc}") from exc
        return planner, f"builtin (MoveIt could not start: {type(exc).__name__}: {exc})"
    return planner, "moveit"
