"""Motion backends: how a transit and a straight press line become timed joint points.

The built-in backend times moves itself (``trajectory``) and checks the arm's clearance from the part
at every output point; ``moveit_adapter.MoveItMotion`` asks MoveIt 2 instead. Both return
(positions, times relative to the segment start) and raise MotionError with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from inspection.planning.collision import ClearanceChecker
from inspection.planning.kinematics import RobotKinematics
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
    reach_m: float  # see collision.reach_bound

    def transit(self, q_from: np.ndarray, q_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint-space move, clearance-checked at its points (the end points are checked by the planner).

        Far from the part most points are skipped soundly: no arm point moves more than
        ``reach_m`` times the summed joint change, so a point is checked only once that bound could
        have used up the slack left at the last check.
        """
        positions, times = joint_move(q_from, q_to, self.limits)
        checked, slack = positions[0], 0.0
        for q in positions[1:-1]:
            if self.reach_m * float(np.abs(q - checked).sum()) < slack:
                continue
            slack, reason = self.clearance.slack(self.kinematics, q, sensor_free=True)
            checked = q
            if reason:
                raise MotionError(f"transit: {reason}")
        return positions, times

    def line(self, path_q: np.ndarray, arc_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return path_q, line_move(path_q, arc_length, self.limits)
