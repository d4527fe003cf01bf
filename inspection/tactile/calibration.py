"""Colour-to-slope lookup table built from presses of a ball of known radius (as the GelSight tools
and Taxim do): find the contact circle, compute the true surface slopes from the sphere geometry,
and average the slopes that fall into each colour bin. Empty bins take the nearest filled bin.

The table is indexed by the background-normalised difference (``inspection.tactile.difference``), so
a single table serves every position on the gel.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.atomic import write_bytes_atomic
from inspection.errors import InputError
from inspection.tactile.depth_scale import META_KEY as DEPTH_SCALE_KEY
from inspection.tactile.depth_scale import DepthScale
from inspection.tactile.difference import detect_contact
from inspection.tactile.npz_file import open_versioned_npz

FORMAT_VERSION = 1
# Gaussian sigma of the smoothing the difference image gets before the lookup: the table is built
# from ball presses smoothed the same way the reconstruction smooths every frame.
LOOKUP_SMOOTHING_PX = 1.0
# Bins per channel that ``Calibration.lookup`` indexes exactly: the flat bin, below MAX_BINS^3 = 2^24, is a
# whole number that float32 holds exactly.
MAX_BINS = 256


@dataclass(frozen=True)
class Calibration:
    """Lookup from normalised colour difference (3 channels) to surface slopes (dh/dx, dh/dy)."""

    table: np.ndarray   # (B, B, B, 2) float32 slopes, h = indentation towards the camera
    low: np.ndarray     # (3,) difference value at the lower edge of bin 0
    high: np.ndarray    # (3,) difference value at the upper edge of the last bin
    pixel_size_m: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bins(self) -> int:
        return int(self.table.shape[0])

    @cached_property
    def depth_scale(self) -> DepthScale:
        """Per-class factors from measured to true defect depth (``inspection tactile depth-scale``); none: 1."""
        return DepthScale.from_meta(self.meta, "calibration")

    def with_depth_scale(self, scale: DepthScale) -> "Calibration":
        """This lookup with ``scale`` in its meta, to be saved as the sensor's calibration."""
        return replace(self, meta={**self.meta, DEPTH_SCALE_KEY: scale.to_meta()})

    @cached_property
    def _lookup_arrays(self) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray, np.ndarray]:
        """Per-channel lower edge and bins per unit difference as OpenCV scalars (float32 values, as the
        table was binned), the row that turns three bin numbers into the flat bin ``(i0 * b + i1) * b + i2``,
        and the table with each bin's two slopes packed into one complex64, so that a single ``np.take``
        fetches both (a (B^3, 2) fancy index was five times slower)."""
        if self.bins > MAX_BINS:
            raise ValueError(f"calibration: {self.bins} bins per channel; at most {MAX_BINS} can be looked up exactly")
        low = self.low.astype(np.float32)
        scale = (self.bins / (self.high - self.low)).astype(np.float32)
        flat_bin = np.array([[self.bins * self.bins, self.bins, 1]], np.float32)
        packed = np.ascontiguousarray(self.table.reshape(-1, 2), dtype=np.float32).view(np.complex64).ravel()
        return (*map(float, low), 0.0), (*map(float, scale), 0.0), flat_bin, packed

    def lookup(self, diff: np.ndarray, *, overwrite_diff: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Slopes (dh/dx, dh/dy), each (H, W) float32, for a normalised difference image (H, W, 3) float32;
        ``overwrite_diff``: work in ``diff`` itself (a caller's own temporary) instead of a copy of it.

        The bin numbers stay in float32 (whole numbers after the floor, so the flat bin, below 2^24, is
        exact) and become integers once, as the 64-bit indices ``np.take`` works with: OpenCV's transform
        takes a fifth of the time on float32 bins that it took on int32 ones, and ``np.take`` a third less on
        64-bit indices. The same bins as a cast of the positions to int, in about 0.6x the time
        (docs/tactile.md, speed).
        """
        b = self.bins
        low, scale, flat_bin, packed = self._lookup_arrays
        position = np.ascontiguousarray(diff, np.float32)
        if not overwrite_diff and np.may_share_memory(position, diff):
            position = cv2.subtract(position, low)  # a new array: the caller's stays as it was
        else:
            cv2.subtract(position, low, dst=position)  # a copy made above, or the caller's temporary
        cv2.multiply(position, scale, dst=position)
        np.clip(position, 0, b - 1, out=position)
        np.floor(position, out=position)  # the bin number: the integer part, as a cast to int would give
        flat = cv2.transform(position, flat_bin).astype(np.intp)
        slopes = np.take(packed, flat).view(np.float32).reshape(*flat.shape, 2)
        return slopes[..., 0], slopes[..., 1]

    def save(self, path: str | Path) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, table=self.table.astype(np.float16), low=self.low, high=self.high,
                 pixel_size_m=np.float64(self.pixel_size_m), version=np.int64(FORMAT_VERSION),
                 meta=np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), np.uint8))
        return write_bytes_atomic(path, buffer.getvalue())

    @staticmethod
    def load(path: str | Path) -> "Calibration":
        path = Path(path)
        with open_versioned_npz(path, "calibration", "inspection tactile calibrate", FORMAT_VERSION) as data:
            table = data["table"].astype(np.float32)
            if table.ndim != 4 or table.shape[1:] != (table.shape[0], table.shape[0], 2) \
                    or not 1 <= table.shape[0] <= MAX_BINS:
                raise InputError(f"{path}: calibration table has shape {table.shape}, expected (B, B, B, 2) with "
                                 f"B at most {MAX_BINS}")
            meta = json.loads(bytes(data["meta"]).decode())
            DepthScale.from_meta(meta, str(path))  # bad factors named here, with the file, not at the first press
            return Calibration(table, data["low"].astype(float), data["high"].astype(float),
                               float(data["pixel_size_m"]), meta)


def fit_circle(points: np.ndarray) -> tuple[float, float, float]:
    """Least-squares circle (cx, cy, r) through 2-D points (algebraic Kasa fit)."""
    x, y = points[:, 0].astype(float), points[:, 1].astype(float)
    a = np.stack([x, y, np.ones_like(x)], axis=1)
    sol, *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    return float(cx), float(cy), float(np.sqrt(sol[2] + cx * cx + cy * cy))


def detect_ball(diff: np.ndarray, min_radius_px: float = 8.0) -> tuple[float, float, float] | None:
    """Contact circle (cx, cy, radius) in pixels of a ball press, or None when there is none or it
    touches the frame border (its slopes would be cut off)."""
    mask = detect_contact(diff).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)[:, 0, :]
    if len(contour) < 20:
        return None
    cx, cy, r = fit_circle(contour)
    r = _steepest_ring(diff, cx, cy, r)
    h, w = mask.shape
    if r < min_radius_px or cx - r < 2 or cy - r < 2 or cx + r > w - 3 or cy + r > h - 3:
        return None
    return cx, cy, r


def _steepest_ring(diff: np.ndarray, cx: float, cy: float, outer_px: float) -> float:
    """Contact radius: the ring where the colour changes most. A sphere is steepest at the contact rim;
    the gel skirt outside it (which the outline includes) is flatter."""
    h, w = diff.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    dist = np.hypot(xs - cx, ys - cy)
    ring = np.rint(dist * 2).astype(int)
    inside = dist < outer_px
    magnitude = np.abs(diff).sum(axis=2)
    total = np.bincount(ring[inside], magnitude[inside])
    count = np.bincount(ring[inside])
    profile = total / np.maximum(count, 1)
    return float(np.argmax(profile[: len(profile)]) / 2.0)


def ball_samples(diff: np.ndarray, circle: tuple[float, float, float], ball_radius_m: float,
                 pixel_size_m: float, rim_fraction: float = 0.92,
                 exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(colours (N, 3), slopes (N, 2)) inside the contact circle (rim left out) and flat gel far outside;
    ``exclude`` (e.g. marker dots, whose colour is dimmed) is left out too."""
    cx, cy, r = circle
    h, w = diff.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    dx, dy = (xs - cx) * pixel_size_m, (ys - cy) * pixel_size_m
    dist_px = np.hypot(xs - cx, ys - cy)
    inside = dist_px < rim_fraction * r
    if exclude is not None:
        inside &= ~exclude
    depth_below = np.sqrt(np.clip(ball_radius_m**2 - dx * dx - dy * dy, 1e-12, None))
    # The indentation falls away from the centre: dh/dx = -(x - cx) / sqrt(R^2 - r^2).
    slopes = np.stack([-dx / depth_below, -dy / depth_below], axis=-1)
    outside = dist_px > 1.6 * r
    if exclude is not None:
        outside &= ~exclude
    colours = np.concatenate([diff[inside], diff[outside][::200]])
    grads = np.concatenate([slopes[inside], np.zeros((int(outside.sum() + 199) // 200, 2))])
    return colours.astype(np.float32), grads.astype(np.float32)


def _polynomial_basis(colours: np.ndarray, scale: np.ndarray, degree: int = 3) -> np.ndarray:
    c = colours / scale
    terms = [np.ones(len(c))]
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            for k in range(degree + 1 - i - j):
                if i + j + k:
                    terms.append(c[:, 0] ** i * c[:, 1] ** j * c[:, 2] ** k)
    return np.stack(terms, axis=1)


def build_table(colours: np.ndarray, slopes: np.ndarray, pixel_size_m: float, bins: int = 64,
                meta: dict[str, Any] | None = None, prior_count: float = 5.0) -> Calibration:
    """Average slope per colour bin, shrunk towards a cubic polynomial fit of colour -> slope where a
    bin saw few pixels (and equal to it where it saw none), so sparse colours still get smooth slopes."""
    if len(colours) < 1000:
        raise InputError(f"calibration: only {len(colours)} usable pixels; need ball presses fully inside the frame")
    low = np.percentile(colours, 0.2, axis=0) - 2.0
    high = np.percentile(colours, 99.8, axis=0) + 2.0
    idx = np.clip(((colours - low) / (high - low) * bins).astype(int), 0, bins - 1)
    flat = (idx[:, 0] * bins + idx[:, 1]) * bins + idx[:, 2]
    count = np.bincount(flat, minlength=bins**3).astype(float)
    sums = np.stack([np.bincount(flat, weights=slopes[:, k], minlength=bins**3) for k in range(2)], axis=1)
    scale = np.maximum(np.abs(low), np.abs(high))
    coeffs, *_ = np.linalg.lstsq(_polynomial_basis(colours, scale), slopes, rcond=None)
    centres = (np.arange(bins) + 0.5) / bins
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1).reshape(-1, 3)
    smooth = _polynomial_basis(low + grid * (high - low), scale) @ coeffs
    table = (sums + prior_count * smooth) / (count + prior_count)[:, None]
    limit = np.abs(slopes).max(axis=0)  # a cubic runs wild in colour corners no press reached
    table = np.clip(table, -limit, limit)
    info = {"bins": bins, "samples": int(len(colours)), "filled_bins": int((count > 0).sum()), **(meta or {})}
    return Calibration(table.reshape(bins, bins, bins, 2).astype(np.float32), low.astype(float), high.astype(float),
                       pixel_size_m, info)


def calibrate_folder(folder: str | Path, ball_radius_m: float, pixel_size_m: float, bins: int = 64,
                     progress: bool = True) -> tuple[Calibration, dict[str, Any]]:
    """Build a calibration from ``folder``: ``background.png`` (no contact) and ball presses, either in
    ``frames/`` (as `inspection sim tactile --ball` writes them) or as the other PNGs in the folder."""
    from inspection.datasets.tactile import read_rgb
    from inspection.progress import progress_bar
    from inspection.tactile.difference import BackgroundModel, normalized_difference

    folder = Path(folder)
    background_path = folder / "background.png"
    if not background_path.is_file():
        raise InputError(f"{background_path}: not found; record one frame with nothing touching the gel")
    if not 0.0005 <= ball_radius_m <= 0.05:
        raise InputError(f"--ball-radius-mm: {ball_radius_m * 1e3:g} mm is outside 0.5-50 mm")
    frames_dir = folder / "frames" if (folder / "frames").is_dir() else folder
    paths = sorted(p for p in frames_dir.glob("*.png") if p.name != "background.png")
    if not paths:
        raise InputError(f"{frames_dir}: no ball press frames (*.png)")
    model = BackgroundModel.from_frame(read_rgb(background_path))
    colours, slopes, used, rejected = [], [], [], []
    for path in progress_bar(paths, desc="ball presses", unit="frame", enabled=progress):
        diff = normalized_difference(read_rgb(path), model)
        circle = detect_ball(diff)
        diff = cv2.GaussianBlur(diff, (0, 0), LOOKUP_SMOOTHING_PX)  # as the reconstruction sees it
        if circle is None:
            rejected.append(path.name)
            continue
        c, g = ball_samples(diff, circle, ball_radius_m, pixel_size_m, exclude=model.markers)
        colours.append(c)
        slopes.append(g)
        used.append({"frame": path.name, "center_px": [round(circle[0], 2), round(circle[1], 2)],
                     "radius_px": round(circle[2], 2)})
    if not colours:
        raise InputError(f"{frames_dir}: no frame shows a whole ball contact ({len(rejected)} rejected)")
    meta = {"ball_radius_mm": ball_radius_m * 1e3, "frames_used": len(used), "frames_rejected": rejected}
    calibration = build_table(np.concatenate(colours), np.concatenate(slopes), pixel_size_m, bins, meta)
    return calibration, {"used": used, **calibration.meta}
