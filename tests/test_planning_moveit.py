"""MoveIt 2 adapter: backend selection, request building and fallback (the parts that run without MoveIt)."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.planning import moveit_adapter
from inspection.planning.moveit_adapter import (PILZ_LIN, PILZ_PIPELINE, densify, line_request, select_backend,
                                                transit_request)
from inspection.planning.planner import PlannerSettings, build_planner
from inspection.planning.trajectory import Limits

LIMITS = Limits(np.full(6, 1.0), np.full(6, 2.0), 0.02)


@pytest.mark.parametrize(("requested", "available", "expected"), [
    ("auto", True, "moveit"), ("auto", False, "builtin"), ("builtin", True, "builtin"), ("moveit", True, "moveit"),
])
def test_backend_selection(requested, available, expected) -> None:
    assert select_backend(requested, available) == expected


def test_moveit_required_but_absent_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="motion_backend: 'moveit' was requested but moveit_py is not importable"):
        select_backend("moveit", False)


def test_moveit_is_not_reported_available_here_unless_installed() -> None:
    try:
        import moveit.planning  # noqa: F401
        installed = True
    except ImportError:
        installed = False
    assert moveit_adapter.moveit_available() == installed


def test_transit_request_scales_moveit_limits_down_to_the_cell() -> None:
    request = transit_request(np.zeros(6), np.ones(6), LIMITS, np.full(6, 3.15), np.full(6, 4.0))
    assert request.pipeline == "ompl" and request.goal == (1.0,) * 6
    assert request.max_velocity_scaling_factor == pytest.approx(1.0 / 3.15)
    assert request.max_acceleration_scaling_factor == pytest.approx(0.5)


def test_press_request_uses_pilz_lin_at_the_slow_tool_speed() -> None:
    request = line_request(np.zeros(6), np.full(6, 0.01), LIMITS, pilz_max_trans_vel=0.5,
                           moveit_acceleration=np.full(6, 2.0))
    assert (request.pipeline, request.planner_id) == (PILZ_PIPELINE, PILZ_LIN)
    assert request.max_velocity_scaling_factor == pytest.approx(0.04)
    assert request.max_acceleration_scaling_factor == pytest.approx(1.0)


def test_densify_bounds_joint_steps_and_keeps_timing() -> None:
    positions = np.array([np.zeros(6), np.full(6, 0.3), np.full(6, 0.31)])
    out_q, out_t = densify(positions, np.array([0.0, 1.0, 1.5]), 0.05)
    assert np.abs(np.diff(out_q, axis=0)).max() <= 0.05 + 1e-12
    assert np.all(np.diff(out_t) > 0) and out_t[-1] == 1.5 and np.allclose(out_q[-1], positions[-1])


def test_auto_falls_back_to_builtin_when_moveit_cannot_start() -> None:
    def broken(*_args):
        raise RuntimeError("no robot_description")

    planner, backend = build_planner(load_cell(), PlannerSettings(motion_backend="auto"), connect_moveit=broken)
    assert backend.startswith("builtin (MoveIt could not start: RuntimeError: no robot_description")
    assert planner.motion is None
    with pytest.raises(InputError, match="MoveIt could not start"):
        build_planner(load_cell(), PlannerSettings(motion_backend="moveit"), connect_moveit=broken)


def test_builtin_is_used_when_asked() -> None:
    planner, backend = build_planner(load_cell(), PlannerSettings(motion_backend="builtin"))
    assert backend == "builtin" and planner.motion is None
