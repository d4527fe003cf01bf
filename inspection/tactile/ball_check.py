"""Check a calibration the way a cell engineer can: reconstruct presses of the calibration ball that were
not used to fit it and compare them with the ball. The sphere fitted to each reconstructed contact must give
back the ball's radius (this needs no other instrument), and the depth at its centre the press depth where
the stage or arm recorded one. `inspection tactile calibrate --check DIR` prints the result."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import InputError
from inspection.tactile.calibration import Calibration, detect_ball
from inspection.tactile.reconstruct import Reconstructor

# A calibration passes its ball check when the median press gives back the ball's radius and (where the
# press depth is known) its depth within these fractions.
CHECK_RADIUS_TOLERANCE = 0.05
CHECK_DEPTH_TOLERANCE = 0.10


@dataclass(frozen=True)
class BallCheck:
    """One ball press reconstructed with a calibration, against the ball of known radius."""

    frame: str
    contact_radius_mm: float          # radius of the contact circle seen in the frame
    depth_mm: float                   # reconstructed indentation at the circle's centre
    fitted_radius_mm: float           # radius of the sphere fitted to the reconstructed contact
    known_depth_mm: float | None = None  # press depth from the stage or arm, where recorded

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "contact_radius_mm": round(self.contact_radius_mm, 3),
                "depth_mm": round(self.depth_mm, 3), "fitted_radius_mm": round(self.fitted_radius_mm, 3),
                "known_depth_mm": self.known_depth_mm}


def fit_sphere_radius(points: np.ndarray) -> float:
    """Radius of the least-squares sphere through 3-D points (algebraic fit, as :func:`fit_circle`)."""
    a = np.column_stack([2 * points, np.ones(len(points))])
    sol, *_ = np.linalg.lstsq(a, np.sum(points * points, axis=1), rcond=None)
    return float(np.sqrt(max(sol[3] + sol[:3] @ sol[:3], 0.0)))


def check_ball_press(height_mm: np.ndarray, circle: tuple[float, float, float], pixel_size_m: float,
                     frame: str = "", known_depth_mm: float | None = None) -> BallCheck:
    """Depth at the centre of a reconstructed ball press and the radius of the sphere fitted to it inside
    80 % of the contact circle (the rim, where the gel leaves the ball, left out as in calibration)."""
    cx, cy, r = circle
    h, w = height_mm.shape
    ys, xs = np.mgrid[0:h, 0:w]
    dist = np.hypot(xs - cx, ys - cy)
    centre = dist <= max(1.5, 0.1 * r)
    inside = dist < 0.8 * r
    pixel_mm = pixel_size_m * 1e3
    # Height towards the ball is -indentation: the points lie on the sphere's lower cap.
    points = np.column_stack([xs[inside] * pixel_mm, ys[inside] * pixel_mm, -height_mm[inside].astype(float)])
    return BallCheck(frame, r * pixel_mm, float(np.median(height_mm[centre])), fit_sphere_radius(points),
                     known_depth_mm)


def check_folder(folder: str | Path, calibration: Calibration,
                 background: str | Path | None = None) -> list[BallCheck]:
    """Reconstruct every ball press in ``folder`` (background.png there, or ``background``) with
    ``calibration`` and measure it (:func:`check_ball_press`). A press depth known from the stage or arm
    is read from ``labels/<frame>.json`` (``press_depth_mm``, as `inspection sim tactile --ball` writes
    it) where that file exists. Presses whose contact circle is not whole in the frame are skipped."""
    from inspection.datasets.tactile import read_rgb
    from inspection.tactile.difference import normalized_difference

    folder = Path(folder)
    background_path = Path(background) if background else folder / "background.png"
    if not background_path.is_file():
        raise InputError(f"{background_path}: not found; record one frame with nothing touching the gel")
    frames_dir = folder / "frames" if (folder / "frames").is_dir() else folder
    paths = sorted(p for p in frames_dir.glob("*.png") if p.name != "background.png")
    if not paths:
        raise InputError(f"{frames_dir}: no ball press frames (*.png) to check")
    reconstructor = Reconstructor(calibration, read_rgb(background_path))
    checks = []
    for path in paths:
        frame = read_rgb(path)
        circle = detect_ball(normalized_difference(frame, reconstructor.background))
        if circle is None:
            continue
        label_path = folder / "labels" / f"{path.stem}.json"
        known = None
        if label_path.is_file():
            try:
                known = float(json.loads(label_path.read_text())["press_depth_mm"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{label_path}: no press_depth_mm number ({exc})") from exc
        checks.append(check_ball_press(reconstructor.reconstruct(frame).height_mm, circle,
                                       calibration.pixel_size_m, path.name, known))
    if not checks:
        raise InputError(f"{frames_dir}: no frame shows a whole ball contact to check")
    return checks


def summarise_checks(checks: list[BallCheck], ball_radius_m: float) -> dict[str, Any]:
    """Median relative errors of the fitted radius and (where known) the depth, and whether both are
    within CHECK_RADIUS_TOLERANCE and CHECK_DEPTH_TOLERANCE."""
    radius_mm = ball_radius_m * 1e3
    radius_error = float(np.median([c.fitted_radius_mm / radius_mm - 1 for c in checks]))
    known = [c for c in checks if c.known_depth_mm]
    depth_error = float(np.median([c.depth_mm / c.known_depth_mm - 1 for c in known])) if known else None
    passed = abs(radius_error) <= CHECK_RADIUS_TOLERANCE and (
        depth_error is None or abs(depth_error) <= CHECK_DEPTH_TOLERANCE)
    return {"presses": len(checks), "ball_radius_mm": radius_mm,
            "fitted_radius_mm_median": round(float(np.median([c.fitted_radius_mm for c in checks])), 3),
            "radius_error_median": round(radius_error, 4),
            "presses_with_known_depth": len(known),
            "depth_error_median": None if depth_error is None else round(depth_error, 4),
            "depth_abs_error_mm_median": round(float(np.median([abs(c.depth_mm - c.known_depth_mm) for c in known])), 4)
            if known else None, "passed": passed}
