"""Pits the learned detector cannot see: small round spots of the shading, found by a blob filter.

A pit of 0.5-1.3 mm is 3-6 px across in the cell's frames, below what the detector's finest head
resolves: on held-out simulated frames it finds none (pit AP50 0.00, docs/stage1-vision.md). Such a
pit still changes the shading of a few pixels, darker or brighter than its surroundings, and round. A
difference of Gaussians tuned to that size finds those spots; these tests keep texture and glare out:

- **contrast**: the spot must stand out against the filter's own response around it (its mean absolute
  response in a window), so machining marks, orange peel and weave, which answer the filter
  everywhere, raise their own bar;
- **roundness**: the shading's Hessian at the spot has two curvatures of the same sign and similar size
  (a dot), not one (the outline of a flush rivet, a seam, a part edge: a line);
- **exposure** (with ``clipped_level``): no pixel within the filter's reach is clipped. A glossy finish
  (a composite's clear coat, gloss paint) throws a flash back into the lens as a highlight that
  saturates; inside it the texture's response, the contrast test's yardstick, is zero, so wherever the
  highlight's edge crosses the weave or a rivet head darkens it, spots pass by the dozen. A clipped
  surround says nothing of the shading: the ring-lit frame and the other flashes, lit from elsewhere,
  still see a pit there.

What passes is handed to the planner as a ``pit`` hypothesis at ``confidence``, below fusion's threshold
for reporting an untouched detection: a spot only directs touch, the press decides. The settings were
chosen on simulated selection frames (seed 80000), never on the frames or parts reported.

Hand-written (OpenCV filters and a few lines of algebra) because the libraries' blob detectors
(``cv2.SimpleBlobDetector``, ``skimage.feature.blob_log``) threshold absolute intensities or one global
response, which the part's finish and the light change from frame to frame; the local contrast and the
roundness test are the point here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import cv2
import numpy as np

from inspection.records import Detection2D

SPOT_SIGMA_PX = 1.0  # the inner Gaussian: a pit 3-6 px across
SURROUND_SIGMA_PX = 3.0  # the outer Gaussian: the shading around it
BACKGROUND_WINDOW_PX = 41  # where the filter's usual response is measured (a few pits' widths of texture)
PEAK_WINDOW_PX = 9  # one spot per this many pixels
HESSIAN_SIGMA_PX = 1.2
CLIPPED_REACH_PX = 9  # three outer sigmas: a clipped pixel this close changes the filter's response
SPOT_BOX_HALF_PX = 2.5  # the box handed on: about a pit's footprint


@dataclass(frozen=True)
class SpotSettings:
    """The ``vision_node`` spot parameters."""

    contrast: float = 8.0  # peak response over the mean absolute response around it
    roundness: float = 0.3  # smaller over larger Hessian curvature: 1 a round dot, 0 a line
    min_step: float = 1.0  # grey levels (0-255): weaker spots are sensor noise on a flat frame
    confidence: float = 0.2  # what a spot's hypothesis carries
    max_per_frame: int = 20  # the strongest spots kept per frame
    on_burst: bool = False  # also filter each flash image of the view's photometric burst
    clipped_level: int = 256  # grey level (0-255) from which a pixel counts as clipped; 256: none does

    @staticmethod
    def configured(vision: Mapping[str, Any]) -> "SpotSettings":
        """The ``vision_node.spot_*`` settings, whether the filter is on or not (what a bench measures)."""
        return SpotSettings(contrast=vision["spot_contrast"], roundness=vision["spot_roundness"],
                            confidence=vision["spot_confidence"], max_per_frame=vision["spot_max_per_frame"],
                            on_burst=vision["spot_on_burst"], clipped_level=vision["spot_clipped_level"])

    @staticmethod
    def from_params(vision: Mapping[str, Any]) -> "SpotSettings | None":
        """The settings when ``vision_node.spot_detector`` is on, else None."""
        return SpotSettings.configured(vision) if vision["spot_detector"] else None


def grey_of(frame: np.ndarray) -> np.ndarray:
    """An RGB or grey frame as one float32 grey plane."""
    return (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame).astype(np.float32)


def spot_scores(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of a ``grey_of`` plane: the filter's absolute response (grey levels), that response over its
    local mean (the contrast), and the Hessian roundness (negative where the two curvatures differ in sign)."""
    response = np.abs(cv2.GaussianBlur(grey, (0, 0), SPOT_SIGMA_PX) - cv2.GaussianBlur(grey, (0, 0), SURROUND_SIGMA_PX))
    contrast = response / (cv2.blur(response, (BACKGROUND_WINDOW_PX, BACKGROUND_WINDOW_PX)) + 0.05)
    smooth = cv2.GaussianBlur(grey, (0, 0), HESSIAN_SIGMA_PX)
    dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3)
    half_trace, determinant = (dxx + dyy) / 2, dxx * dyy - dxy ** 2
    spread = np.sqrt(np.maximum(half_trace ** 2 - determinant, 0.0))
    larger, smaller = np.abs(half_trace) + spread, np.abs(np.abs(half_trace) - spread)
    roundness = np.where(determinant > 0, smaller / (larger + 1e-6), -1.0)
    return response, contrast, roundness


def find_spots(frame: np.ndarray, settings: SpotSettings, view_id: str = "",
               covered: list[Detection2D] | None = None) -> list[Detection2D]:
    """The round spots of ``frame`` (H x W x 3 RGB or H x W grey) as ``pit`` boxes, strongest first;
    a spot inside a box of ``covered`` (the detector's own detections) is left to that box."""
    grey = grey_of(frame)
    response, contrast, roundness = spot_scores(grey)
    peaks = contrast >= cv2.dilate(contrast, np.ones((PEAK_WINDOW_PX, PEAK_WINDOW_PX), np.uint8))
    kept = peaks & (contrast > settings.contrast) & (response > settings.min_step) & (roundness > settings.roundness)
    if settings.clipped_level <= 255:
        reach = np.ones((2 * CLIPPED_REACH_PX + 1,) * 2, np.uint8)
        kept &= ~cv2.dilate((grey >= settings.clipped_level).astype(np.uint8), reach).astype(bool)
    rows, cols = np.nonzero(kept)
    order = np.argsort(-contrast[rows, cols], kind="stable")
    height, width = contrast.shape
    spots: list[Detection2D] = []
    for row, col in zip(rows[order], cols[order]):
        if len(spots) == settings.max_per_frame:
            break
        if any(box.x1 - 2 <= col <= box.x2 + 2 and box.y1 - 2 <= row <= box.y2 + 2 for box in covered or ()):
            continue
        centre_x, centre_y = col + 0.5, row + 0.5  # pixel (col, row) spans [col, col + 1): boxes are in pixel edges
        spots.append(Detection2D(
            x1=float(max(centre_x - SPOT_BOX_HALF_PX, 0.0)), y1=float(max(centre_y - SPOT_BOX_HALF_PX, 0.0)),
            x2=float(min(centre_x + SPOT_BOX_HALF_PX, width)), y2=float(min(centre_y + SPOT_BOX_HALF_PX, height)),
            class_name="pit", confidence=settings.confidence, view_id=view_id, finder="spot"))
    return spots


def find_burst_spots(burst: np.ndarray, settings: SpotSettings, view_id: str = "",
                     covered: list[Detection2D] | None = None) -> list[Detection2D]:
    """The spots of each flash image of a photometric ``burst`` (H x W x N), each place once: a pit lit from
    one side casts a shadow and a highlight that the ring light, lighting it from all round, evens out, so a
    pit too faint in the ring-lit frame stands out under some flash. A spot inside a box of ``covered`` (the
    detector's, the ring-lit frame's spots) or of a spot already found in an earlier flash is left to it.
    ``settings.max_per_frame`` holds per flash."""
    known = list(covered or ())
    spots: list[Detection2D] = []
    for flash in range(burst.shape[2]):
        found = find_spots(burst[..., flash], settings, view_id, covered=known)
        spots += found
        known += found
    return spots
