"""The calibration procedure a cell engineer follows (issue #15 item 5), end to end on simulated presses:
record a background, press a ball of known radius at several places, fit the colour-to-slope table, and
check it on further presses (the ball's radius and press depth must come back)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.cli.main import main
from inspection.sim.tactile_dataset import write_dataset
from inspection.tactile.ball_check import check_ball_press, check_folder, summarise_checks
from inspection.tactile.calibration import Calibration


@pytest.fixture(scope="module")
def presses(tmp_path_factory):
    root = tmp_path_factory.mktemp("ball")
    config = load_cell().tactile
    write_dataset(root / "fit", 14, 100, config, ball_radius_m=0.002, progress=False)
    write_dataset(root / "check", 4, 101, config, ball_radius_m=0.002, progress=False)
    return root


def test_fit_then_check_on_held_out_presses(presses, capsys) -> None:
    out = presses / "calibration.npz"
    status = main(["tactile", "calibrate", "--frames", str(presses / "fit"), "--ball-radius-mm", "2",
                   "--out", str(out), "--check", str(presses / "check")])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "held-out" in printed and "fitted" in printed and "PASSED" in printed
    checks = check_folder(presses / "check", Calibration.load(out))
    assert len(checks) == 4 and all(c.known_depth_mm for c in checks)
    summary = summarise_checks(checks, 0.002)
    assert abs(summary["radius_error_median"]) < 0.05 and abs(summary["depth_error_median"]) < 0.10


def test_a_wrong_ball_radius_fails_the_check(presses, capsys) -> None:
    """Calibrating with the wrong ball (3 mm said, 2 mm pressed) scales every slope: the check must see it."""
    status = main(["tactile", "calibrate", "--frames", str(presses / "fit"), "--ball-radius-mm", "3",
                   "--out", str(presses / "wrong.npz"), "--check", str(presses / "check")])
    assert status == 1 and "FAILED" in capsys.readouterr().out


def test_check_without_recorded_depths_judges_the_radius(presses, tmp_path) -> None:
    """A real session may not record press depths: the radius check stands alone."""
    bare = tmp_path / "bare"
    shutil.copytree(presses / "check", bare, ignore=shutil.ignore_patterns("labels", "truth"))
    checks = check_folder(bare, Calibration.load(presses / "calibration.npz"))
    summary = summarise_checks(checks, 0.002)
    assert summary["presses_with_known_depth"] == 0 and summary["depth_error_median"] is None
    assert summary["passed"]


def test_sphere_check_on_an_exact_cap() -> None:
    """The fitted radius and centre depth of an exact spherical cap are the sphere's."""
    pixel_m, radius_mm, depth_mm = 5.8e-5, 2.0, 0.5
    ys, xs = np.mgrid[0:240, 0:320]
    r2 = ((xs - 160) ** 2 + (ys - 120) ** 2) * (pixel_m * 1e3) ** 2
    height = np.clip(depth_mm - (radius_mm - np.sqrt(np.clip(radius_mm**2 - r2, 0, None))), 0, None)
    contact_px = np.sqrt(2 * radius_mm * depth_mm - depth_mm**2) / (pixel_m * 1e3)
    check = check_ball_press(height.astype(np.float32), (160.0, 120.0, contact_px), pixel_m, known_depth_mm=depth_mm)
    assert check.fitted_radius_mm == pytest.approx(radius_mm, rel=0.01)
    assert check.depth_mm == pytest.approx(depth_mm, abs=0.005)
