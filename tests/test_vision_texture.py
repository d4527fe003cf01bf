"""Periodic finish taken out of a frame (vision.texture) and the detector's second look at the plain frame
(vision.stage, ``detexture``), on frames drawn here: a twill-like weave, a pit, the part's shading."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.vision.detector import DefectDetector, DetectorSettings
from inspection.vision.localize import CameraView
from inspection.vision.stage import StageOne
from inspection.vision.texture import TEXTURED_MIN_RMS, periodic_rms, plain_frame, remove_periodic_texture
from tests.test_vision_localize import panel

SIZE = (300, 420)  # not whole tiles: the padding must cover the borders


def _weave(size: tuple[int, int] = SIZE, amplitude: float = 30.0) -> np.ndarray:
    """Two tow directions in alternating diagonal bands, every few pixels: a herringbone weave's pattern."""
    rows, cols = np.mgrid[0:size[0], 0:size[1]].astype(float)
    along = np.sin(2 * np.pi * cols / 7.0)
    across = np.sin(2 * np.pi * rows / 7.0)
    band = np.floor((rows + cols) / 14.0) % 2 == 0
    return amplitude * np.where(band, along, across)


def _shading(size: tuple[int, int] = SIZE) -> np.ndarray:
    """The part's curvature and the light's fall-off: broad, slow."""
    rows, cols = np.mgrid[0:size[0], 0:size[1]].astype(float)
    return 140.0 + 30.0 * np.cos(cols / size[1] * np.pi) + 10.0 * rows / size[0]


def _pit(size: tuple[int, int], centre: tuple[int, int], depth: float = 60.0, sigma: float = 1.5) -> np.ndarray:
    rows, cols = np.mgrid[0:size[0], 0:size[1]].astype(float)
    return -depth * np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * sigma ** 2))


def test_the_weave_goes_and_the_pit_and_the_shading_stay():
    pit = _pit(SIZE, (200, 150))
    base = _shading() + pit
    plain = remove_periodic_texture(base + _weave())
    inner = (slice(20, -20), slice(20, -20))
    residual = plain - base
    print(f"weave RMS {_weave()[inner].std():.1f} -> {residual[inner].std():.2f} grey levels; "
          f"pit depth {-pit.min():.0f} -> {plain[150, 215] - plain[150, 200]:.0f}")
    assert residual[inner].std() < _weave()[inner].std() / 8  # the weave: 21 -> under 2.7 grey levels
    # The pit keeps most of its depth, and the shading (no peaks: nothing taken) stays to a grey level.
    assert plain[150, 200] - plain[150, 215] < 0.7 * pit.min()
    smooth = remove_periodic_texture(_shading())
    assert np.abs(smooth - _shading())[inner].max() < 1.0


def test_a_plain_frame_is_left_alone_and_a_woven_one_is_made_plain():
    rng = np.random.default_rng(0)
    painted = np.clip(_shading() + rng.normal(0, 2.0, SIZE), 0, 255).astype(np.uint8)
    woven = np.clip(_shading() + _weave(), 0, 255).astype(np.uint8)
    painted_rgb, woven_rgb = (np.repeat(image[..., None], 3, axis=2) for image in (painted, woven))
    assert periodic_rms(painted_rgb) < TEXTURED_MIN_RMS < periodic_rms(woven_rgb)
    assert plain_frame(painted_rgb) is None
    plain = plain_frame(woven_rgb)
    assert plain.dtype == np.uint8 and plain.shape == woven_rgb.shape
    assert periodic_rms(plain) < TEXTURED_MIN_RMS
    with pytest.raises(ValueError, match="2-D image"):
        remove_periodic_texture(woven_rgb)


class PlainBackgroundBlobModel:
    """Boxes dark blobs (class 0, confidence 0.9) whose surroundings are plain: as a detector that has seen
    pits mostly on plain paint, it loses one in a weave."""

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for image in images_rgb:
            grey = image[..., 0].astype(np.float32)
            count, _, stats, _ = cv2.connectedComponentsWithStats((grey < 80).astype(np.uint8))
            rows = []
            for x, y, w, h, _ in stats[1:count]:
                around = grey[max(y - 10, 0):y + h + 10, max(x - 10, 0):x + w + 10]
                if np.percentile(around, 90) - np.percentile(around, 50) < 10:  # plain around the blob
                    rows.append([x, y, x + w, y + h, 0.9, 0])
            out.append(np.array(rows, np.float32).reshape(-1, 6))
        return out


@pytest.mark.parametrize("detexture", [False, True])
def test_the_detector_looks_again_at_the_plain_frame_only_when_asked(detexture: bool):
    cell = load_cell()
    view = CameraView.from_cell(cell, "top")
    size = (view.camera.height, view.camera.width)
    centre = (size[1] // 2 + 3, size[0] // 2 + 3)
    frame = np.clip(150.0 + _weave(size, 45.0) + _pit(size, centre, 120.0, 2.0), 0, 255).astype(np.uint8)
    frame = np.repeat(frame[..., None], 3, axis=2)
    detector = DefectDetector(PlainBackgroundBlobModel(), ["pit"], DetectorSettings(tile_size=640, tile_batch=64))
    stage = StageOne(detector, panel(), 0.01, 0.005, detexture=detexture)
    grey = stage.inspect([frame[..., 0]], [view])  # a mono camera's frame: looked at again the same way
    result = stage.inspect([frame], [view])
    boxes = [[(d.x1, d.y1, d.class_name) for d in found.detections] for found in (grey, result)]
    assert boxes[0] == boxes[1]
    near_pit = [d for d in result.detections
                if d.x1 - 3 <= centre[0] <= d.x2 + 3 and d.y1 - 3 <= centre[1] <= d.y2 + 3]
    assert bool(near_pit) == detexture
    if detexture:
        assert len(result.hypotheses) == 1 and result.hypotheses[0].class_name == "pit"
