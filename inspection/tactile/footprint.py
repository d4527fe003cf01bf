"""Where the part ends under the gel, from the press pose and the part's mesh.

A press over a part's edge leaves gel touching nothing beyond it, and where the gel wraps over the edge
it shades like a groove. The image alone can only guess where the part ends (``measure.off_part_region``
looks for a steep-walled low patch), and on a strongly shaded textured press that guess can take half
the gel for "beyond the part" and hide a defect. The cell knows better: it has the part's mesh and the
pose of every press. Each gel pixel's line along the press axis either meets the part near the gel or
passes beside its edge; those that pass beside it, grown by a margin (the press's pose error and the
edge's rounding), are what Stage II leaves out.
"""
from __future__ import annotations

import cv2
import numpy as np

from inspection.geometry.surface import PartSurface
from inspection.tactile.measure import checked_transform, gel_xy_m

# Gel lines are cast every SAMPLE_STEP_PX pixels and the mask is scaled up: an edge, and the margin around
# it, are placed to within half that step (0.23 mm at the Mini's 58 um pixels), well inside the margin.
SAMPLE_STEP_PX = 8
# How far behind the gel a line starts and how far into the part it may meet the surface: the part lies
# within millimetres of a pressed gel even where a tightly curved part falls away from it (a 25 mm
# leading edge's nose drops 1.7 mm at the Mini's corner), while its far side lies centimetres away.
LINE_START_M, LINE_REACH_M = 0.005, 0.015


def beyond_part(surface: PartSurface, sensor_to_part: np.ndarray, shape: tuple[int, int], pixel_size_m: float,
                margin_m: float) -> np.ndarray:
    """(H, W) bool: gel pixels with no part under them along the press axis, grown by ``margin_m`` (the
    press's pose error, registration of the part plus the arm's, and the edge's rounding).

    ``sensor_to_part`` is the pressed sensor pose (sensor +z into the part, gel pixels where
    ``measure.gel_xy_m`` puts them). A press wholly on the part gives an all-False mask.

    Raises:
        InputError: ``sensor_to_part`` is not a finite 4x4 transform.
    """
    transform = checked_transform(sensor_to_part)
    height, width = shape
    # Lines are cast over the frame grown by the margin, so an edge just outside the gel still leaves
    # out the band inside it.
    margin_px = int(round(margin_m / pixel_size_m))
    rows = np.arange(-margin_px, height + margin_px, SAMPLE_STEP_PX)
    cols = np.arange(-margin_px, width + margin_px, SAMPLE_STEP_PX)
    xs, ys = np.meshgrid(*gel_xy_m(cols, rows, shape, pixel_size_m))
    local = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, -LINE_START_M), np.ones(xs.size)], axis=1)
    origins = (local @ transform.T)[:, :3]
    direction = transform[:3, 2] / np.linalg.norm(transform[:3, 2])
    distances, _ = surface.first_hits(origins, np.broadcast_to(direction, origins.shape))
    missed = ~(distances <= LINE_START_M + LINE_REACH_M)
    if not missed.any():
        return np.zeros(shape, bool)
    # Samples within the margin of one beyond the part join it (measured on the sample grid: a distance
    # transform at full resolution costs ten times more); then each pixel takes its nearest sample.
    on_part = (~missed).reshape(len(rows), len(cols)).astype(np.uint8)
    grid = cv2.distanceTransform(on_part, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * SAMPLE_STEP_PX <= margin_px
    nearest_row = np.minimum((np.arange(height) + margin_px + SAMPLE_STEP_PX // 2) // SAMPLE_STEP_PX, len(rows) - 1)
    nearest_col = np.minimum((np.arange(width) + margin_px + SAMPLE_STEP_PX // 2) // SAMPLE_STEP_PX, len(cols) - 1)
    return grid[np.ix_(nearest_row, nearest_col)]
