"""Defects seen by their shape: photometric stereo on a burst of images, one flash lit in each.

The ring-lit frame hides shallow dents, low bumps and pits in the paint's shading: a 0.2 mm dent 10 mm
wide tilts the surface by a few hundredths of a radian, a change of a few grey levels spread over
tens of pixels. Under lights from opposite sides the same tilt brightens one image and darkens the
other, while the paint's colour (albedo) brightens or darkens both. Least squares over the burst
(Woodham's photometric stereo, Lambertian) gives per pixel the albedo-scaled normal; its slopes, less
their smooth part (the part's own curvature and the lights' fall-off), are the shape of what is on the
surface. Where that residual slope stands out against its own usual level around it (orange peel,
machining marks and weave raise their own bar, as in ``vision.spots``; rivet heads, all alike, are
dropped by ``vision.repetition``), a connected region becomes a ``shape`` finding, classed from its
shape: a line (scratch), a speck (pit), or a round patch whose curvature says dent (concave) or bump
(convex).

Every finding is a hypothesis for the planner at ``confidence`` (below fusion's threshold for
reporting an untouched detection): the burst directs touch, the press decides, and the planner's
per-finder calibration (``models/defect_calibration.json``) says how often a shape finding is a defect.

Hand-written with OpenCV and numpy because no maintained library here does photometric stereo on an
uncalibrated-albedo burst (OpenCV's ``photo`` and ``rgbd`` modules have no Woodham solver, scikit-image
none either); the solve is one 3xN pseudo-inverse applied to every pixel. Settings were chosen on
simulated bursts of the tuning seed's parts, never on the parts reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import cv2
import numpy as np

from inspection.cell import PhotometricRig
from inspection.errors import InputError
from inspection.records import Detection2D
from inspection.vision.repetition import repeated_features

GAMMA = 2.2  # the burst's 8-bit codes are sRGB-like, as the ring-lit frames: linearised before the solve
_LINEAR = ((np.arange(256, dtype=np.float32) / 255.0) ** GAMMA).astype(np.float32)  # code -> linear level
DARK_LEVEL = 0.01  # linear albedo-scaled normal length below which a pixel is background or shadow
SLOPE_CLIP = 3.0  # slopes beyond this (75 degrees from the optical axis) are silhouettes, not shape
HIGHLIGHT_MISFIT = 0.15  # a pixel's worst misfit over its mean level above which it is off the Lambertian model
HIGHLIGHT_MIN_PX = 15  # a highlight is at least this wide; narrower misfits are small sharp defects
CURVATURE_SIGMA_PX = 1.5  # smoothing of the residual slopes before the curvature (sensor noise)
JOIN_PX = 5  # standing-out pixels this close are one region (a dent's two flanks, a scratch's two walls)


@dataclass(frozen=True)
class ShapeSettings:
    """The ``vision_node`` shape parameters."""

    background_sigma_px: float = 12.0  # the part's own smooth shape: removed from the slopes
    contrast: float = 6.0  # residual slope over its mean level around it
    min_slope: float = 0.02  # rad: weaker residuals are noise however quiet the surroundings
    window_px: int = 61  # where the residual's usual level is measured
    min_area_px: int = 4
    confidence: float = 0.2  # what a shape finding's hypothesis carries
    max_per_frame: int = 20  # the strongest findings kept per burst
    max_look_alikes: int = 2  # a candidate like more others than this in its frame is a feature of the part

    @staticmethod
    def configured(vision: Mapping[str, Any]) -> "ShapeSettings":
        """The ``vision_node.shape_*`` settings, whether the finder is on or not."""
        return ShapeSettings(background_sigma_px=vision["shape_background_sigma_px"],
                             contrast=vision["shape_contrast"], min_slope=vision["shape_min_slope"],
                             confidence=vision["shape_confidence"], max_per_frame=vision["shape_max_per_frame"])

    @staticmethod
    def from_params(vision: Mapping[str, Any]) -> "ShapeSettings | None":
        """The settings when ``vision_node.shape_detector`` is on, else None."""
        return ShapeSettings.configured(vision) if vision["shape_detector"] else None


def shape_lights(vision: Mapping[str, Any], rig: PhotometricRig | None, cell_file: str) -> np.ndarray | None:
    """The lights' directions the shape finder solves with, None when it is off (``vision_node.shape_detector``).
    The finder on a camera without the lights is refused here, naming the cell file, by the vision node at
    start and by the campaign before any part."""
    if not vision["shape_detector"]:
        return None
    if rig is None:
        raise InputError(f"parameter shape_detector: the camera of {cell_file} has no photometric lights "
                         "(camera.photometric); turn vision_node.shape_detector off or describe the lights")
    return rig.light_directions()


def check_burst(burst: np.ndarray, light_directions: np.ndarray, where: str,
                frame_size: tuple[int, int] | None = None) -> None:
    """A burst must be (H, W, N) 8-bit with one image per light, as large as its ring-lit frame
    (``frame_size`` = (H, W): boxes are cast with that frame's camera), and its lights must span 3D."""
    if burst.ndim != 3 or burst.dtype != np.uint8:
        raise InputError(f"{where}: a burst is (height, width, lights) 8-bit, got {burst.dtype} {burst.shape}")
    if frame_size is not None and tuple(burst.shape[:2]) != tuple(frame_size):
        raise InputError(f"{where}: {burst.shape[1]}x{burst.shape[0]} images for a {frame_size[1]}x{frame_size[0]} "
                         "frame; the burst must come from the same camera at the same resolution")
    if burst.shape[2] != len(light_directions):
        raise InputError(f"{where}: {burst.shape[2]} images for {len(light_directions)} lights "
                         "(cell.yaml camera.photometric.azimuths_deg)")
    if np.linalg.matrix_rank(np.asarray(light_directions, float), tol=1e-3) < 3:
        raise InputError(f"{where}: the lights' directions do not span 3D: photometric stereo needs three "
                         "lights not in one plane")


def surface_slopes(burst: np.ndarray, light_directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the surface's slopes along image x and y (dz/dx, dz/dy of the surface seen along the
    optical axis, z away from the camera) and a mask of the pixels lit well enough to solve.

    Gloss breaks the Lambertian model where a flash's highlight lands: there the fit misses an image by far over
    a broad patch, and the patch is left out (solving again without that image, the usual robust
    photometric stereo, left a seam where the brightest image changes, because the room's ambient light
    biases any three-light solve). A defect in a highlight is left to the ring-lit frame's finders."""
    directions = np.asarray(light_directions, np.float32)
    # Per image planes (H, W) and a table for the codes: reductions over a short last axis are slow in numpy.
    images = [_LINEAR[burst[..., k]] for k in range(burst.shape[2])]
    solve = np.linalg.pinv(directions)  # (3, N)
    scaled = [sum(float(solve[axis, k]) * image for k, image in enumerate(images)) for axis in range(3)]
    valid = np.ones(burst.shape[:2], bool)
    if len(directions) >= 4:  # with three lights the fit is exact: nothing to test
        misfit = np.zeros(burst.shape[:2], np.float32)
        for direction, image in zip(directions, images):
            fitted = float(direction[0]) * scaled[0] + float(direction[1]) * scaled[1] + float(direction[2]) * scaled[2]
            np.maximum(misfit, np.abs(image - fitted), out=misfit)
        mean_level = sum(images) / len(images)
        off_model = (misfit > HIGHLIGHT_MISFIT * np.maximum(mean_level, 1e-3)).astype(np.uint8)
        # A highlight is a broad patch; a crack or a pit's rim misfits too, but over a few pixels: kept.
        kernel = np.ones((HIGHLIGHT_MIN_PX, HIGHLIGHT_MIN_PX), np.uint8)
        valid = cv2.dilate(cv2.erode(off_model, kernel), kernel) == 0
    normal_z = -scaled[2]  # towards the camera: positive on a surface that faces it
    length2 = scaled[0] ** 2 + scaled[1] ** 2 + scaled[2] ** 2
    valid &= (length2 > DARK_LEVEL ** 2) & (normal_z * SLOPE_CLIP > np.maximum(np.abs(scaled[0]), np.abs(scaled[1])))
    safe_z = np.where(valid, normal_z, 1.0)
    slope_x = np.where(valid, scaled[0] / safe_z, 0.0).astype(np.float32)
    slope_y = np.where(valid, scaled[1] / safe_z, 0.0).astype(np.float32)
    return slope_x, slope_y, valid


def shape_scores(burst: np.ndarray, light_directions: np.ndarray,
                 settings: ShapeSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the residual slope's magnitude (rad), that over its usual level around it (contrast),
    the residual curvature (divergence of the residual depth slopes: negative on a dent's flanks, where
    the surface bends away from the camera)
    and the mask of pixels the solve trusts (lit, and away from the silhouette by the background scale)."""
    slope_x, slope_y, valid = surface_slopes(burst, light_directions)
    weight = valid.astype(np.float32)
    sigma = settings.background_sigma_px
    support = cv2.GaussianBlur(weight, (0, 0), sigma)
    smooth_x = cv2.GaussianBlur(slope_x * weight, (0, 0), sigma) / np.maximum(support, 1e-3)
    smooth_y = cv2.GaussianBlur(slope_y * weight, (0, 0), sigma) / np.maximum(support, 1e-3)
    residual_x = cv2.GaussianBlur((slope_x - smooth_x) * weight, (0, 0), CURVATURE_SIGMA_PX)
    residual_y = cv2.GaussianBlur((slope_y - smooth_y) * weight, (0, 0), CURVATURE_SIGMA_PX)
    magnitude = np.sqrt(residual_x ** 2 + residual_y ** 2)
    trusted = valid & (cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (support > 0.95)
    magnitude = np.where(trusted, magnitude, 0.0).astype(np.float32)
    usual = cv2.blur(magnitude, (settings.window_px, settings.window_px)) / np.maximum(
        cv2.blur(trusted.astype(np.float32), (settings.window_px, settings.window_px)), 1e-3)
    contrast = magnitude / (usual + 1e-4)
    curvature = cv2.Sobel(residual_x, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(residual_y, cv2.CV_32F, 0, 1, ksize=3)
    return magnitude, contrast, curvature, trusted


def find_shape_defects(burst: np.ndarray, light_directions: np.ndarray, settings: ShapeSettings,
                       view_id: str = "", covered: list[Detection2D] | None = None) -> list[Detection2D]:
    """The regions of ``burst`` whose shape stands out, as boxes classed by their shape, strongest first;
    a region inside a box of ``covered`` (the detector's own detections) is left to that box."""
    magnitude, contrast, curvature, _ = shape_scores(burst, light_directions, settings)
    standing_out = ((contrast > settings.contrast) & (magnitude > settings.min_slope)).astype(np.uint8)
    # A dent's flanks or a scratch's two walls can stand out apart, a few pixels from each other: one finding.
    standing_out = cv2.morphologyEx(standing_out, cv2.MORPH_CLOSE, np.ones((JOIN_PX, JOIN_PX), np.uint8))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(standing_out, connectivity=8)
    candidates = [label for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= settings.min_area_px]
    repeated = repeated_features(magnitude, [centroids[label] for label in candidates], settings.max_look_alikes)
    found: list[tuple[float, Detection2D]] = []
    for label, is_repeated in zip(candidates, repeated):
        x, y, w, h = (int(v) for v in stats[label, :4])
        x1, y1, x2, y2 = float(x), float(y), float(x + w), float(y + h)
        if is_repeated or any(box.x1 - 2 <= x1 and x2 <= box.x2 + 2 and box.y1 - 2 <= y1 and y2 <= box.y2 + 2
                              for box in covered or ()):
            continue
        inside = labels[y:y + h, x:x + w] == label
        strength = float(contrast[y:y + h, x:x + w][inside].max())
        found.append((strength, Detection2D(
            x1=x1, y1=y1, x2=x2, y2=y2, class_name=_shape_class(inside, curvature[y:y + h, x:x + w][inside]),
            confidence=settings.confidence, view_id=view_id, finder="shape")))
    found.sort(key=lambda item: -item[0])
    return [detection for _, detection in found[:settings.max_per_frame]]


def _shape_class(inside: np.ndarray, curvature: np.ndarray) -> str:
    """A line is a scratch, a speck a pit, a round patch a dent (concave seen from the camera) or a bump."""
    rows, cols = np.nonzero(inside)
    if len(rows) >= 3:
        spread = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
        if spread[1] > 9.0 * max(spread[0], 0.25):  # three times longer than wide
            return "scratch"
    if max(np.ptp(rows), np.ptp(cols)) + 1 <= 6:
        return "pit"
    return "dent" if float(np.mean(curvature)) < 0 else "bump"
