"""Defect size from a reconstructed heightmap: depth (or height), width and length in millimetres,
measured against the fitted local surface so that part curvature does not count as a defect, and
placed on the part from the press pose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.records import TactileFinding
from inspection.tactile.difference import fill_holes
from inspection.tactile.order_statistics import median, percentile
from inspection.tactile.reconstruct import Reconstruction

# The region is cut at this fraction of the peak; the profile shapes of inspection.sim.defects then give
# the fraction of the edge-to-edge size that lies above the cut: (across, along) per class.
CUT_FRACTION = 0.25
EXTENT_ABOVE_CUT: dict[str, tuple[float, float]] = {
    "dent": (math.acos(2 * CUT_FRACTION - 1) / math.pi,) * 2,
    "bump": (math.acos(2 * CUT_FRACTION - 1) / math.pi,) * 2,
    "pit": (1 - CUT_FRACTION ** (2 / 3),) * 2,
    "scratch": (math.sqrt(1 - CUT_FRACTION), 1 - 0.2 * CUT_FRACTION),
    "crack": (1 - CUT_FRACTION, 1 - 0.3 * CUT_FRACTION),
    # The gel bridges a fastener hole and sags into it by a nearly even amount (flat-bottomed), so the
    # cut finds its edge; its depth here is only how far the gel sags, a lower bound of the hole's.
    "missing_fastener": (1.0, 1.0),
}


PIT_BACKGROUND_SIGMA_M = 0.0015
# The residual is smoothed by this Gaussian sigma (px) before its peak is taken, so one noisy pixel cannot be the depth.
PEAK_SMOOTHING_PX = 0.7
# Pixels from the rim of the touching region within which no bump peak is taken (see measure).
RIM_MARGIN_PX = 20
# The part's edge under the gel (see off_part_region): gel lower than this share of the pressed level, in a
# patch of at least this share of the frame that runs into the frame's border, bounded by a wall at least this
# steep (90th percentile of the slope around it, mm/mm; a defect's walls reach ~0.2, a sheet edge the lookup's
# limit, ~0.6), masked with a band this wide (px) around it. Chosen on simulated validation presses (`sim tactile
# --seed 2`, textured or not) and the edge presses of defect-free campaign parts (seed 7301); 5 px left the groove.
OFF_PART_LEVEL, OFF_PART_MIN_AREA, EDGE_MIN_SLOPE, EDGE_BAND_PX = 0.5, 0.03, 0.35, 10


@dataclass(frozen=True)
class Measurement:
    """Size and place of the defect in the frame (pixels) and in millimetres."""

    depth_mm: float
    width_mm: float
    length_mm: float
    center_px: tuple[float, float]
    region: np.ndarray  # (H, W) bool
    # Unit vector along the defect's length in the frame (column, row); (0, 0) where nothing was measured.
    # Fusion uses it to tell two stretches of one scratch from two scratches side by side.
    major_axis_px: tuple[float, float] = (0.0, 0.0)


def _coordinates(size: int) -> np.ndarray:
    """Normalised pixel coordinates of one image axis, -0.5 .. 0.5, float32."""
    return (np.arange(size) / size - 0.5).astype(np.float32)


# The basis 1, u, v, u^2, uv, v^2 as (power of u, power of v). Each entry of the normal matrix sums the product
# of two of them: only 15 distinct monomials u^a v^b (a + b <= 4) among the 36 pairs.
_BASIS_POWERS = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))
_PRODUCT_POWERS = sorted({(a1 + a2, b1 + b2) for a1, b1 in _BASIS_POWERS for a2, b2 in _BASIS_POWERS})
# (6, 6): which of the 15 monomial sums is each entry of the normal matrix
_NORMAL_ENTRY = np.array([[_PRODUCT_POWERS.index((a1 + a2, b1 + b2)) for a2, b2 in _BASIS_POWERS]
                          for a1, b1 in _BASIS_POWERS])


# Added to the normal matrix: keeps it invertible when the kept samples do not span all six terms.
_REGULARISED = 1e-9 * np.eye(6)
_REGULARISED.setflags(write=False)


@lru_cache(maxsize=8)
def _sampled_basis(height: int, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) float64 basis 1, u, v, u^2, uv, v^2 at every ``step``-th pixel of every ``step``-th row, and
    (N, 15) each sample's distinct products of two basis values (the monomials of ``_PRODUCT_POWERS``), so
    that the normal matrix over any subset of the samples is one matrix-vector product (with 15 columns,
    not the 36 of every pair: a quarter less time for the whole fit)."""
    v, u = np.meshgrid(_coordinates(height)[::step], _coordinates(width)[::step], indexing="ij")
    u, v = u.ravel(), v.ravel()
    basis = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1).astype(np.float64)
    pair_of: dict[tuple[int, int], tuple[int, int]] = {}  # each monomial from the first pair that makes it
    for i, (a1, b1) in enumerate(_BASIS_POWERS):
        for j, (a2, b2) in enumerate(_BASIS_POWERS):
            pair_of.setdefault((a1 + a2, b1 + b2), (i, j))
    products = np.ascontiguousarray(np.stack([basis[:, i] * basis[:, j] for i, j in map(pair_of.get, _PRODUCT_POWERS)],
                                             axis=1))
    basis.setflags(write=False)
    products.setflags(write=False)
    return basis, products


def fit_surface(height_mm: np.ndarray, mask: np.ndarray, step: int = 4, iterations: int = 4) -> np.ndarray:
    """Robust quadratic fit z = f(u, v) over ``mask`` (outliers such as the defect itself dropped)."""
    h, w = height_mm.shape
    sample, products = _sampled_basis(h, w, step)
    values = np.array(height_mm[::step, ::step], np.float64).ravel()  # one copy each
    keep = mask[::step, ::step].flatten()
    if np.count_nonzero(keep) < 12:
        keep[:] = True
    coeffs = np.zeros(6)
    regularised = _REGULARISED
    for _ in range(iterations):
        # Normal equations: 6x6, well conditioned on normalised coordinates, 40x faster than lstsq. The kept
        # samples' sums come as products with a 0/1 weight (no copy of the kept rows).
        weight = keep.astype(np.float64)
        normal = (weight @ products)[_NORMAL_ENTRY] + regularised
        coeffs = np.linalg.solve(normal, (weight * values) @ sample)
        residual = values - sample @ coeffs
        absolute = np.abs(residual)
        spread = 1.4826 * median(absolute[keep]) + 1e-4
        keep &= absolute < 3.0 * spread
        if np.count_nonzero(keep) < 12:
            break
    # Separable evaluation: (c0 + c2 v + c5 v^2) per row + (c1 u + c3 u^2) per column + c4 u v, three
    # passes over the frame instead of six.
    c = coeffs.astype(np.float32)
    u, v = _coordinates(w), _coordinates(h)
    per_row = c[0] + c[2] * v + c[5] * v * v
    per_column = c[1] * u + c[3] * u * u
    # The outer product by OpenCV's matrix product with one term per entry (the same products, in half the time)
    surface = cv2.gemm((c[4] * v)[:, None], u[None, :], 1.0, None, 0.0)
    surface += per_row[:, None]
    surface += per_column[None, :]
    return surface


def touching_region(reconstruction: Reconstruction, min_indentation_mm: float = 0.02) -> np.ndarray:
    """Where the gel rests on the part. A strongly curved part pushes the gel in over a patch and leaves
    the rest at zero; a flat or gently curved one presses the whole gel evenly, which shading cannot
    show, so then the whole frame counts as touching."""
    # Masks pass between numpy (bool) and OpenCV (uint8) as views of the same 0/1 bytes, not copies.
    pushed_in = reconstruction.height_mm > min_indentation_mm
    touching = cv2.morphologyEx(pushed_in.view(np.uint8), cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    if cv2.countNonZero(touching) / touching.size < 0.2:  # the mean of 0/1 pixels (numpy's mean: 30x slower)
        return np.ones(touching.shape, dtype=bool)
    # Keep off the rim, where the gel starts to lift off the part and no longer follows it.
    touching = cv2.erode(touching, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_REPLICATE).view(bool)
    return touching & (reconstruction.height_mm > 0.25 * min_indentation_mm)


def off_part_region(reconstruction: Reconstruction, min_slope: float = EDGE_MIN_SLOPE) -> np.ndarray:
    """Gel beyond the edge of the part, where it touches nothing.

    A press over the edge of a part (a full-coverage raster reaches the edges) pushes the gel in on the
    part and leaves it flat beyond: shading sees no difference between the two (both are flat), only the
    line where the gel wraps over the edge, steeper than any defect's wall. The heightmap integrated
    from it steps down across that line, and the surface fitted under the higher side leaves a groove
    along it that the classifier takes for a scratch or a crack. The gel beyond is found as a low patch
    (below ``OFF_PART_LEVEL`` of the pressed level) running into the frame's border, not a thin groove
    (opened away), and walled by a slope of at least ``min_slope``; a dent, scratch or pit is enclosed,
    thin or shallow-walled.
    """
    height = cv2.GaussianBlur(reconstruction.height_mm, (0, 0), 2.0)
    low = (height < OFF_PART_LEVEL * percentile(height[::3, ::3], 90)).astype(np.uint8)
    low = cv2.morphologyEx(low, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(low, connectivity=8)
    rows, cols = height.shape
    off = np.zeros(height.shape, bool)
    slope = None
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if area < OFF_PART_MIN_AREA * rows * cols or (x > 0 and y > 0 and x + w < cols and y + h < rows):
            continue
        if slope is None:
            grad_y, grad_x = np.gradient(height)
            slope = np.hypot(grad_x, grad_y) / (reconstruction.pixel_size_m * 1e3)
        patch = labels == index
        wall = cv2.dilate(patch.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~patch
        if percentile(slope[wall], 90) >= min_slope:
            off |= patch
    return off


def on_part(reconstruction: Reconstruction, beyond: np.ndarray | None = None, band_px: int = EDGE_BAND_PX,
            min_slope: float = EDGE_MIN_SLOPE) -> tuple[Reconstruction, np.ndarray]:
    """The reconstruction and the surface residual that the classifier and the measurement see.

    Beyond the part's edge the colour change and the residual are zeroed, and the local surface is
    fitted on the part alone, so the gel leaving the part is never taken for a defect; a press resting
    on the part everywhere is left as it is. ``beyond``: the gel beyond the part as the cell's geometry
    says (``footprint.beyond_part``, its margin included); None: guessed from the image
    (``off_part_region``, grown by ``band_px``).
    """
    if beyond is None:
        beyond = off_part_region(reconstruction, min_slope)
        if beyond.any():
            beyond = cv2.dilate(beyond.astype(np.uint8), np.ones((2 * band_px + 1,) * 2, np.uint8)).astype(bool)
    if not beyond.any():
        return reconstruction, surface_residual(reconstruction)
    return (replace(reconstruction, diff=reconstruction.diff * ~beyond[..., None]),
            surface_residual(reconstruction, beyond))


def surface_residual(reconstruction: Reconstruction, off_part: np.ndarray | None = None) -> np.ndarray:
    """Height above (+) or below (-) the fitted local surface, mm; zero where the gel does not touch and
    ``off_part`` (beyond the part's edge: no surface there to fit or to measure)."""
    touching = touching_region(reconstruction)
    if off_part is not None:
        touching = touching & ~off_part
    inner = cv2.erode(touching.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)
    if np.count_nonzero(inner) < 100:
        inner = touching
    # The gel is pushed in as far as the surface reaches towards the sensor: indentation is surface height.
    surface = reconstruction.height_mm
    fitted = fit_surface(surface, inner)
    # A hole inside the contact (a missing fastener) is surface too: the gel bridges it, not touching its bottom.
    bridged = fill_holes(touching)
    # The difference where bridged and 0 elsewhere in one OpenCV pass (a newly made output starts at zero):
    # the same numbers as the difference and then np.where, in about half their time.
    return cv2.subtract(np.asarray(surface, np.float32), fitted, mask=bridged.view(np.uint8))


def measure(reconstruction: Reconstruction, class_name: str, residual_mm: np.ndarray | None = None) -> Measurement:
    """Depth/height, width and length (mm) of the ``class_name`` defect under the gel."""
    if class_name == "none":
        # (the frame's shape from the heightmap: reading the contact mask would make it, only to be zeroed)
        return Measurement(0.0, 0.0, 0.0, (float("nan"), float("nan")), np.zeros(reconstruction.height_mm.shape, bool))
    if class_name not in EXTENT_ABOVE_CUT:
        raise InputError(f"class_name: {class_name!r} is not one of {['none', *EXTENT_ABOVE_CUT]}")
    residual = surface_residual(reconstruction) if residual_mm is None else residual_mm
    if class_name == "pit":
        # A pit is at most 1.5 mm across: subtracting the 1.5 mm-scale mean keeps it (to ~3 % of its
        # depth) and removes broad reconstruction error on curved parts that would otherwise win the peak.
        residual = residual - cv2.GaussianBlur(residual, (0, 0), PIT_BACKGROUND_SIGMA_M / reconstruction.pixel_size_m)
    signed = residual if class_name == "bump" else -residual
    smooth = cv2.GaussianBlur(signed, (0, 0), PEAK_SMOOTHING_PX)
    # The peak is looked for where the gel rests on the part (the pit's background subtraction above spills
    # past it); a bump's also away from the rim of the contact and the edge of the gel, where the gel lifts
    # off a strongly curved part: it falls away faster than the fitted quadratic surface, and that reads as
    # raised. (Dents, scratches and cracks are not mimicked there, and a scratch's deepest point may well
    # lie at the edge of the frame.)
    inside = fill_holes(touching_region(reconstruction)).astype(np.uint8)
    if class_name == "bump":
        inside = cv2.erode(inside, np.ones((2 * RIM_MARGIN_PX + 1,) * 2, np.uint8), borderType=cv2.BORDER_CONSTANT,
                           borderValue=0)
    candidates = np.where(inside > 0, smooth, -np.inf) if inside.any() else smooth
    peak_index = np.unravel_index(int(np.argmax(candidates)), smooth.shape)
    peak = float(smooth[peak_index])
    if peak <= 0:
        return Measurement(0.0, 0.0, 0.0, (float(peak_index[1]), float(peak_index[0])), np.zeros_like(signed, bool))
    above = (smooth > CUT_FRACTION * peak).astype(np.uint8)
    _, labels = cv2.connectedComponents(above, connectivity=8)
    region = labels == labels[peak_index]
    rows, cols = np.nonzero(region)
    points = np.stack([cols, rows], axis=1).astype(float)
    centre = points.mean(axis=0)
    pixel_mm = reconstruction.pixel_size_m * 1e3
    if len(points) >= 3:
        _, vectors = np.linalg.eigh(np.cov((points - centre).T))
        major, minor = vectors[:, 1], vectors[:, 0]
    else:
        major, minor = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    along = (points - centre) @ major
    across = (points - centre) @ minor
    across_fraction, along_fraction = EXTENT_ABOVE_CUT[class_name]
    length_px = np.ptp(along) + 1.0
    # A crack wanders: its width is its area over its length, not its sideways extent.
    width_px = len(points) / length_px if class_name in ("scratch", "crack") else np.ptp(across) + 1.0
    length = length_px * pixel_mm / along_fraction
    width = width_px * pixel_mm / across_fraction
    return Measurement(depth_mm=peak, width_mm=float(width), length_mm=float(length),
                       center_px=(float(centre[0]), float(centre[1])), region=region,
                       major_axis_px=(float(major[0]), float(major[1])))


def gel_xy_m(x_px: float | np.ndarray, y_px: float | np.ndarray, shape: tuple[int, int],
             pixel_size_m: float) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Sensor-frame (x, y) in metres of gel pixel column ``x_px`` and row ``y_px`` (numbers or arrays):
    the frame's centre lies on the sensor's axis."""
    h, w = shape
    return (x_px - (w - 1) / 2) * pixel_size_m, (y_px - (h - 1) / 2) * pixel_size_m


def checked_transform(sensor_to_part: np.ndarray) -> np.ndarray:
    """``sensor_to_part`` as a float 4x4 array.

    Raises:
        InputError: it is not a finite 4x4 transform.
    """
    transform = np.asarray(sensor_to_part, float)
    if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
        raise InputError(f"sensor_to_part: expected a finite 4x4 transform, got shape {transform.shape}")
    return transform


def pixel_to_part(center_px: tuple[float, float], indentation_mm: float, sensor_to_part: np.ndarray,
                  shape: tuple[int, int], pixel_size_m: float) -> np.ndarray:
    """Part-frame point of gel pixel ``center_px`` pushed in by ``indentation_mm`` (towards -z of the sensor)."""
    x, y = gel_xy_m(center_px[0], center_px[1], shape, pixel_size_m)
    return (np.asarray(sensor_to_part, float) @ np.array([x, y, -indentation_mm * 1e-3, 1.0]))[:3]


def to_finding(reconstruction: Reconstruction, measurement: Measurement, class_name: str, confidence: float,
               sensor_to_part: np.ndarray, finding_id: str, region_id: str = "",
               press_index: int = 0) -> TactileFinding:
    """A TactileFinding on the part: the defect centre (or the gel centre for a clean contact)."""
    transform = checked_transform(sensor_to_part)
    h, w = reconstruction.height_mm.shape
    centre = measurement.center_px
    if not all(math.isfinite(c) for c in centre):
        centre = ((w - 1) / 2, (h - 1) / 2)
    indentation = float(reconstruction.height_mm[int(round(centre[1])), int(round(centre[0]))])
    position = pixel_to_part(centre, indentation, transform, (h, w), reconstruction.pixel_size_m)
    normal = -transform[:3, 2]
    # Gel columns and rows run along the sensor's x and y (gel_xy_m), so the axis turns with the sensor.
    direction = transform[:3, :3] @ np.array([*measurement.major_axis_px, 0.0])
    return TactileFinding(
        id=finding_id, region_id=region_id, press_index=press_index, class_name=class_name,
        confidence=float(np.clip(confidence, 0.0, 1.0)),
        position=tuple(float(v) for v in position), normal=tuple(float(v) for v in normal),
        depth_mm=max(measurement.depth_mm, 0.0), width_mm=max(measurement.width_mm, 0.0),
        length_mm=max(measurement.length_mm, 0.0), direction=tuple(float(v) for v in direction),
    )
