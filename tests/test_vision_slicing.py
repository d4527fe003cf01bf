"""Sliced inference: tiles cover the frame, and a defect cut by tile borders comes back as one box.

The end-to-end tests drive DefectDetector with a transparent stand-in model that boxes dark blobs
(connected components), so what is checked is the slicing and merging, not a network's accuracy.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.errors import InputError
from inspection.vision.backends import box_iou_one
from inspection.vision.detector import DefectDetector, DetectorSettings
from inspection.vision.slicing import Tile, cut_flags, merge_detections, tile_grid

NAMES = ["scratch", "pit"]


class DarkBlobModel:
    """Boxes every dark connected blob in each image it is given (class 0, confidence 0.9); records batches."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, ...]]] = []

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        self.batches.append([image.shape for image in images_rgb])
        out = []
        for image in images_rgb:
            count, _, stats, _ = cv2.connectedComponentsWithStats((image[..., 0] < 60).astype(np.uint8))
            rows = [[x, y, x + w, y + h, 0.9, 0] for x, y, w, h, _ in stats[1:count]]
            out.append(np.array(rows, np.float32).reshape(-1, 6))
        return out


def frame_with(boxes: list[tuple[int, int, int, int]], width: int = 1000, height: int = 700) -> np.ndarray:
    image = np.full((height, width, 3), 200, np.uint8)
    for x1, y1, x2, y2 in boxes:
        image[y1:y2, x1:x2] = 20
    return image


@pytest.mark.parametrize("width,height,tile,overlap", [
    (1920, 1080, 320, 0.2), (1000, 700, 320, 0.25), (640, 640, 320, 0.0), (300, 200, 320, 0.2),
    (4000, 3000, 640, 0.1), (321, 1500, 320, 0.5),
])
def test_tiles_cover_every_pixel_and_overlap_as_asked(width, height, tile, overlap):
    tiles = tile_grid(width, height, tile, overlap)
    covered = np.zeros((height, width), np.int32)
    for t in tiles:
        assert 0 <= t.x0 < t.x1 <= width and 0 <= t.y0 < t.y1 <= height
        assert t.x1 - t.x0 == min(tile, width) and t.y1 - t.y0 == min(tile, height)
        covered[t.y0:t.y1, t.x0:t.x1] += 1
    assert covered.min() >= 1
    xs = sorted({t.x0 for t in tiles})
    for a, b in zip(xs, xs[1:]):
        assert a + tile - b >= int(round(tile * overlap)) - 1  # neighbours share at least the overlap


def test_tile_grid_rejects_bad_settings():
    with pytest.raises(ValueError):
        tile_grid(100, 100, 0, 0.2)
    with pytest.raises(ValueError):
        tile_grid(100, 100, 64, 1.0)


def test_cut_flags_only_at_inner_borders():
    tile = Tile(0, 0, 320, 320, (False, False, True, True))  # top-left tile: right and bottom are inner
    boxes = np.array([[0, 0, 10, 10], [300, 5, 320, 20], [5, 310, 20, 320], [100, 100, 120, 120]], np.float32)
    assert cut_flags(boxes, tile).tolist() == [False, True, True, False]


def test_pieces_of_a_box_cut_by_a_border_merge_into_one():
    # One defect spanning x 200..420 seen by a tile ending at 320 and one starting at 256.
    rows = np.array([[200, 50, 320, 80, 0.8, 0], [256, 52, 420, 79, 0.7, 0]], np.float32)
    merged = merge_detections(rows, np.array([True, True]), iou=0.5)
    assert len(merged) == 1
    assert np.allclose(merged[0, :4], [200, 50, 420, 80]) and merged[0, 4] == pytest.approx(0.8)


def test_merge_keeps_other_classes_and_separate_defects_apart():
    rows = np.array([[100, 100, 140, 120, 0.9, 0], [100, 100, 140, 120, 0.5, 1],  # same place, two classes
                     [150, 100, 190, 120, 0.8, 0]], np.float32)  # same class, 10 px away, not cut
    merged = merge_detections(rows, np.zeros(3, bool), iou=0.5)
    assert len(merged) == 3


def test_merge_is_nms_for_whole_duplicates():
    rows = np.array([[100, 100, 200, 150, 0.9, 0], [102, 101, 203, 151, 0.6, 0]], np.float32)
    merged = merge_detections(rows, np.zeros(2, bool), iou=0.5)
    assert len(merged) == 1 and np.allclose(merged[0, :4], [100, 100, 200, 150])


@pytest.mark.parametrize("full_frame_pass", [False, True])
def test_sliced_detection_returns_each_blob_once_with_its_true_box(full_frame_pass):
    truth = [
        (250, 100, 300, 110),   # crosses the x border between the first two tiles
        (240, 240, 280, 275),   # on the corner shared by four tiles
        (100, 400, 900, 406),   # a long scratch across four tile columns
        (700, 600, 706, 606),   # a small pit well inside a tile
        (960, 20, 1000, 60),    # touching the image border, which is not a cut
    ]
    model = DarkBlobModel()
    settings = DetectorSettings(tile_size=320, tile_overlap=0.2, full_frame_pass=full_frame_pass, tile_batch=4)
    detections = DefectDetector(model, NAMES, settings).detect(frame_with(truth), view_id="cam")
    assert len(detections) == len(truth)
    for x1, y1, x2, y2 in truth:
        ious = [box_iou_one(np.array([x1, y1, x2, y2], float), np.array([[d.x1, d.y1, d.x2, d.y2]]))[0]
                for d in detections]
        assert max(ious) > 0.9
    assert all(d.view_id == "cam" and d.class_name == "scratch" for d in detections)
    tiles = len(tile_grid(1000, 700, 320, 0.2))
    tile_shapes = [shape for batch in model.batches for shape in batch if shape == (320, 320, 3)]
    assert len(tile_shapes) == tiles and max(len(b) for b in model.batches) <= 4


def test_batch_of_frames_shares_tile_batches():
    model = DarkBlobModel()
    detector = DefectDetector(model, NAMES, DetectorSettings(tile_size=320, full_frame_pass=False, tile_batch=64))
    frames = [frame_with([(10, 10, 30, 30)]), frame_with([(500, 300, 560, 330), (10, 600, 40, 650)])]
    found = detector.detect_batch(frames, ["a", "b"])
    assert [len(f) for f in found] == [1, 2] and [d.view_id for d in found[1]] == ["b", "b"]
    assert len(model.batches) == 1  # all 2 x 12 tiles in one forward pass


def test_no_slicing_runs_the_whole_frame():
    model = DarkBlobModel()
    detector = DefectDetector(model, NAMES, DetectorSettings(tile_size=0))
    assert len(detector.detect(frame_with([(10, 10, 30, 30)]))) == 1
    assert model.batches == [[(700, 1000, 3)]]


@pytest.mark.parametrize("bad", [np.zeros((100, 100, 3), np.float32), np.zeros((4, 4, 3), np.uint8),
                                 np.zeros((100, 100, 2), np.uint8), "image.png"])
def test_bad_images_are_input_errors(bad):
    detector = DefectDetector(DarkBlobModel(), NAMES, DetectorSettings())
    with pytest.raises(InputError):
        detector.detect(bad)
