"""Where a press departs from good presses of the same part and sensor: per-patch descriptors of the
frame's own fine detail, and the anomaly map they give against a memory bank of good patches.

A threaded or machined part shows deep, regular texture under the gel; judged on its own, that texture
looks like a field of scratches. What matters is whether a patch of this press looks like *some*
patch of a good press: the memory-bank idea of PatchCore (Roth et al., 2022). PatchCore describes
patches with a pretrained CNN, whose weights cannot be fetched here (no network, and nothing may
download weights at run time; anomalib's PatchCore/PaDiM load ImageNet backbones that way), so the
descriptors are built by hand from what shading carries: the colour detail of each patch.

Frames of good and faulty parts are often taken on different days, so whole-frame colour and
brightness change between them without any defect. Each frame is therefore described only by its
detail relative to its own low-pass background, ``(I - blur(I)) / blur(I)`` per channel: a global gain
or a slow lighting gradient cancels, an offset barely scales it. And the anomaly map is taken
relative to its own median, so a press that is a little different everywhere (another pose on the
part, another press depth) does not score as a defect: the score is where the frame is *locally*
unlike any good patch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from inspection.errors import InputError
from inspection.tactile.order_statistics import median

# Descriptors are computed on the frame at half resolution: a 320x240 GelSight Mini frame's detail
# below 2 px is sensor noise, and a quarter of the pixels makes the map four times cheaper.
WORK_SCALE = 2
# Low-pass background (half-resolution px): wider than a thread pitch (about 12 px there), so grooves
# stay in the detail, narrow enough to follow the LED fall-off across the gel.
BACKGROUND_SIGMA_PX = 10.0
DETAIL_SIGMA_PX = 1.0
# A patch is the 3x3 samples PATCH_STEP_PX apart around a centre (a 7x7 half-resolution window, about
# 14x14 full-resolution px: the size of a small nick), and centres lie GRID_STEP_PX apart.
PATCH_STEP_PX = 3
GRID_STEP_PX = 3
DESCRIPTOR_SIZE = 27
# Neighbouring cells are averaged so one noisy patch cannot make a peak; a defect spans several.
MAP_SMOOTHING_CELLS = 3


def check_frame(frame: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame large enough for whole patches, or InputError."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"tactile frame: expected (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    if frame.shape[0] < 8 * WORK_SCALE * PATCH_STEP_PX or frame.shape[1] < 8 * WORK_SCALE * PATCH_STEP_PX:
        raise InputError(f"tactile frame: {frame.shape[1]}x{frame.shape[0]} is too small for an anomaly map")
    return frame


def normalised_detail(frame: np.ndarray) -> np.ndarray:
    """(H/2, W/2, 3) float32: each channel's detail in percent of its own local background level."""
    frame = check_frame(frame)
    h, w = frame.shape[0] // WORK_SCALE, frame.shape[1] // WORK_SCALE
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    background = background_level(small)
    # In place (the same numbers): the temporaries are the frame's own.
    detail = np.subtract(small, background, out=small)
    detail /= np.maximum(background, 1.0, out=background)
    blurred = cv2.GaussianBlur(detail, (0, 0), DETAIL_SIGMA_PX)
    return np.multiply(blurred, np.float32(100.0), out=blurred)


@lru_cache(maxsize=4)
def _background_blur(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(height, height) and (width, width) float32 matrices B with B[i, j] the weight of row (column) j in
    row (column) i of ``cv2.GaussianBlur(image, (0, 0), BACKGROUND_SIGMA_PX)``: OpenCV's blur along one
    axis applied to the identity, so its kernel and its reflect-101 border are OpenCV's own."""
    def along_one_axis(size: int) -> torch.Tensor:
        identity = np.eye(size, dtype=np.float32)
        return torch.from_numpy(cv2.GaussianBlur(identity, (1, 0), BACKGROUND_SIGMA_PX, sigmaY=BACKGROUND_SIGMA_PX))

    return along_one_axis(height), along_one_axis(width)


def background_level(image: np.ndarray) -> np.ndarray:
    """``cv2.GaussianBlur(image, (0, 0), BACKGROUND_SIGMA_PX)`` of an (H, W, 3) float32 image, to float
    rounding, as two matrix products (rows, then columns). The 81-tap kernel spans half of a
    half-resolution frame; as dense products on one thread the blur takes half the time of OpenCV's
    separable filter (bench/tactile.py, docs/tactile.md speed)."""
    h, w = image.shape[:2]
    along_columns, along_rows = _background_blur(h, w)
    with torch.inference_mode():
        blurred = (along_columns @ torch.from_numpy(image).reshape(h, w * 3)).reshape(h, w, 3)
        # Along the rows as one plain product on a (rows x channels, columns) copy, and back to (H, W, 3)
        # memory for the arithmetic that follows: the same numbers as the einsum it replaced, 15 % faster.
        by_channel = blurred.transpose(1, 2).reshape(h * 3, w)
        return (by_channel @ along_rows.T).reshape(h, 3, w).transpose(1, 2).contiguous().numpy()


def grid_shape(frame_shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols) of patch centres for a frame of ``frame_shape``; only whole patches are scored."""
    h, w = frame_shape[0] // WORK_SCALE, frame_shape[1] // WORK_SCALE
    span = 2 * PATCH_STEP_PX
    return (h - span - 1) // GRID_STEP_PX + 1, (w - span - 1) // GRID_STEP_PX + 1


def patch_descriptors(frame: np.ndarray) -> np.ndarray:
    """(rows, cols, 27) float32: the 3x3 samples of each patch of :func:`normalised_detail`, 3 channels."""
    detail = normalised_detail(frame)
    rows, cols = grid_shape(frame.shape)
    r, g = PATCH_STEP_PX, GRID_STEP_PX
    parts = [detail[r + dy:r + dy + g * (rows - 1) + 1:g, r + dx:r + dx + g * (cols - 1) + 1:g]
             for dy in (-r, 0, r) for dx in (-r, 0, r)]
    return np.concatenate(parts, axis=2)


def cell_centre_px(row: int | np.ndarray, col: int | np.ndarray) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Full-resolution (x, y) of the centre of grid cell (row, col); rows and columns may be arrays."""
    x_half = PATCH_STEP_PX + GRID_STEP_PX * col
    y_half = PATCH_STEP_PX + GRID_STEP_PX * row
    return WORK_SCALE * x_half + (WORK_SCALE - 1) / 2, WORK_SCALE * y_half + (WORK_SCALE - 1) / 2


def _pixels_to_cells() -> np.ndarray:
    """The 2x3 affine that maps full-resolution pixels to grid-cell coordinates (for cv2.warpAffine)."""
    x0, y0 = cell_centre_px(0, 0)
    step = WORK_SCALE * GRID_STEP_PX
    return np.array([[1 / step, 0, -x0 / step], [0, 1 / step, -y0 / step]], np.float64)


PIXELS_TO_CELLS = _pixels_to_cells()


@dataclass(frozen=True)
class AnomalyMap:
    """How unlike any good patch each part of one frame is, relative to the frame's own typical level."""

    cells: np.ndarray            # (rows, cols) float32 per patch centre
    frame_shape: tuple[int, int]
    threshold: float             # score above which a frame is flagged (from the reference)

    @property
    def score(self) -> float:
        return float(self.cells.max())

    @property
    def flagged(self) -> bool:
        return self.score > self.threshold

    @property
    def peak_px(self) -> tuple[float, float]:
        """Full-resolution (x, y) pixel of the strongest anomaly."""
        row, col = np.unravel_index(int(np.argmax(self.cells)), self.cells.shape)
        return cell_centre_px(int(row), int(col))

    def per_pixel(self) -> np.ndarray:
        """(H, W) float32 map at frame resolution; the border that holds no whole patch is 0 (not scored)."""
        h, w = self.frame_shape
        return cv2.warpAffine(self.cells, PIXELS_TO_CELLS, (w, h),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0.0)

    def region(self) -> np.ndarray:
        """(H, W) bool: pixels whose patch is above the threshold, grown by one patch radius (a patch
        centre sees its defect up to that far away)."""
        above = (self.per_pixel() > self.threshold).astype(np.uint8)
        size = 2 * WORK_SCALE * PATCH_STEP_PX + 1
        return cv2.dilate(above, np.ones((size, size), np.uint8)).astype(bool)


def on_part_cells(beyond: np.ndarray) -> np.ndarray:
    """(rows, cols) bool: grid cells whose patches and smoothing neighbours lie wholly on the part, given
    the full-resolution mask ``beyond`` of gel beyond the part's edge (``footprint.beyond_part``)."""
    rows, cols = grid_shape(beyond.shape)
    # A cell's value mixes patches up to one patch radius plus the smoothing's half-width of cells away.
    reach_px = WORK_SCALE * (PATCH_STEP_PX + GRID_STEP_PX * (MAP_SMOOTHING_CELLS // 2))
    grown = cv2.dilate(beyond.astype(np.uint8), np.ones((2 * reach_px + 1,) * 2, np.uint8))
    centre_x, centre_y = cell_centre_px(np.arange(rows), np.arange(cols))
    return grown[np.ix_(np.rint(centre_y).astype(int), np.rint(centre_x).astype(int))] == 0


def relative_cells(distances: np.ndarray, scored: np.ndarray | None = None) -> np.ndarray:
    """Nearest-good-patch distances, smoothed over neighbouring cells, minus the frame's median.

    ``scored`` (rows, cols bool): only these cells count, for the median too; the others are 0 (the
    frame's usual level). Gel beyond the part's edge is unlike every good press; left in, it would
    win the peak and, over half the frame, raise the median above a defect on the part."""
    cells = cv2.blur(distances.astype(np.float32), (MAP_SMOOTHING_CELLS, MAP_SMOOTHING_CELLS))
    if scored is None:
        return cells - np.float32(median(cells))
    if not scored.any():
        return np.zeros_like(cells)
    return np.where(scored, cells - np.float32(median(cells[scored])), np.float32(0.0))
