"""Simulated robot: follows a joint trajectory in time and reports the tactile sensor pose by FK."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.sim.robot import SimulatedRobot

CELL = load_cell()


@pytest.fixture(scope="module")
def robot() -> SimulatedRobot:
    return SimulatedRobot(CELL)


def _trajectory() -> tuple[list[str], np.ndarray, np.ndarray]:
    home = np.array(CELL.robot.home_positions)
    positions = np.array([home, home + [0.2, 0.0, 0.0, 0.0, 0.0, 0.0], home + [0.2, -0.1, 0.1, 0.0, 0.3, 0.0]])
    return list(CELL.robot.joint_names), positions, np.array([0.0, 1.0, 3.0])


def test_holds_home_until_started(robot) -> None:
    fresh = SimulatedRobot(CELL)
    state = fresh.state(5.0)
    assert np.allclose(state.positions, CELL.robot.home_positions) and np.allclose(state.velocities, 0)
    assert state.names == tuple(CELL.robot.joint_names)


def test_follows_the_trajectory_with_interpolation(robot) -> None:
    names, positions, times = _trajectory()
    robot.start(names, positions, times, now_s=10.0)
    assert np.allclose(robot.state(11.0).positions, positions[1])
    middle = robot.state(12.0)
    assert np.allclose(middle.positions, (positions[1] + positions[2]) / 2)
    assert np.allclose(middle.velocities, (positions[2] - positions[1]) / 2.0) and not middle.done
    end = robot.state(20.0)
    assert end.done and np.allclose(end.positions, positions[2]) and np.allclose(end.velocities, 0)


def test_joint_order_is_taken_from_the_names(robot) -> None:
    names, positions, times = _trajectory()
    robot.start(names[::-1], positions[:, ::-1], times, now_s=0.0)
    assert np.allclose(robot.state(3.0).positions, positions[2])


def test_sensor_pose_is_flange_plus_mount_in_the_world(robot) -> None:
    q = np.array(CELL.robot.home_positions)
    flange, sensor = robot.flange_pose_world(q), robot.sensor_pose_world(q)
    assert np.allclose(sensor, flange @ CELL.tactile.mount.matrix())
    # UR5 home: tool0 points straight down, 0.0823 m below wrist 3 (independent of our FK code path).
    assert flange[:3, 2] @ np.array([0.0, 0.0, -1.0]) > 0.999
    assert sensor[2, 3] == pytest.approx(flange[2, 3] - 0.065, abs=1e-4)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda n, p, t: (n[:5], p, t), "joint_names"),
    (lambda n, p, t: (n, p, t[::-1]), "strictly increase"),
    (lambda n, p, t: (n, p * 10, t), "joint limits"),
    (lambda n, p, t: (n, np.where(p == p, np.nan, p), t), "finite"),
])
def test_bad_trajectories_are_refused(robot, edit, message) -> None:
    with pytest.raises(InputError, match=message):
        robot.start(*edit(*_trajectory()), now_s=0.0)
