"""Stage II over the part's edge: a full-coverage raster presses over it, and the gel wrapping over the edge
must not read as a scratch or a crack (the cause of most false touch findings on defect-free parts), while
defects that reach the frame's border, cross it or are holes still do."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.paths import model_file
from inspection.sim.defects import Defect
from inspection.sim.tactile_dataset import sensor_pose
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, surface_gap
from inspection.sim.tactile_texture import PartEdge
from inspection.tactile.measure import off_part_region, on_part, surface_residual
from inspection.tactile.stage import StageTwo

CONFIG = load_cell().tactile
PRESS_M = 0.0008  # the planner's press depth
POSE = sensor_pose(0.3)


@pytest.fixture(scope="module")
def stage() -> StageTwo:
    stage = StageTwo.load(model_file("tactile_calibration.npz"), model_file("tactile_classifier.pt"))
    stage.set_background(TactileSimulator(CONFIG).background(np.random.default_rng(0)))
    return stage


def _frame(defects: list[Defect], edge: PartEdge | None = None) -> np.ndarray:
    gap, heights = surface_gap(CONFIG, POSE, LocalSurface(), defects, None, edge)
    return TactileSimulator(CONFIG).press(gap, PRESS_M, np.random.default_rng(1), defects, defect_heights=heights).image


@pytest.mark.parametrize("edge", [PartEdge(0.003, 0.5, 0.0002), PartEdge(0.006, 2.5, 0.0002)])
def test_a_press_over_the_parts_edge_is_a_clean_contact(stage, edge) -> None:
    frame = _frame([], edge)
    reconstruction = stage.reconstructor.reconstruct(frame)
    beyond = off_part_region(reconstruction)
    # The gel beyond the edge is found as off the part, on the right side of the edge.
    rows, cols = np.mgrid[0:CONFIG.height_px, 0:CONFIG.width_px]
    x = (cols - (CONFIG.width_px - 1) / 2) * CONFIG.pixel_size_m
    y = (rows - (CONFIG.height_px - 1) / 2) * CONFIG.pixel_size_m
    u, v = (POSE[:2, :2] @ np.stack([x.ravel(), y.ravel()]) + POSE[:2, 3:]).reshape(2, *x.shape)
    outward = u * np.cos(edge.angle_rad) + v * np.sin(edge.angle_rad)
    assert beyond.any() and np.all(outward[beyond] > edge.offset_m - 0.001)
    # Fitted over the whole frame, the surface leaves a groove along the edge deeper than a scratch; fitted
    # on the part alone, with the edge masked, nothing is left.
    assert surface_residual(reconstruction).min() < -0.1
    assert on_part(reconstruction)[1].min() > -0.03
    result = stage.analyse(frame, POSE, "f", pressed_depth_m=PRESS_M)
    assert result.finding.class_name == "none"


@pytest.mark.parametrize("defect", [
    Defect("s", "scratch", (0.0, 0.0, 0.0), (0, 0, 1), (1, 0.3, 0), 0.03, 0.0004, 0.0002),  # crosses the frame
    Defect("d", "dent", (0.007, 0.004, 0.0), (0, 0, 1), (1, 0, 0), 0.006, 0.005, 0.0004),  # runs into its border
    Defect("f", "missing_fastener", (0.002, 0.001, 0.0), (0, 0, 1), (1, 0, 0), 0.004, 0.004, 0.003),  # a hole
], ids=lambda d: d.class_name)
def test_defects_are_not_taken_for_the_parts_edge(stage, defect) -> None:
    frame = _frame([defect])
    assert not off_part_region(stage.reconstructor.reconstruct(frame)).any()
    assert stage.analyse(frame, POSE, "f", pressed_depth_m=PRESS_M).finding.class_name == defect.class_name
