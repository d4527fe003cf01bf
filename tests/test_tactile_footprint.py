"""Where the part ends under the gel, from the part's mesh and the press pose (``footprint.beyond_part``),
and Stage II with it: a press over the part's edge is a clean contact for the good-press reference and
the classifier alike, while a defect on the part beside the edge is still found."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.paths import model_file
from inspection.sim.defects import Defect
from inspection.sim.shapes import grid_triangles
from inspection.sim.tactile_dataset import sensor_pose
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, surface_gap
from inspection.sim.tactile_texture import PartEdge
from inspection.tactile import anomaly
from inspection.tactile.footprint import SAMPLE_STEP_PX, beyond_part
from inspection.tactile.reference import fit_reference
from inspection.tactile.stage import PART_EDGE_MARGIN_M, StageTwo

CONFIG = load_cell().tactile
SHAPE = (CONFIG.height_px, CONFIG.width_px)
PRESS_M = 0.0008  # the planner's press depth
POSE = sensor_pose(0.3)
EDGE = PartEdge(0.003, 0.5, 0.0002)


def flat_part(edge: PartEdge | None = None, half_size_m: float = 0.03, step_m: float = 0.0005) -> PartSurface:
    """The plane z = 0 (outward +z) around the origin, meshed up to ``edge`` when given."""
    count = int(round(2 * half_size_m / step_m)) + 1
    u, v = np.meshgrid(np.linspace(-half_size_m, half_size_m, count), np.linspace(-half_size_m, half_size_m, count),
                       indexing="ij")
    if edge is not None:
        u, v = edge.clip(u, v)
    points = np.stack([u, v, np.zeros_like(u)], axis=-1).reshape(-1, 3)
    return PartSurface.from_arrays(points, grid_triangles(count, count), "flat part")


def outward_of_pixels(pose: np.ndarray, edge: PartEdge) -> np.ndarray:
    """(H, W): each gel pixel's distance past ``edge`` along its outward direction (negative: on the part)."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    x = (cols - (SHAPE[1] - 1) / 2) * CONFIG.pixel_size_m
    y = (rows - (SHAPE[0] - 1) / 2) * CONFIG.pixel_size_m
    u, v = (pose[:2, :2] @ np.stack([x.ravel(), y.ravel()]) + pose[:2, 3:]).reshape(2, *x.shape)
    return u * np.cos(edge.angle_rad) + v * np.sin(edge.angle_rad) - edge.offset_m


# An edge is placed to within one sample step (and the nearest-sample rounding) plus a pixel.
TOLERANCE_M = (SAMPLE_STEP_PX + 1) * CONFIG.pixel_size_m


@pytest.mark.parametrize("edge", [EDGE, PartEdge(0.0115, 0.0, 0.0002)], ids=["across the gel", "just outside it"])
@pytest.mark.parametrize("margin_m", [0.0, 0.0025])
def test_gel_beyond_the_meshes_edge_and_the_margin_inside_it_is_left_out(edge, margin_m) -> None:
    beyond = beyond_part(flat_part(edge), POSE, SHAPE, CONFIG.pixel_size_m, margin_m)
    past = outward_of_pixels(POSE, edge) + margin_m
    assert beyond[past > TOLERANCE_M].all()
    assert not beyond[past < -TOLERANCE_M].any()
    assert beyond.any() == (margin_m > 0 or edge is EDGE)  # an edge outside the gel matters only by its margin


def test_a_press_wholly_on_the_part_leaves_nothing_out_and_bad_poses_are_named() -> None:
    part = flat_part()
    assert not beyond_part(part, POSE, SHAPE, CONFIG.pixel_size_m, PART_EDGE_MARGIN_M).any()
    away = POSE.copy()
    away[:3, 3] = (0.2, 0.0, 0.001)  # off the mesh altogether
    assert beyond_part(part, away, SHAPE, CONFIG.pixel_size_m, 0.0).all()
    with pytest.raises(InputError, match="sensor_to_part"):
        beyond_part(part, np.full((4, 4), np.nan), SHAPE, CONFIG.pixel_size_m, 0.0)
    with pytest.raises(InputError, match="margin"):
        StageTwo.load(model_file("tactile_calibration.npz"), model_file("tactile_classifier.pt")).set_part(part, -0.001)


def test_only_scored_cells_count_for_the_frames_level() -> None:
    distances = np.ones((6, 8), np.float32)
    distances[:, 5:] = 50.0  # gel beyond the edge: unlike every good patch
    scored = np.zeros((6, 8), bool)
    scored[:, :4] = True
    cells = anomaly.relative_cells(distances, scored)
    assert np.all(cells[~scored] == 0.0) and np.allclose(cells[1:-1, :3], 0.0)
    assert anomaly.relative_cells(distances, np.zeros_like(scored)).max() == 0.0
    beyond = np.zeros(SHAPE, bool)
    beyond[:, SHAPE[1] // 2:] = True
    on_part = anomaly.on_part_cells(beyond)
    assert on_part.shape == anomaly.grid_shape(SHAPE) and on_part[:, 0].all() and not on_part[:, -1].any()


def _frame(rng: np.random.Generator, defects: list[Defect], edge: PartEdge | None = None) -> np.ndarray:
    gap, heights = surface_gap(CONFIG, POSE, LocalSurface(), defects, None, edge)
    return TactileSimulator(CONFIG).press(gap, PRESS_M, rng, defects, defect_heights=heights).image


@pytest.fixture(scope="module")
def stages() -> tuple[StageTwo, StageTwo]:
    """Stage II with a reference of good presses wholly on the part: without the part's mesh and with it."""
    rng = np.random.default_rng(5)
    simulator = TactileSimulator(CONFIG)
    reference = fit_reference([_frame(rng, []) for _ in range(5)], [f"good{i}" for i in range(5)])
    guessing, knowing = (StageTwo.load(model_file("tactile_calibration.npz"), model_file("tactile_classifier.pt"))
                         for _ in range(2))
    for stage in (guessing, knowing):
        stage.reference = reference
        stage.set_background(simulator.background(np.random.default_rng(0)))
    knowing.set_part(flat_part(EDGE))
    return guessing, knowing


def test_with_the_part_a_press_over_its_edge_is_a_clean_contact_for_the_reference_too(stages) -> None:
    guessing, knowing = stages
    frame = _frame(np.random.default_rng(7), [], EDGE)
    assert guessing.analyse(frame, POSE, "f", pressed_depth_m=PRESS_M).anomaly.flagged  # edge unlike good presses
    result = knowing.analyse(frame, POSE, "f", pressed_depth_m=PRESS_M)
    assert not result.anomaly.flagged and result.finding.class_name == "none"


def test_with_the_part_a_defect_beside_its_edge_is_still_found_where_it_is(stages) -> None:
    _, knowing = stages
    # A dent 5 mm inside the edge (twice the margin), on the part.
    outward = np.array([np.cos(EDGE.angle_rad), np.sin(EDGE.angle_rad)])
    centre = (EDGE.offset_m - 0.005) * outward
    dent = Defect("d", "dent", (*centre, 0.0), (0, 0, 1), (1, 0, 0), 0.003, 0.003, 0.0003)
    result = knowing.analyse(_frame(np.random.default_rng(8), [dent], EDGE), POSE, "f", pressed_depth_m=PRESS_M)
    assert result.anomaly.flagged and result.finding.class_name == "dent"
    assert np.linalg.norm(np.asarray(result.anomaly_json()["peak_part"])[:2] - centre) < 0.0015
