"""Stage I end to end on a frame ray-cast from a known panel: dark square patches on the surface are
seen from two camera poses, detected (by the transparent dark-blob stand-in model, through real
slicing), localised, merged across views and turned into scan regions, then checked against truth."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.vision.detector import DefectDetector, DetectorSettings
from inspection.vision.localize import CameraView
from inspection.vision.stage import StageOne
from tests.test_vision_localize import RADIUS, oblique_view, panel, surface_point
from tests.test_vision_slicing import DarkBlobModel

PATCHES = [(0.05, 0.03, 0.004), (-0.1, -0.06, 0.008), (0.12, 0.1, 0.002)]  # angle (rad), y (m), half size (m)


def render(view: CameraView, surface) -> np.ndarray:
    """Light panel, grey floor, black square patches (sides along the arc and the axis)."""
    width, height = view.camera.width, view.camera.height
    xs, ys = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    origins, directions = view.rays(np.column_stack([xs.ravel(), ys.ravel()]))
    points, _, hit = surface.cast(origins, directions)
    image = np.full((height * width, 3), 120, np.uint8)  # the floor, brighter than the blob threshold
    image[hit] = 200
    angle = np.arctan2(points[:, 0], points[:, 2] + RADIUS)
    for centre, y, half in PATCHES:
        inside = hit & (np.abs((angle - centre) * RADIUS) < half) & (np.abs(points[:, 1] - y) < half)
        image[inside] = 10
    return image.reshape(height, width, 3)


def test_stage_one_localises_defects_from_two_views():
    cell = load_cell()
    surface = panel()
    views = [CameraView.from_cell(cell, "top"), oblique_view(cell, 20.0)]
    frames = [render(view, surface) for view in views]
    detector = DefectDetector(DarkBlobModel(), ["dent"], DetectorSettings(tile_size=320, tile_batch=64))
    result = StageOne(detector, surface, merge_distance_m=0.01, region_margin_m=0.005).inspect(frames, views)
    assert len(result.detections) == 2 * len(PATCHES) and not result.off_part
    assert len(result.hypotheses) == len(PATCHES) and len(result.regions) == len(PATCHES)
    errors = []
    for centre, y, half in PATCHES:
        truth, normal, _ = surface_point(centre, y)
        best = min(result.hypotheses, key=lambda h: np.linalg.norm(np.subtract(h.position, truth)))
        errors.append(np.linalg.norm(np.subtract(best.position, truth)))
        assert best.view_ids == ("oblique+20", "top")
        assert abs(max(best.extent_m) - 2 * half) < 0.15 * 2 * half + 0.0005  # pixel quantisation: 0.23 mm
        assert np.dot(best.normal, normal) > np.cos(np.radians(2))
        region = next(r for r in result.regions if best.id in r.hypothesis_ids)
        assert region.radius_m >= half + 0.005 - 0.0005
    print(f"stage I on ray-cast frames: centre errors {[round(float(e) * 1000, 3) for e in errors]} mm")
    assert max(errors) < 0.00015  # under a pixel (0.23 mm): boxes from whole-pixel blobs


def test_the_shape_finder_reads_each_views_burst_and_a_bad_burst_costs_only_itself():
    """A dent seen only by photometric stereo becomes a ``shape`` hypothesis on the part under it; a burst
    with one image missing is named in ``bad_bursts`` and its frame is still inspected."""
    from dataclasses import replace

    import pytest

    from inspection.errors import InputError
    from inspection.vision.shape import ShapeSettings
    from tests.test_vision_shape import _burst

    cell = load_cell()
    surface = panel()
    top = CameraView.from_cell(cell, "top")
    views = [top, replace(top, view_id="again")]
    height, width = top.camera.height, top.camera.width
    frame = np.full((height, width, 3), 200, np.uint8)
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    dent = np.exp(-((cols - width / 2) ** 2 + (rows - height / 2) ** 2) / (2 * 5.0 ** 2))
    lights = cell.camera.photometric.light_directions()
    burst = _burst(dent, seed=3)
    detector = DefectDetector(DarkBlobModel(), ["dent"], DetectorSettings(tile_size=640, tile_batch=64, confidence=0.1))
    with pytest.raises(InputError, match="no photometric lights"):
        StageOne(detector, surface, 0.01, 0.005, shape=ShapeSettings())
    stage = StageOne(detector, surface, 0.01, 0.005, shape=ShapeSettings(), light_directions=lights)
    result = stage.inspect([frame, frame], views, [burst, burst[..., :3]])
    assert [(d.finder, d.class_name, d.view_id) for d in result.detections] == [("shape", "dent", "top")]
    assert len(result.bad_bursts) == 1 and "view again burst: 3 images for 4 lights" in result.bad_bursts[0]
    (hypothesis,) = result.hypotheses
    origins, directions = top.rays(np.array([[width / 2, height / 2]]))
    under, _, _ = surface.cast(origins, directions)
    assert hypothesis.finder == "shape" and np.linalg.norm(np.subtract(hypothesis.position, under[0])) < 0.001


@pytest.mark.parametrize("box_class,shape_found", [("stain", True), ("dent", False)])
def test_a_stain_box_over_a_dent_does_not_hide_its_shape(box_class: str, shape_found: bool):
    """The shape finder leaves a finding to a detector box that explains it (a dent's); a stain's box says
    nothing of shape (photometric stereo tells albedo from slope), so the dent under it is still handed on."""
    from inspection.vision.shape import ShapeSettings
    from tests.test_vision_shape import _burst

    cell = load_cell()
    top = CameraView.from_cell(cell, "top")
    height, width = top.camera.height, top.camera.width
    frame = np.full((height, width, 3), 200, np.uint8)
    frame[height // 2 - 12:height // 2 + 12, width // 2 - 12:width // 2 + 12] = 20  # what the detector boxes
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    dent = np.exp(-((cols - width / 2) ** 2 + (rows - height / 2) ** 2) / (2 * 5.0 ** 2))
    detector = DefectDetector(DarkBlobModel(), [box_class], DetectorSettings(tile_size=640, tile_batch=64,
                                                                             confidence=0.1))
    stage = StageOne(detector, panel(), 0.01, 0.005, shape=ShapeSettings(),
                     light_directions=cell.camera.photometric.light_directions())
    result = stage.inspect([frame], [top], [_burst(dent, seed=3)])
    assert [d.finder for d in result.detections].count("detector") == 1
    assert any(d.finder == "shape" for d in result.detections) == shape_found
