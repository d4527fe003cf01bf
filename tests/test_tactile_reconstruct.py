"""Reconstruction against analytic shapes, calibration round trip, markers, bad calibration files."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.sim.defects import Defect
from inspection.sim.tactile_dataset import sensor_pose, simulated_calibration
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, ball_gap, surface_gap
from inspection.tactile.calibration import Calibration
from inspection.tactile.measure import measure
from inspection.sim.tactile_optics import SensorOptics
from inspection.tactile.reconstruct import Reconstructor

CONFIG = load_cell().tactile


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return simulated_calibration(CONFIG, 0.002, presses=16, seed=3)


def _ball_press(optics=None, seed=11):
    rng = np.random.default_rng(seed)
    sim = TactileSimulator(CONFIG, optics)
    background = sim.background(rng)
    frame = sim.press(ball_gap(CONFIG, (0.002, -0.001), 0.003), 0.0006, rng)
    return background, frame


def test_sphere_press_is_reconstructed_within_tolerance(calibration):
    # A 3 mm ball (not the 2 mm calibration ball) pressed 0.6 mm: peak within 10 %, RMS error in
    # the contact below 40 um, contact found where it is.
    background, frame = _ball_press()
    rec = Reconstructor(calibration, background).reconstruct(frame.image)
    truth = frame.height_m * 1e3
    assert rec.height_mm.max() == pytest.approx(0.6, rel=0.10)
    rms = np.sqrt(np.mean((rec.height_mm - truth)[frame.contact] ** 2))
    assert rms < 0.04
    overlap = (rec.contact & frame.contact).sum() / frame.contact.sum()
    assert overlap > 0.95


def test_groove_depth_and_width_from_reconstruction(calibration):
    # A straight 1.2 mm wide, 0.15 mm deep scratch-profile groove on a flat part, pressed 0.5 mm.
    groove = Defect("g", "scratch", (0.0, 0.0, 0.0), (0, 0, 1), (1, 0, 0), 0.03, 0.0012, 0.00015)
    gap, _ = surface_gap(CONFIG, sensor_pose(0.0), LocalSurface(), [groove])
    rng = np.random.default_rng(2)
    sim = TactileSimulator(CONFIG)
    background = sim.background(rng)
    frame = sim.press(gap, 0.0005, rng)
    rec = Reconstructor(calibration, background).reconstruct(frame.image)
    result = measure(rec, "scratch")
    assert result.depth_mm == pytest.approx(0.15, rel=0.25)
    assert result.width_mm == pytest.approx(1.2, rel=0.25)
    assert result.center_px[1] == pytest.approx(119.5, abs=2.0)


@pytest.mark.parametrize("calibrate_with_markers", [False, True])
def test_markers_are_masked_and_filled(calibration, calibrate_with_markers):
    optics = SensorOptics(marker_pitch_px=24)
    if calibrate_with_markers:  # a sensor with markers is calibrated with them; the dots are left out
        calibration = simulated_calibration(CONFIG, 0.002, presses=12, seed=4, optics=optics)
    background, frame = _ball_press(optics)
    rec = Reconstructor(calibration, background)
    assert rec.background.markers.sum() > 100  # the dots were found in the background
    out = rec.reconstruct(frame.image)
    rms = np.sqrt(np.mean((out.height_mm - frame.height_m * 1e3)[frame.contact] ** 2))
    assert out.height_mm.max() == pytest.approx(0.6, rel=0.15)
    assert rms < 0.06


def test_calibration_round_trip(calibration, tmp_path):
    path = calibration.save(tmp_path / "cal.npz")
    loaded = Calibration.load(path)
    assert loaded.bins == calibration.bins and loaded.pixel_size_m == calibration.pixel_size_m
    np.testing.assert_allclose(loaded.table, calibration.table, rtol=1e-3, atol=1e-4)  # stored as float16
    # The table turns the optics' colour for known slopes back into those slopes.
    optics = SensorOptics()
    angles = np.radians(np.arange(0, 360, 30))
    for slope in (0.1, 0.2, 0.3):
        gx, gy = slope * np.cos(angles)[None], slope * np.sin(angles)[None]
        colour = optics.shading(gx, gy).astype(np.float32)
        lx, ly = loaded.lookup(colour)
        error = np.hypot(lx - gx, ly - gy)
        # Tolerance (absolute slope): median 0.035, worst of 12 directions 0.06.
        assert np.median(error) < 0.035 and np.max(error) < 0.06


def test_bad_calibration_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Calibration.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        Calibration.load(bad)


def test_dent_off_the_crest_of_a_curved_part_pressed_over_the_whole_gel(calibration):
    """A convex 60 mm cylinder pressed 1.1 mm touches the whole gel but shades only its flanks: its flat
    crest, pushed in, shows no colour change. The zero level is the least indented gel, so the dent on a
    flank is inside the touching part and measured; with the old zero (the median outside the detected
    contact, i.e. the crest) the flank fell below zero and this 0.15 mm dent read 0.02 mm (issue #15)."""
    dent = Defect("d", "dent", (0.0035, 0.0025, 0.0), (0, 0, 1), (1, 0, 0), 0.005, 0.005, 0.00015)
    surface = LocalSurface(radius_m=0.06, axis=(1.0, 0.0, 0.0))
    gap, _ = surface_gap(CONFIG, sensor_pose(0.0), surface, [dent])
    rng = np.random.default_rng(4)
    sim = TactileSimulator(CONFIG)
    background = sim.background(rng)
    frame = sim.press(gap, 0.0011, rng)
    assert frame.contact.mean() > 0.99
    rec = Reconstructor(calibration, background).reconstruct(frame.image)
    assert rec.contact.mean() < 0.6  # the crest is not seen as contact
    assert np.percentile(rec.height_mm, 5) > -0.01  # no part of the press below the gel at rest
    result = measure(rec, "dent")
    assert result.depth_mm == pytest.approx(0.15, rel=0.2)
