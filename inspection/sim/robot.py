"""Simulated arm: joint states that follow a joint trajectory in time, and FK of the tactile sensor.

ROS-free; the sim node wraps it (publishes ``joint_states`` and the sensor pose). Between trajectory
points positions are interpolated linearly, the way a position-controlled arm tracks a densely
sampled trajectory; velocities are those of the current segment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.cell import CellConfig
from inspection.errors import InputError


@dataclass(frozen=True)
class JointState:
    time_s: float
    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    done: bool


class SimulatedRobot:
    """Holds at home until a trajectory is started, then follows it and holds its last point."""

    def __init__(self, cell: CellConfig) -> None:
        from inspection.planning.kinematics import RobotKinematics

        self.kinematics = RobotKinematics(cell)
        self.joint_names = self.kinematics.joint_names
        self.world_from_part = cell.part_to_world()
        self._times = np.zeros(1)
        self._positions = self.kinematics.home[None, :].copy()
        self._start_s = 0.0

    def start(self, joint_names: tuple[str, ...] | list[str], positions: np.ndarray, time_from_start: np.ndarray,
              now_s: float) -> None:
        """Begin following a trajectory at ``now_s``; joints are reordered to the robot's order by name."""
        names = tuple(joint_names)
        if sorted(names) != sorted(self.joint_names):
            raise InputError(f"trajectory.joint_names: {list(names)} do not match the robot's {list(self.joint_names)}")
        positions = np.asarray(positions, dtype=float)
        times = np.asarray(time_from_start, dtype=float)
        if positions.ndim != 2 or positions.shape != (len(times), len(names)) or len(times) == 0:
            raise InputError(f"trajectory.points: expected {len(times)} x {len(names)} positions, "
                             f"got {positions.shape}")
        if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(times))):
            raise InputError("trajectory.points: positions and times must be finite")
        if np.any(np.diff(times) <= 0) or times[0] < 0:
            raise InputError("trajectory.points: time_from_start must start at >= 0 and strictly increase")
        order = [names.index(n) for n in self.joint_names]
        positions = positions[:, order]
        kin = self.kinematics
        if not (kin.within_limits(positions.min(axis=0)) and kin.within_limits(positions.max(axis=0))):
            raise InputError("trajectory.points: positions outside the robot's joint limits")
        # A trajectory whose first point is later than 0 starts from where the arm is now.
        current = self.state(now_s).positions
        if times[0] > 0:
            times, positions = np.concatenate([[0.0], times]), np.vstack([current, positions])
        self._times, self._positions, self._start_s = times, positions, now_s

    def state(self, now_s: float) -> JointState:
        t = now_s - self._start_s
        times, positions = self._times, self._positions
        if len(times) == 1 or t <= times[0]:
            return JointState(now_s, self.joint_names, positions[0].copy(), np.zeros(len(self.joint_names)),
                              len(times) == 1)
        if t >= times[-1]:
            return JointState(now_s, self.joint_names, positions[-1].copy(), np.zeros(len(self.joint_names)), True)
        k = int(np.searchsorted(times, t, side="right")) - 1
        span = times[k + 1] - times[k]
        f = (t - times[k]) / span
        q = positions[k] + f * (positions[k + 1] - positions[k])
        return JointState(now_s, self.joint_names, q, (positions[k + 1] - positions[k]) / span, False)

    def knots_between(self, after_s: float, until_s: float) -> list[float]:
        """The times of the trajectory's points in (``after_s``, ``until_s``). The arm's state at these
        times holds every change of motion in between (a dwell starts at a point), so a simulation that
        steps late samples them to miss no press."""
        knots = self._start_s + self._times
        return [float(t) for t in knots[(knots > after_s) & (knots < until_s)]]

    def sensor_pose_world(self, q: np.ndarray) -> np.ndarray:
        """4x4 world <- tactile sensor frame (flange pose through the sensor mount)."""
        return self.world_from_part @ self.kinematics.sensor_pose(q)

    def flange_pose_world(self, q: np.ndarray) -> np.ndarray:
        """4x4 world <- tool0."""
        return self.world_from_part @ self.kinematics.tool_pose(q)
