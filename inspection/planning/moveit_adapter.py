"""MoveIt 2 backend through moveit_py: transits with the default pipeline (OMPL), presses with Pilz LIN.

moveit_py has no Cartesian-path call (moveit2 issue 2401), so straight press and retreat moves go to
the Pilz industrial motion planner's LIN planner, with the joint goal our IK found (Pilz turns it
into the Cartesian goal by FK and moves the tool on a straight line). The cell must provide a
MoveIt config package (SRDF group ``moveit_group``, joint limits, ``pilz_cartesian_limits.yaml``,
the OMPL and Pilz pipelines, ros2_control controllers) and the part as a collision object in the
planning scene; see README "Planner". Without moveit_py the built-in planner is used.

Requests are built as plain data (``MotionRequest``) so the selection, scaling and fallback logic
is tested without MoveIt; ``MoveItMotion`` only forwards them.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspection.errors import InputError
from inspection.planning.motion import MotionError
from inspection.planning.trajectory import Limits

PILZ_PIPELINE, PILZ_LIN = "pilz_industrial_motion_planner", "LIN"
OMPL_PIPELINE, OMPL_PLANNER = "ompl", "RRTConnectkConfigDefault"


def moveit_available() -> bool:
    """True when moveit_py's planning module can be imported (a sourced MoveIt 2 install)."""
    try:
        return importlib.util.find_spec("moveit") is not None and \
            importlib.util.find_spec("moveit.planning") is not None
    except (ImportError, ValueError):
        return False


def select_backend(requested: str, available: bool) -> str:
    """'moveit' or 'builtin' from the motion_backend parameter; 'moveit' without moveit_py is an error."""
    if requested not in ("auto", "builtin", "moveit"):
        raise InputError(f"planner_node.motion_backend: {requested!r} is not one of ['auto', 'builtin', 'moveit']")
    if requested == "moveit" and not available:
        raise InputError("planner_node.motion_backend: 'moveit' was requested but moveit_py is not importable "
                         "(source a MoveIt 2 install, or use 'auto'/'builtin')")
    if requested == "builtin" or not available:
        return "builtin"
    return "moveit"


@dataclass(frozen=True)
class MotionRequest:
    """One MoveIt planning request: pipeline, planner, joint start/goal and limit scaling."""

    pipeline: str
    planner_id: str
    start: tuple[float, ...]
    goal: tuple[float, ...]
    max_velocity_scaling_factor: float
    max_acceleration_scaling_factor: float
    planning_time_s: float = 2.0


def _scaling(ours: np.ndarray, theirs: np.ndarray) -> float:
    """MoveIt scales its own (URDF/joint_limits.yaml) limits; this factor makes them ours."""
    return float(np.clip(np.min(ours / theirs), 1e-3, 1.0))


def transit_request(q_from: np.ndarray, q_to: np.ndarray, limits: Limits, moveit_velocity: np.ndarray,
                    moveit_acceleration: np.ndarray) -> MotionRequest:
    return MotionRequest(OMPL_PIPELINE, OMPL_PLANNER, tuple(map(float, q_from)), tuple(map(float, q_to)),
                         _scaling(limits.velocity, moveit_velocity), _scaling(limits.acceleration, moveit_acceleration))


def line_request(q_from: np.ndarray, q_to: np.ndarray, limits: Limits, pilz_max_trans_vel: float,
                 moveit_acceleration: np.ndarray) -> MotionRequest:
    """Pilz LIN scales its Cartesian limits (pilz_cartesian_limits.yaml): slow tool speed near the part."""
    return MotionRequest(PILZ_PIPELINE, PILZ_LIN, tuple(map(float, q_from)), tuple(map(float, q_to)),
                         float(np.clip(limits.tool_speed_near_part / pilz_max_trans_vel, 1e-3, 1.0)),
                         _scaling(limits.acceleration, moveit_acceleration))


def densify(positions: np.ndarray, times: np.ndarray, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Split MoveIt's segments so that no joint moves more than ``max_step`` between points."""
    out_q, out_t = [positions[0]], [times[0]]
    for k in range(1, len(positions)):
        pieces = max(1, int(math.ceil(np.abs(positions[k] - positions[k - 1]).max() / max_step)))
        for j in range(1, pieces + 1):
            f = j / pieces
            out_q.append(positions[k - 1] + f * (positions[k] - positions[k - 1]))
            out_t.append(times[k - 1] + f * (times[k] - times[k - 1]))
    return np.array(out_q), np.array(out_t)


class MoveItMotion:
    """MotionBackend that plans with a running MoveItPy instance (thin: build request, plan, convert)."""

    def __init__(self, moveit: Any, group: str, limits: Limits, moveit_velocity: np.ndarray,
                 moveit_acceleration: np.ndarray, pilz_max_trans_vel: float = 1.0) -> None:
        self.moveit, self.group, self.limits = moveit, group, limits
        self.moveit_velocity, self.moveit_acceleration = moveit_velocity, moveit_acceleration
        self.pilz_max_trans_vel = pilz_max_trans_vel

    def transit(self, q_from: np.ndarray, q_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._plan(transit_request(q_from, q_to, self.limits, self.moveit_velocity, self.moveit_acceleration))

    def line(self, path_q: np.ndarray, arc_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._plan(line_request(path_q[0], path_q[-1], self.limits, self.pilz_max_trans_vel,
                                       self.moveit_acceleration))

    def _state(self, positions: tuple[float, ...]):
        from moveit.core.robot_state import RobotState

        state = RobotState(self.moveit.get_robot_model())
        state.set_joint_group_positions(self.group, np.array(positions))
        state.update()
        return state

    def _plan(self, request: MotionRequest) -> tuple[np.ndarray, np.ndarray]:
        from moveit.planning import PlanRequestParameters

        component = self.moveit.get_planning_component(self.group)
        component.set_start_state(robot_state=self._state(request.start))
        component.set_goal_state(robot_state=self._state(request.goal))
        # Loads the defaults of the moveit_py config's ``plan_request_params`` namespace; ours override them.
        params = PlanRequestParameters(self.moveit, "plan_request_params")
        params.planning_pipeline, params.planner_id = request.pipeline, request.planner_id
        params.planning_time = request.planning_time_s
        params.max_velocity_scaling_factor = request.max_velocity_scaling_factor
        params.max_acceleration_scaling_factor = request.max_acceleration_scaling_factor
        result = component.plan(single_plan_parameters=params)
        if not result:
            raise MotionError(f"MoveIt {request.pipeline}/{request.planner_id} found no plan")
        trajectory = result.trajectory
        positions = np.array([trajectory[i].get_joint_group_positions(self.group) for i in range(len(trajectory))])
        times = np.cumsum(np.asarray(trajectory.get_waypoint_durations(), dtype=float))
        keep = np.concatenate([[True], np.diff(times) > 0])  # MoveIt may repeat the start point at t = 0
        return densify(positions[keep], times[keep] - times[0], self.limits.max_joint_step)


def connect(group: str, limits: Limits, moveit_velocity: np.ndarray, moveit_acceleration: np.ndarray) -> MoveItMotion:
    """Start MoveItPy (needs the cell's moveit_py config on the ROS parameter path)."""
    from moveit.planning import MoveItPy

    return MoveItMotion(MoveItPy(node_name="inspection_planner"), group, limits, moveit_velocity, moveit_acceleration)
