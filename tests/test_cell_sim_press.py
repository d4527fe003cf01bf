"""The simulated cell presses the part's smooth surface, not its mesh: facets within 0.1 mm of the surface are
invisible to the camera but the gel felt every crease between them as a ridge (false bumps on a leading edge)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.sim.cell_sim import SimulatedCell
from inspection.sim.parts import build_part
from inspection.sim.scene import Finish, Scene
from inspection.sim.tactile_sensor import gel_grid

RADIUS_M = 0.05  # a tight leading-edge nose: facets 6 mm wide, 0.1 mm of sag
PAINT = Finish("painted", (0.7, 0.7, 0.72), 0.08, 100.0, 0.0, 0.008, 1)


@pytest.mark.parametrize("offset_m", [0.0, 0.0013])
def test_the_gel_meets_the_smooth_surface_between_facets(offset_m) -> None:
    cell = load_cell()
    part = build_part({"kind": "cylinder_panel", "radius_m": RADIUS_M, "arc_length_m": 0.06, "length_m": 0.1})
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking down the part's -z onto the crest, which runs along x
    pose[1:3, 3] = offset_m, part.vertices[:, 2].max() + 0.001
    _, gy = gel_grid(cell.tactile)
    y = offset_m - gy  # part-frame y of each gel pixel
    crest = np.unravel_index(np.argmin(np.abs(y)), y.shape)
    expected = RADIUS_M - np.sqrt(RADIUS_M**2 - y**2)  # how far the circular section falls away from the crest

    def error_m(surface) -> float:
        gap, _, _ = SimulatedCell(cell, Scene(surface, PAINT, [])).gap_under_gel(pose)
        return float(np.abs(gap - gap[crest] - (expected - expected[crest])).max())

    assert error_m(part) < 1e-6
    assert error_m(dataclasses.replace(part, vertex_uv=None, section=None)) > 2e-5  # the bare mesh: its facets


def test_a_late_step_loses_no_press() -> None:
    """Stepped once every few seconds (a loaded machine's late timer) the arm's dwells still each give one
    frame, at the poses a finely stepped run gives."""
    from inspection.geometry.surface import PartSurface
    from inspection.planning.planner import TactileScanPlanner
    from inspection.records import ScanRegion
    from inspection.sim.scene import random_scene

    cell = load_cell()
    scene = random_scene(np.random.default_rng(4))
    target = next(d for d in scene.defects if d.is_geometric)
    plan = TactileScanPlanner(cell).plan(PartSurface.from_arrays(scene.part.vertices, scene.part.triangles),
                                         [ScanRegion("r0", target.center, target.normal, 0.006)])
    positions, times = plan.trajectory.as_arrays()
    assert len(plan.presses) >= 2

    def presses(period_s: float) -> list[np.ndarray]:
        sim = SimulatedCell(cell, scene, 160, 90)
        sim.robot.start(plan.trajectory.joint_names, positions, times, 0.0)
        steps = np.arange(0.0, times[-1] + 2 * period_s, period_s)
        return [event.sensor_to_part[:3, 3] for now in steps for event in sim.step(float(now))]

    fine, late = presses(0.05), presses(3.0)
    assert len(fine) == len(late) == len(plan.presses)
    assert np.allclose(fine, late, atol=1e-9)
