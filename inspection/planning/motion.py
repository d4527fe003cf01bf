"""Motion backends: how a transit and a straight press line become timed joint points.

The built-in backend times moves itself (``trajectory``) and checks the arm's clearance from the part
at every output point; ``moveit_adapter.MoveItMotion`` asks MoveIt 2 instead. Both return
(positions, times relative to the segment start) and raise MotionError with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from inspection.planning.kinematics import ClearanceChecker, RobotKinematics
from inspection.planning.trajectory import Limits, joint_move, line_move


class MotionError(RuntimeError):
    """A motion cannot be planned within the limits; the message is the reason shown to the user."""


class MotionBackend(Protocol):
    def transit(self, q_from: np.ndarray, q_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Collision-free joint-space move between two configurations."""

    def line(self, path_q: np.ndarray, arc_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Straight tool move through the given IK solutions (arc length in metres)."""


@dataclass(frozen=True)
class BuiltinMotion:
    kinematics: RobotKinematics
    clearance: ClearanceChecker
    limits: Limits

    def transit(self, q_from: np.ndarray, q_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions, times = joint_move(q_from, q_to, self.limits)
        for q in positions[1:-1]:
            reason = self.clearance.check(self.kinematics, q, sensor_free=True)
            if reason:
                raise MotionError(f"transit: {reason}")
        return positions, times

    def line(self, path_q: np.ndarray, arc_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return path_q, line_move(path_q, arc_length, self.limits)
