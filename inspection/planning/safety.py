"""The cell's safety check: no trajectory leaves the planner unless it keeps every hard limit.

The planner plans with the robot.* targets of cell.yaml; this module checks the finished trajectory,
independently of how it was made (built-in motion or MoveIt), against the ``safety:`` section:

- joint positions inside the URDF limits, tightened by ``safety.joint_limits``;
- joint speed per segment and acceleration between segments (finite differences: what a position
  controller interpolating the points linearly would be asked for);
- a workspace box (world frame) for every joint origin, tool0 and the gel (as a UR's safety planes
  bound the elbow and the tool);
- the gel's speed wherever it is within ``slow_zone_m`` of the part;
- the gel inside the part surface only at a planned press (within ``contact_patch_radius_m`` of it,
  laterally) and never deeper than ``max_press_depth_m``;
- the arm links at least ``min_link_clearance_m`` from the part at every point, and the sensor body
  clear of it away from the slow zone (collision.ClearanceChecker, with its sound skipping).

A violation names the limit's key, the value against the limit, the segment (index and times) and the
presses it lies between, so that an operator can see exactly why a plan was refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from inspection.cell import CellConfig
from inspection.config import ConfigError
from inspection.errors import InputError
from inspection.planning.collision import ClearanceChecker, LinkSamples
from inspection.planning.interfaces import Press
from inspection.planning.kinematics import RobotKinematics
from inspection.planning.trajectory import JointTrajectory

RELATIVE_TOLERANCE = 0.02  # finite-difference rates may exceed a limit by this share (rounding, sampling)
PENETRATION_TOLERANCE_M = 5e-5  # closer to the surface than this is touching, not pressing in
SHOWN_VIOLATIONS = 5


@dataclass(frozen=True)
class SafetyLimits:
    """The ``safety:`` section resolved against the robot model: per-joint arrays, in our joint order."""

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    workspace_min: np.ndarray
    workspace_max: np.ndarray
    slow_zone_m: float
    max_tool_speed_near_part: float
    max_press_depth_m: float
    contact_patch_radius_m: float
    min_link_clearance_m: float

    @staticmethod
    def from_cell(cell: CellConfig, kinematics: RobotKinematics) -> "SafetyLimits":
        """Tightened joint limits may only narrow the URDF's; raises ConfigError naming the joint."""
        safety = cell.safety
        lower, upper = kinematics.lower.copy(), kinematics.upper.copy()
        for index, joint in enumerate(kinematics.joint_names):
            if joint not in safety.joint_limits:
                continue
            low, high = safety.joint_limits[joint]
            if low < lower[index] or high > upper[index]:
                raise ConfigError(f"safety.joint_limits.{joint}: [{low}, {high}] is wider than the URDF's "
                                  f"[{lower[index]:.4f}, {upper[index]:.4f}]; it may only tighten them")
            lower[index], upper[index] = low, high
        return SafetyLimits(
            kinematics.joint_names, lower, upper,
            np.minimum(kinematics.urdf_velocity_limit, safety.max_joint_velocity),
            np.full(len(kinematics.joint_names), safety.max_joint_acceleration),
            np.array(safety.workspace_min, float), np.array(safety.workspace_max, float), safety.slow_zone_m,
            safety.max_tool_speed_near_part, safety.max_press_depth_m, safety.contact_patch_radius_m,
            safety.min_link_clearance_m)


@dataclass(frozen=True)
class Violation:
    """One broken limit: ``limit`` is the cell.yaml key, ``where`` the segment or point and its presses."""

    where: str
    limit: str
    value: float
    bound: float
    unit: str
    detail: str = ""

    def __str__(self) -> str:
        detail = f" {self.detail}" if self.detail else ""
        return (f"{self.where}:{detail} {self.value:.4g} {self.unit} breaks {self.limit} "
                f"{self.bound:.4g} {self.unit}")


class UnsafePlanError(InputError):
    """The planner refused its own trajectory; ``violations`` lists every broken limit."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        shown = "; ".join(str(v) for v in self.violations[:SHOWN_VIOLATIONS])
        more = len(self.violations) - SHOWN_VIOLATIONS
        super().__init__(f"unsafe plan refused ({len(self.violations)} violation(s)): {shown}"
                         + (f"; and {more} more" if more > 0 else ""))


class SafetyChecker:
    """Checks one trajectory with its presses on one part surface (the planner's, normals outward)."""

    def __init__(self, cell: CellConfig, kinematics: RobotKinematics, links: Sequence[LinkSamples],
                 reach_m: float, sensor_radius_m: float) -> None:
        self.cell, self.kinematics = cell, kinematics
        self.limits = SafetyLimits.from_cell(cell, kinematics)
        self.links, self.reach_m, self.sensor_radius_m = tuple(links), reach_m, sensor_radius_m

    def check(self, trajectory: JointTrajectory, presses: Sequence[Press], contact_times: Sequence[float],
              surface) -> list[Violation]:
        """One violation per broken limit, at its worst point or segment; empty when the plan is safe."""
        positions, times = trajectory.as_arrays()
        label = _Labeller(presses, contact_times, times)
        violations = self._joints(positions, times, label)
        names, points = arm_points(self.kinematics, positions)
        world_from_part = self.cell.part_to_world()
        found = outside_workspace(self.limits, names, points @ world_from_part[:3, :3].T + world_from_part[:3, 3])
        if found:
            index, key, value, bound, what = found
            violations.append(Violation(label.point(index), key, value, bound, "m", what))
        violations += self._near_part(positions, times, points[:, -1], presses, surface, label)
        return violations

    def assert_safe(self, trajectory: JointTrajectory, presses: Sequence[Press], contact_times: Sequence[float],
                    surface) -> None:
        violations = self.check(trajectory, presses, contact_times, surface)
        if violations:
            raise UnsafePlanError(violations)

    def _joints(self, positions: np.ndarray, times: np.ndarray, label: "_Labeller") -> list[Violation]:
        limits, names, found = self.limits, self.limits.joint_names, []
        for side, excess, bound in (("lower", limits.lower - positions, limits.lower),
                                    ("upper", positions - limits.upper, limits.upper)):
            if excess.max() > 1e-9:
                point, joint = np.unravel_index(int(np.argmax(excess)), excess.shape)
                found.append(Violation(label.point(int(point)), "safety.joint_limits (the URDF's, tightened)",
                                       float(positions[point, joint]), float(bound[joint]), "rad",
                                       f"{names[joint]} past its {side} limit at"))
        if len(times) < 2:
            return found
        dt = np.diff(times)
        velocity = np.diff(positions, axis=0) / dt[:, None]
        ratio = np.abs(velocity) / limits.velocity
        if ratio.max() > 1 + RELATIVE_TOLERANCE:
            segment, joint = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            found.append(Violation(label.segment(segment), "safety.max_joint_velocity (or the URDF's)",
                                   float(abs(velocity[segment, joint])), float(limits.velocity[joint]), "rad/s",
                                   f"{names[joint]} speed"))
        if len(dt) > 1:
            acceleration = np.diff(velocity, axis=0) / ((dt[1:] + dt[:-1]) / 2)[:, None]
            ratio = np.abs(acceleration) / limits.acceleration
            if ratio.max() > 1 + RELATIVE_TOLERANCE:
                segment, joint = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                found.append(Violation(label.segment(segment + 1), "safety.max_joint_acceleration",
                                       float(abs(acceleration[segment, joint])), float(limits.acceleration[joint]),
                                       "rad/s^2", f"{names[joint]} acceleration"))
        return found

    def _near_part(self, positions: np.ndarray, times: np.ndarray, gel: np.ndarray, presses: Sequence[Press],
                   surface, label: "_Labeller") -> list[Violation]:
        limits, found = self.limits, []
        hit = surface.closest(gel)
        signed = np.einsum("nd,nd->n", gel - hit.points, hit.normals)
        near = hit.distances < limits.slow_zone_m
        # Speed of the gel on every segment with an end in the slow zone.
        if len(times) > 1:
            speed = np.linalg.norm(np.diff(gel, axis=0), axis=1) / np.diff(times)
            slow = near[1:] | near[:-1]
            too_fast = np.where(slow & (speed > limits.max_tool_speed_near_part * (1 + RELATIVE_TOLERANCE)))[0]
            if len(too_fast):
                worst = too_fast[int(np.argmax(speed[too_fast]))]
                found.append(Violation(label.segment(worst), "safety.max_tool_speed_near_part", float(speed[worst]),
                                       limits.max_tool_speed_near_part, "m/s",
                                       f"gel speed within {limits.slow_zone_m * 1000:.0f} mm of the part"))
        # Inside the surface: only at a press, only so deep. Far from an open sheet the side is unknown
        # (the sensor body check below covers crossing it); a closed part has an inside everywhere.
        inside = np.where((near | surface.is_closed) & (signed < -PENETRATION_TOLERANCE_M))[0]
        depth = -signed
        too_deep = inside[depth[inside] > limits.max_press_depth_m + 1e-9]
        if len(too_deep):
            worst = too_deep[int(np.argmax(depth[too_deep]))]
            found.append(Violation(label.point(worst), "safety.max_press_depth_m", float(depth[worst]),
                                   limits.max_press_depth_m, "m", "gel pressed in by"))
        if len(inside):
            lateral = _lateral_offsets(gel[inside], presses)
            if lateral.max() > limits.contact_patch_radius_m:
                k = int(np.argmax(lateral))
                found.append(Violation(label.point(int(inside[k])), "safety.contact_patch_radius_m",
                                       float(lateral[k]), limits.contact_patch_radius_m, "m",
                                       f"gel {depth[inside[k]] * 1000:.2f} mm inside the part, off every press by"))
        found += self._clearance(positions, near, surface, label)
        return found

    def _clearance(self, positions: np.ndarray, near: np.ndarray, surface, label: "_Labeller") -> list[Violation]:
        """Links at every point; the sensor body too where the gel is outside the slow zone."""
        checker = ClearanceChecker(surface, self.links, self.sensor_radius_m, self.limits.min_link_clearance_m, 0.0)
        checked, slack, checked_sensor = None, 0.0, False
        for index, q in enumerate(positions):
            sensor_free = not near[index]
            moved = np.inf if checked is None else self.reach_m * float(np.abs(q - checked).sum())
            # Skipping is sound only if the last check was at least as strict (it covered the sensor too).
            if moved < slack and (checked_sensor or not sensor_free):
                continue
            slack, reason = checker.slack(self.kinematics, q, sensor_free)
            checked, checked_sensor = q, sensor_free
            if reason and "tactile sensor" in reason:
                return [Violation(label.point(index), "sensor body clear of the part beyond safety.slow_zone_m",
                                  slack, 0.0, "m", f"{reason}; gap")]
            if reason:
                return [Violation(label.point(index), "safety.min_link_clearance_m",
                                  self.limits.min_link_clearance_m + slack, self.limits.min_link_clearance_m, "m",
                                  f"{reason}; clearance")]
        return []


def arm_points(kinematics: RobotKinematics, positions: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(names, (N, F, 3) part-frame positions) of every joint origin, tool0 and the gel (last) at each point."""
    frames = [kinematics.model.getFrameId(name) for name in kinematics.joint_names] + [kinematics.tool_id]
    names = list(kinematics.joint_names) + [kinematics.model.frames[kinematics.tool_id].name, "tactile gel"]
    points = []
    for q in positions:
        placements = kinematics.frame_placements(q, frames)
        gel = placements[-1] @ kinematics.tool_from_sensor
        points.append([t[:3, 3] for t in placements] + [gel[:3, 3]])
    return names, np.array(points, float).reshape(len(positions), len(names), 3)


def outside_workspace(limits: SafetyLimits, names: list[str],
                      points: np.ndarray) -> tuple[int, str, float, float, str] | None:
    """The world point farthest outside the box: (index, limit key, value, bound, what), or None."""
    below, above = limits.workspace_min - points, points - limits.workspace_max  # > 0 outside
    outside = np.maximum(below, above)
    if outside.max() <= 1e-9:
        return None
    index, frame, axis = np.unravel_index(int(np.argmax(outside)), outside.shape)
    is_low = below[index, frame, axis] > 0
    bound = (limits.workspace_min if is_low else limits.workspace_max)[axis]
    return (int(index), f"safety.workspace_{'min' if is_low else 'max'}[{'xyz'[axis]}]",
            float(points[index, frame, axis]), float(bound), f"{names[frame]} at world {'xyz'[axis]} =")


def _lateral_offsets(points: np.ndarray, presses: Sequence[Press]) -> np.ndarray:
    """Distance of each point from the nearest press's approach line (inf without presses)."""
    if not presses:
        return np.full(len(points), np.inf)
    starts = np.array([p.position for p in presses])
    axes = np.array([p.normal for p in presses])
    offsets = points[:, None, :] - starts[None]
    along = np.einsum("npd,pd->np", offsets, axes)
    lateral = np.linalg.norm(offsets - along[..., None] * axes[None], axis=2)
    return lateral.min(axis=1)


class _Labeller:
    """Says where a point or segment is: its index, its time and the presses around it."""

    def __init__(self, presses: Sequence[Press], contact_times: Sequence[float], times: np.ndarray) -> None:
        self.presses, self.contact_times, self.times = list(presses), np.asarray(contact_times, float), times

    def _name(self, k: int) -> str:
        press = self.presses[k]
        return f"press {k} (region {press.regions[0] if press.regions else '?'})"

    def _between(self, t: float) -> str:
        if not self.presses:
            return "no presses"
        at = np.flatnonzero(np.abs(self.contact_times - t) < 1e-6)
        if len(at):
            return f"at {self._name(int(at[0]))}"
        after = int(np.searchsorted(self.contact_times, t))  # presses whose contact time has passed
        name = self._name
        if after == 0:
            return f"before {name(0)}"
        if after >= len(self.presses):
            return f"after {name(len(self.presses) - 1)} (return home)"
        return f"between {name(after - 1)} and {name(after)}"

    def point(self, index: int) -> str:
        t = float(self.times[index])
        return f"point {index} (t {t:.2f} s, {self._between(t)})"

    def segment(self, index: int) -> str:
        t0, t1 = float(self.times[index]), float(self.times[index + 1])
        return f"segment {index} (t {t0:.2f}-{t1:.2f} s, {self._between(t0)})"
