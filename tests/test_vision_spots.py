"""The spot filter for pits too small for the detector (vision.spots): it finds a pit's few pixels on a
noisy flat frame, darker or brighter, and leaves out the shapes the part's own texture makes (a flush
rivet's outline, a seam, an edge, weave), spots inside the detector's boxes, and spots below the hand-over
threshold; Stage I hands what it finds on as pit hypotheses at the right place on the part."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.records import Detection2D
from inspection.vision.detector import DefectDetector, DetectorSettings
from inspection.vision.localize import CameraView
from inspection.vision.shape import ShapeSettings
from inspection.vision.spots import SpotSettings, find_burst_spots, find_spots
from inspection.vision.stage import StageOne
from tests.test_vision_localize import panel, surface_point
from tests.test_vision_slicing import DarkBlobModel


def noisy_frame(seed: int = 0, width: int = 400, height: int = 300, level: float = 150.0) -> np.ndarray:
    """A flat grey frame with 1.5 grey levels of sensor noise, RGB."""
    grey = np.random.default_rng(seed).normal(level, 1.5, (height, width))
    return np.repeat(np.clip(grey, 0, 255)[..., None], 3, axis=2).astype(np.uint8)


def add_pit(frame: np.ndarray, col: int, row: int, step: float) -> None:
    """A pit 4 px across: its shading ``step`` grey levels off its surround, blurred like a lens."""
    spot = np.zeros(frame.shape[:2], np.float32)
    cv2.circle(spot, (col, row), 2, 1.0, -1)
    spot = cv2.GaussianBlur(spot, (0, 0), 0.7)
    frame[:] = np.clip(frame + step * spot[..., None], 0, 255).astype(np.uint8)


def centres(spots: list[Detection2D]) -> list[tuple[float, float]]:
    return [spot.center for spot in spots]


@pytest.mark.parametrize("step", [-25.0, 25.0])
def test_a_pit_darker_or_brighter_than_its_surround_is_one_spot_there(step):
    frame = noisy_frame()
    add_pit(frame, 200, 150, step)
    spots = find_spots(frame, SpotSettings(), view_id="top")
    assert len(spots) == 1
    (col, row), = centres(spots)
    assert abs(col - 200) <= 1 and abs(row - 150) <= 1
    assert spots[0].class_name == "pit" and spots[0].confidence == SpotSettings().confidence
    assert spots[0].view_id == "top" and spots[0].x2 - spots[0].x1 <= 6 and spots[0].finder == "spot"


def test_noise_alone_is_no_spot():
    assert find_spots(noisy_frame(seed=3), SpotSettings()) == []


def test_a_rivet_outline_a_seam_and_an_edge_are_lines_not_spots():
    frame = noisy_frame()
    cv2.circle(frame, (100, 100), 12, (120, 120, 120), 1, lineType=cv2.LINE_AA)  # a flush rivet's outline
    cv2.line(frame, (40, 220), (360, 230), (120, 120, 120), 1, lineType=cv2.LINE_AA)  # a seam
    frame[:, 300:] = np.clip(frame[:, 300:].astype(int) + 40, 0, 255).astype(np.uint8)  # a part edge
    assert find_spots(frame, SpotSettings()) == []
    assert find_spots(frame, SpotSettings(roundness=0.0)) != []  # what the roundness test removes


def test_a_pit_on_weave_as_strong_as_the_weave_is_not_singled_out():
    frame = noisy_frame().astype(np.float32)
    rows, cols = np.mgrid[0:300, 0:400]
    frame += 25.0 * np.sign(np.sin(2 * np.pi * (cols + rows) / 9.0))[..., None]  # coarse twill-like texture
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    add_pit(frame, 200, 150, 25.0)
    assert all(abs(col - 200) > 3 or abs(row - 150) > 3 for col, row in centres(find_spots(frame, SpotSettings())))
    assert len(find_spots(frame, SpotSettings())) <= 2
    assert len(find_spots(frame, SpotSettings(contrast=1.0, max_per_frame=1000))) > 20  # what the local contrast removes


def test_no_spot_is_looked_for_in_a_clipped_highlight_and_a_pit_beside_it_is_found():
    frame = noisy_frame(level=120).astype(np.float32)
    rows, cols = np.mgrid[0:300, 0:400]
    frame += (400.0 * np.exp(-((cols - 120) ** 2 + (rows - 150) ** 2) / (2 * 40.0 ** 2)))[..., None]  # a flash's glint
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    cv2.circle(frame, (120, 150), 6, (90, 90, 90), -1, lineType=cv2.LINE_AA)  # a rivet head, dark in the glint
    add_pit(frame, 320, 150, -40.0)
    unguarded = centres(find_spots(frame, SpotSettings(max_per_frame=1000)))
    assert any(abs(col - 120) <= 8 and abs(row - 150) <= 8 for col, row in unguarded)  # the rivet head passes as a pit
    guarded = centres(find_spots(frame, SpotSettings(max_per_frame=1000, clipped_level=250)))
    assert all(col > 220 for col, _ in guarded)
    assert any(abs(col - 320.5) <= 1 and abs(row - 150.5) <= 1 for col, row in guarded)


def test_a_spot_inside_a_detector_box_is_left_to_that_box_and_the_strongest_are_kept():
    frame = noisy_frame()
    for i, col in enumerate((60, 140, 220, 300)):
        add_pit(frame, col, 150, -10.0 - 10.0 * i)
    box = Detection2D(x1=50, y1=140, x2=70, y2=160, class_name="dent", confidence=0.9)
    found = centres(find_spots(frame, SpotSettings(), covered=[box]))
    assert sorted(round(c) for c, _ in found) == [140, 220, 300]
    strongest = centres(find_spots(frame, SpotSettings(max_per_frame=2)))
    assert sorted(round(c) for c, _ in strongest) == [220, 300]


def _pit_on_the_panel(view: CameraView, surface) -> tuple[np.ndarray, int, int, np.ndarray]:
    """A point of the panel (the pit's truth), the pixel (column, row) of the camera's view that sees it,
    and the mask of pixels on the part."""
    width, height = view.camera.width, view.camera.height
    truth, _, _ = surface_point(0.02, 0.01)
    xs, ys = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    points, _, hit = surface.cast(*view.rays(np.column_stack([xs.ravel(), ys.ravel()])))
    nearest = int(np.argmin(np.where(hit, np.linalg.norm(points - truth, axis=1), np.inf)))
    row, col = divmod(nearest, width)
    return truth, int(col), int(row), hit.reshape(height, width)


def test_stage_one_hands_spots_on_as_pit_hypotheses_at_the_pit_and_not_below_the_hand_over():
    cell = load_cell()
    surface = panel()
    view = CameraView.from_cell(cell, "top")
    width, height = view.camera.width, view.camera.height
    truth, col, row, on_part = _pit_on_the_panel(view, surface)
    frame = noisy_frame(width=width, height=height, level=120.0)  # the floor; the panel brighter
    frame[on_part] = noisy_frame(seed=1, width=width, height=height, level=200.0)[on_part]
    add_pit(frame, col, row, -30.0)
    detector = DefectDetector(DarkBlobModel(), ["dent"], DetectorSettings(tile_size=0, confidence=0.05))
    result = StageOne(detector, surface, 0.01, 0.005, SpotSettings()).inspect([frame], [view])
    pits = [h for h in result.hypotheses if h.class_name == "pit"]
    assert len(pits) == 1 and pits[0].confidence == SpotSettings().confidence and pits[0].finder == "spot"
    assert [r.finder for r in result.regions if pits[0].id in r.hypothesis_ids] == ["spot"]
    assert np.linalg.norm(np.subtract(pits[0].position, truth)) < 0.0005
    paper = DefectDetector(DarkBlobModel(), ["dent"], DetectorSettings(tile_size=0, confidence=0.25))
    assert StageOne(paper, surface, 0.01, 0.005, SpotSettings()).spots is None


def test_a_pit_seen_under_two_flashes_of_a_burst_is_one_spot_and_a_covered_one_none():
    """Each flash lights a pit from one side: its shadow under one flash and its highlight under the opposite
    one are the same pit, found once; a pit inside a box already found (the detector's, the ring-lit frame's
    spots) is left to that box."""
    flashes = [noisy_frame(seed=k)[..., 0] for k in range(4)]
    shadow, highlight = flashes[0][..., None].repeat(3, axis=2), flashes[2][..., None].repeat(3, axis=2)
    add_pit(shadow, 200, 150, -25.0)
    add_pit(highlight, 201, 150, 25.0)
    flashes[0], flashes[2] = shadow[..., 0], highlight[..., 0]
    burst = np.stack(flashes, axis=2)
    spots = find_burst_spots(burst, SpotSettings(), view_id="top")
    assert len(spots) == 1 and spots[0].finder == "spot" and spots[0].view_id == "top"
    (col, row), = centres(spots)
    assert abs(col - 200) <= 2 and abs(row - 150) <= 1
    known = Detection2D(x1=195, y1=145, x2=206, y2=156, class_name="dent", confidence=0.3)
    assert find_burst_spots(burst, SpotSettings(), covered=[known]) == []
    assert find_burst_spots(np.stack([noisy_frame(seed=k)[..., 0] for k in range(4)], axis=2), SpotSettings()) == []


@pytest.mark.parametrize("on_burst", [True, False])
def test_stage_one_reads_the_burst_for_spots_only_when_told(on_burst):
    """A pit too faint in the ring-lit frame but dark under one flash becomes a pit hypothesis from the spot
    filter with ``spot_on_burst``, and is not looked for in the burst without it."""
    cell = load_cell()
    surface = panel()
    view = CameraView.from_cell(cell, "top")
    width, height = view.camera.width, view.camera.height
    truth, col, row, _ = _pit_on_the_panel(view, surface)
    frame = noisy_frame(width=width, height=height, level=150.0)
    lights = cell.camera.photometric.light_directions()
    flashes = [noisy_frame(seed=k + 1, width=width, height=height, level=150.0) for k in range(len(lights))]
    add_pit(flashes[0], col, row, -30.0)
    burst = np.stack([flash[..., 0] for flash in flashes], axis=2)
    detector = DefectDetector(DarkBlobModel(), ["dent"], DetectorSettings(tile_size=0, confidence=0.05))
    stage = StageOne(detector, surface, 0.01, 0.005, SpotSettings(on_burst=on_burst), ShapeSettings(), lights)
    result = stage.inspect([frame], [view], [burst])
    pits = [h for h in result.hypotheses if h.class_name == "pit" and h.finder == "spot"]
    if on_burst:
        assert len(pits) == 1 and np.linalg.norm(np.subtract(pits[0].position, truth)) < 0.0005
    else:
        assert pits == []
