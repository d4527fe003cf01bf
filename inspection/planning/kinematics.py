"""Robot kinematics with pinocchio: FK of the tactile sensor, damped-least-squares IK, manipulability.

Frames: the robot model's root is placed in the world by ``robot.base_pose``, the part by
``part.pose`` (cell.yaml); targets are sensor poses in the part frame. The sensor frame is the gel's
outer surface centre, on tool0 through ``tactile.mount``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspection.cell import CellConfig
from inspection.errors import InputError
from inspection.robot_description import resolve_urdf

TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class IkSettings:
    max_iterations: int = 150
    position_tolerance_m: float = 1e-4
    orientation_tolerance_rad: float = 1e-3
    damping: float = 1e-4
    max_step_rad: float = 0.3


@dataclass(frozen=True)
class IkResult:
    q: np.ndarray
    ok: bool
    reason: str = ""


class RobotKinematics:
    """The arm of cell.yaml, in the part frame, with the tactile sensor as end effector."""

    def __init__(self, cell: CellConfig, ik: IkSettings = IkSettings()) -> None:
        import pinocchio as pin

        self.pin = pin
        self.urdf = resolve_urdf(cell.robot.urdf)
        urdf = self.urdf
        self.model = pin.buildModelFromUrdf(str(urdf))
        self.data = self.model.createData()
        self.ik_settings = ik
        self.joint_names = tuple(cell.robot.joint_names)
        missing = [n for n in self.joint_names if not self.model.existJointName(n)]
        if missing or self.model.nq != len(self.joint_names):
            raise InputError(f"robot.joint_names: {missing or list(self.joint_names)} do not match the "
                             f"{self.model.nq} joints of {urdf}")
        # Our joint order -> pinocchio configuration index.
        self._index = np.array([self.model.joints[self.model.getJointId(n)].idx_q for n in self.joint_names])
        for frame in (cell.robot.tool_frame, cell.robot.base_frame):
            if not self.model.existFrame(frame):
                raise InputError(f"robot: frame '{frame}' is not in {urdf}")
        self.tool_id = self.model.getFrameId(cell.robot.tool_frame)
        self.lower = self.model.lowerPositionLimit[self._index].copy()
        self.upper = self.model.upperPositionLimit[self._index].copy()
        self.urdf_velocity_limit = self.model.velocityLimit[self._index].copy()
        self.velocity_limit = np.minimum(self.urdf_velocity_limit, cell.robot.max_joint_velocity)
        self.acceleration_limit = np.full(len(self.joint_names), cell.robot.max_joint_acceleration)
        self.home = np.array(cell.robot.home_positions, dtype=float)
        q0 = pin.neutral(self.model)
        pin.framesForwardKinematics(self.model, self.data, q0)
        model_in_base = self.data.oMf[self.model.getFrameId(cell.robot.base_frame)].homogeneous
        world_from_model = cell.robot.base_pose.matrix() @ np.linalg.inv(model_in_base)
        # part <- model root, and its inverse: targets arrive in the part frame.
        self.part_from_model = np.linalg.inv(cell.part_to_world()) @ world_from_model
        self.model_from_part = np.linalg.inv(self.part_from_model)
        self.tool_from_sensor = cell.tactile.mount.matrix()
        self.sensor_from_tool = np.linalg.inv(self.tool_from_sensor)

    def _pin_q(self, q: np.ndarray) -> np.ndarray:
        full = self.pin.neutral(self.model)
        full[self._index] = q
        return full

    def tool_pose(self, q: np.ndarray) -> np.ndarray:
        """4x4 part <- tool0."""
        self.pin.framesForwardKinematics(self.model, self.data, self._pin_q(q))
        return self.part_from_model @ self.data.oMf[self.tool_id].homogeneous

    def sensor_pose(self, q: np.ndarray) -> np.ndarray:
        """4x4 part <- tactile sensor frame."""
        return self.tool_pose(q) @ self.tool_from_sensor

    def within_limits(self, q: np.ndarray) -> bool:
        return bool(np.all(q >= self.lower - 1e-9) and np.all(q <= self.upper + 1e-9))

    def _unwrap_towards(self, q: np.ndarray, seed: np.ndarray) -> np.ndarray:
        """Same pose, fewer turns: shift each joint by 2*pi multiples towards the seed when the limits allow."""
        q = q.copy()
        for j in range(len(q)):
            shifted = q[j] - TWO_PI * round((q[j] - seed[j]) / TWO_PI)
            if self.lower[j] <= shifted <= self.upper[j]:
                q[j] = shifted
        return q

    def solve(self, sensor_target: np.ndarray, seed: np.ndarray) -> IkResult:
        """Damped least squares to put the sensor at ``sensor_target`` (part frame); limits are clamped."""
        pin, s = self.pin, self.ik_settings
        goal = pin.SE3(self.model_from_part @ sensor_target @ self.sensor_from_tool)
        q = self._pin_q(np.clip(seed, self.lower, self.upper))
        lower, upper = self.model.lowerPositionLimit, self.model.upperPositionLimit
        for _ in range(s.max_iterations):
            pin.forwardKinematics(self.model, self.data, q)
            pin.updateFramePlacement(self.model, self.data, self.tool_id)
            error_pose = self.data.oMf[self.tool_id].actInv(goal)
            error = pin.log6(error_pose).vector
            converged = (np.linalg.norm(error[:3]) < s.position_tolerance_m
                         and np.linalg.norm(error[3:]) < s.orientation_tolerance_rad)
            if converged:
                result = self._unwrap_towards(q[self._index], seed)
                return IkResult(result, self.within_limits(result), "" if self.within_limits(result) else "joint limit")
            jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.tool_id)  # LOCAL frame
            jacobian = pin.Jlog6(error_pose.inverse()) @ jacobian
            step = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + s.damping * np.eye(6), error)
            largest = np.abs(step).max()
            if largest > s.max_step_rad:
                step *= s.max_step_rad / largest
            q = np.clip(pin.integrate(self.model, q, step), lower, upper)
        return IkResult(q[self._index], False, "IK did not converge (out of reach or blocked by joint limits)")

    def solve_with_restarts(self, sensor_target: np.ndarray, seed: np.ndarray) -> IkResult:
        """Try the seed first (continuity), then home turned towards the target, then home."""
        result = self.solve(sensor_target, seed)
        if result.ok:
            return result
        target_in_model = self.model_from_part @ sensor_target
        turned = self.home.copy()
        turned[0] = math.atan2(target_in_model[1, 3], target_in_model[0, 3])
        for other in (turned, self.home):
            retry = self.solve(sensor_target, other)
            if retry.ok:
                return retry
        return result

    def manipulability(self, q: np.ndarray) -> float:
        """Yoshikawa's measure sqrt(det(J J^T)): near zero at a singularity."""
        jacobian = self.pin.computeFrameJacobian(self.model, self.data, self._pin_q(q), self.tool_id,
                                                 self.pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        return float(math.sqrt(max(np.linalg.det(jacobian @ jacobian.T), 0.0)))

    def frame_placements(self, q: np.ndarray, frame_ids: list[int]) -> list[np.ndarray]:
        """4x4 part <- frame for each of ``frame_ids`` at ``q`` (one FK pass)."""
        self.pin.framesForwardKinematics(self.model, self.data, self._pin_q(q))
        return [self.part_from_model @ self.data.oMf[i].homogeneous for i in frame_ids]
