"""Time parameterisation: rest-to-rest trapezoidal velocity profiles, synchronised across joints.

A joint-space move uses one normalised trapezoid for every joint, scaled to the joint that needs
longest, so no joint exceeds its velocity or acceleration limit. A Cartesian line (press, retreat)
runs a trapezoid in arc length whose limits are the tool speed near the part and the joint limits
divided by the largest joint rate per metre along the line. Rest-to-rest costs some cycle time but
makes every segment's limits easy to verify.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def trapezoid_duration(distance: float, v_max: float, a_max: float) -> float:
    """Shortest rest-to-rest time over ``distance`` with speed and acceleration bounds."""
    distance = abs(distance)
    if distance * a_max >= v_max * v_max:
        return distance / v_max + v_max / a_max
    return 2 * math.sqrt(distance / a_max)


def trapezoid_time(s: np.ndarray, distance: float, duration: float, a_max: float) -> np.ndarray:
    """Inverse of ``trapezoid_position``: the time at which position ``s`` is reached (closed form)."""
    disc = max(a_max * a_max * duration * duration - 4 * a_max * distance, 0.0)
    v = (a_max * duration - math.sqrt(disc)) / 2
    t_acc = v / a_max
    s_acc = 0.5 * a_max * t_acc * t_acc
    s = np.clip(np.asarray(s, dtype=float), 0.0, distance)
    cruise = t_acc + (s - s_acc) / max(v, 1e-12)
    braking = duration - np.sqrt(np.maximum(2 * (distance - s) / a_max, 0.0))
    return np.where(s < s_acc, np.sqrt(2 * s / a_max), np.where(s <= distance - s_acc, cruise, braking))


@dataclass
class JointTrajectory:
    """Plain arrays (a ROS node turns them into trajectory_msgs/JointTrajectory)."""

    joint_names: tuple[str, ...]
    positions: list[np.ndarray] = field(default_factory=list)
    time_from_start: list[float] = field(default_factory=list)

    def start(self, q: np.ndarray) -> None:
        self.positions, self.time_from_start = [np.asarray(q, dtype=float)], [0.0]

    @property
    def end_time(self) -> float:
        return self.time_from_start[-1]

    @property
    def last(self) -> np.ndarray:
        return self.positions[-1]

    def extend(self, positions: np.ndarray, relative_times: np.ndarray) -> None:
        """Append points at end_time + relative_times (the first point, t = 0, is the current one)."""
        base = self.end_time
        for q, t in zip(positions[1:], relative_times[1:]):
            self.positions.append(np.asarray(q, dtype=float))
            self.time_from_start.append(base + float(t))

    def dwell(self, seconds: float) -> None:
        if seconds > 0:
            self.positions.append(self.last.copy())
            self.time_from_start.append(self.end_time + seconds)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.positions), np.array(self.time_from_start)

    def to_dict(self) -> dict:
        return {"joint_names": list(self.joint_names),
                "points": [{"positions": [float(v) for v in q], "time_from_start": float(t)}
                           for q, t in zip(self.positions, self.time_from_start)]}


@dataclass(frozen=True)
class Limits:
    velocity: np.ndarray  # rad/s per joint
    acceleration: np.ndarray  # rad/s^2 per joint
    tool_speed_near_part: float  # m/s
    max_joint_step: float = 0.05  # rad between output points, so linear interpolation stays close


def joint_move(q0: np.ndarray, q1: np.ndarray, limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    """Synchronised rest-to-rest move: (positions, relative times), points at most max_joint_step apart."""
    delta = np.asarray(q1, dtype=float) - q0
    moving = np.abs(delta) > 1e-12
    if not moving.any():
        return np.array([q0]), np.array([0.0])
    # One normalised profile s(t) in [0, 1] for all joints, bounded by the most constrained joint.
    v_norm = float(np.min(limits.velocity[moving] / np.abs(delta[moving])))
    a_norm = float(np.min(limits.acceleration[moving] / np.abs(delta[moving])))
    duration = trapezoid_duration(1.0, v_norm, a_norm)
    count = max(2, int(math.ceil(np.abs(delta).max() / limits.max_joint_step)) + 1)
    # Equal steps in position (not time) keep the spacing bounded; times follow from the profile.
    fractions = np.linspace(0.0, 1.0, count)
    times = trapezoid_time(fractions, 1.0, duration, a_norm)
    times[-1] = duration
    return q0 + fractions[:, None] * delta, times


def line_move(path_q: np.ndarray, arc_length: np.ndarray, limits: Limits) -> np.ndarray:
    """Relative times for a Cartesian path given as IK solutions at arc lengths (metres along the line)."""
    total = float(arc_length[-1])
    rates = np.abs(np.diff(path_q, axis=0)) / np.maximum(np.diff(arc_length), 1e-12)[:, None]  # rad per metre
    worst = np.maximum(rates.max(axis=0), 1e-9)
    v_max = min(limits.tool_speed_near_part, float(np.min(limits.velocity / worst)))
    # 0.9: the joint rate per metre changes a little along a short line; keep a margin on acceleration.
    a_max = 0.9 * float(np.min(limits.acceleration / worst))
    duration = trapezoid_duration(total, v_max, a_max)
    times = trapezoid_time(arc_length, total, duration, a_max)
    times[-1] = duration
    return times


def check_trajectory(trajectory: JointTrajectory, lower: np.ndarray, upper: np.ndarray, limits: Limits) -> None:
    """Raise if any limit is violated: a plan that breaks a limit must never leave the planner."""
    positions, times = trajectory.as_arrays()
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise RuntimeError("trajectory time does not strictly increase")
    if np.any(positions < lower - 1e-9) or np.any(positions > upper + 1e-9):
        raise RuntimeError("trajectory leaves the joint limits")
    if len(times) > 1:
        steps = np.abs(np.diff(positions, axis=0))
        if steps.max() > limits.max_joint_step + 1e-9:
            raise RuntimeError(f"trajectory jumps {steps.max():.3f} rad between points")
        velocity = steps / np.diff(times)[:, None]
        if np.any(velocity > limits.velocity * (1 + 1e-6)):
            raise RuntimeError("trajectory exceeds a joint velocity limit")
