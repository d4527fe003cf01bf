"""Sliced inference: a large frame is cut into overlapping square tiles at the model's native
resolution, so a 2-pixel pit stays 2 pixels instead of vanishing when a 12 MP frame is shrunk to 640.

Written here rather than taken from ``sahi`` because we run every tile of every frame through the
model as one batch (sahi predicts tile by tile), and because a defect cut by a tile border needs a
merge that knows which box edges are tile borders (see ``merge_detections``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A box edge this close to an inner tile border was cut by it.
BORDER_TOLERANCE_PX = 2.0


@dataclass(frozen=True)
class Tile:
    """A tile in full-frame pixels; ``inner_edges`` says which of its sides (left, top, right, bottom) are
    not image borders, where a box may have been cut."""

    x0: int
    y0: int
    x1: int
    y1: int
    inner_edges: tuple[bool, bool, bool, bool]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # the last tile ends exactly at the border
    return starts


def tile_grid(width: int, height: int, tile_size: int, overlap: float) -> list[Tile]:
    """Tiles covering every pixel of a ``width`` x ``height`` frame, neighbours sharing ``overlap`` of a tile."""
    if tile_size <= 0:
        raise ValueError(f"tile_size {tile_size}: must be positive")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"tile_overlap {overlap}: must be in [0, 1)")
    stride = max(1, int(round(tile_size * (1.0 - overlap))))
    tiles = []
    for y0 in _starts(height, tile_size, stride):
        for x0 in _starts(width, tile_size, stride):
            x1, y1 = min(x0 + tile_size, width), min(y0 + tile_size, height)
            tiles.append(Tile(x0, y0, x1, y1, (x0 > 0, y0 > 0, x1 < width, y1 < height)))
    return tiles


def cut_flags(boxes: np.ndarray, tile: Tile) -> np.ndarray:
    """For boxes in full-frame pixels found in ``tile``: True where a box touches an inner tile border."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=bool)
    left, top, right, bottom = tile.inner_edges
    tol = BORDER_TOLERANCE_PX
    return ((left & (boxes[:, 0] <= tile.x0 + tol)) | (top & (boxes[:, 1] <= tile.y0 + tol))
            | (right & (boxes[:, 2] >= tile.x1 - tol)) | (bottom & (boxes[:, 3] >= tile.y1 - tol)))


def _overlaps(box: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and intersection-over-smaller of one box with each row of ``others``."""
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter + 1e-9), inter / (np.minimum(area, areas) + 1e-9)


def merge_detections(rows: np.ndarray, cut: np.ndarray, iou: float, cut_ios: float = 0.1,
                     max_det: int = 300) -> np.ndarray:
    """Merge detections of several tiles (and an optional full-frame pass) into one set, class by class.

    Greedy by confidence: each kept box absorbs the not-yet-used boxes of its class that
    - overlap it with IoU above ``iou`` (the same defect seen whole twice: plain NMS), or
    - share more than ``cut_ios`` of the smaller box's area with it when either was cut by a tile
      border (the pieces of one defect that no single tile holds whole: their union is kept).
    A merged box keeps its highest confidence. Input and output rows are x1, y1, x2, y2, conf, class.
    """
    if len(rows) == 0:
        return np.zeros((0, 6), dtype=np.float32)
    order = np.argsort(-rows[:, 4], kind="stable")
    rows, cut = rows[order].astype(np.float64), cut[order]
    used = np.zeros(len(rows), dtype=bool)
    merged = []
    for i in range(len(rows)):
        if used[i]:
            continue
        used[i] = True
        box, box_cut = rows[i].copy(), bool(cut[i])
        # Growing the box may make it reach further pieces, so repeat until nothing more joins.
        while True:
            candidates = np.flatnonzero(~used & (rows[:, 5] == box[5]))
            if candidates.size == 0:
                break
            box_iou, box_ios = _overlaps(box, rows[candidates])
            joins = (box_iou > iou) | ((box_cut | cut[candidates]) & (box_ios > cut_ios))
            if not joins.any():
                break
            members = candidates[joins]
            used[members] = True
            # A cut box grows by everything that joins it; a whole one only by cut pieces, not by duplicates.
            pieces = members if box_cut else members[cut[members]]
            if len(pieces):
                box[:2] = np.minimum(box[:2], rows[pieces, :2].min(axis=0))
                box[2:4] = np.maximum(box[2:4], rows[pieces, 2:4].max(axis=0))
            box_cut = box_cut and bool(cut[members].all())
        merged.append(box)
        if len(merged) >= max_det:
            break
    return np.asarray(merged, dtype=np.float32)
