"""Measurement against ground truth (sizes in mm, position on the part) and acceptance rules."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.records import TactileFinding
from inspection.sim.defects import Defect
from inspection.sim.tactile_dataset import sensor_pose
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, surface_gap
from inspection.tactile.acceptance import AcceptanceRules
from inspection.tactile.measure import measure, surface_residual, to_finding
from inspection.tactile.reconstruct import Reconstruction

CONFIG = load_cell().tactile


def _true_reconstruction(defect: Defect, surface: LocalSurface, pose: np.ndarray, press: float) -> Reconstruction:
    """A perfect reconstruction (the simulator's true indentation) to test the measurement alone."""
    gap, _ = surface_gap(CONFIG, pose, surface, [defect])
    frame = TactileSimulator(CONFIG).press(gap, press, None)
    return Reconstruction(diff=np.zeros((240, 320, 3), np.float32), contact_evidence=frame.contact,
                          height_mm=(frame.height_m * 1e3).astype(np.float32), pixel_size_m=CONFIG.pixel_size_m)


@pytest.mark.parametrize("class_name, length, width, depth, radius", [
    ("dent", 0.006, 0.005, 0.0003, 0.08),     # on a convex 80 mm cylinder: curvature must not count
    ("bump", 0.004, 0.004, 0.00015, None),
    ("scratch", 0.010, 0.0005, 0.0001, -0.3),  # concave 300 mm
    ("pit", 0.0012, 0.0012, 0.0002, None),
])
def test_sizes_match_ground_truth(class_name, length, width, depth, radius):
    defect = Defect("d", class_name, (0.001, -0.0005, 0.0), (0, 0, 1), (1, 1, 0), length, width, depth)
    rec = _true_reconstruction(defect, LocalSurface(radius_m=radius), sensor_pose(0.4), 0.0009)
    result = measure(rec, class_name)
    # Tolerances: depth 5 % (pit 30 %: a cone's tip is one pixel), width and length 10 % (pit 25 %).
    depth_tol, size_tol = (0.30, 0.25) if class_name == "pit" else (0.05, 0.10)
    assert result.depth_mm == pytest.approx(depth * 1e3, rel=depth_tol)
    assert result.width_mm == pytest.approx(width * 1e3, rel=size_tol)
    if class_name != "scratch":  # a scratch's taper is not in its length profile at the cut
        assert result.length_mm == pytest.approx(length * 1e3, rel=size_tol)


def test_curvature_alone_is_not_a_defect():
    rec = _true_reconstruction(Defect("x", "stain", (0, 0, 0), (0, 0, 1), (1, 0, 0), 0.001, 0.001, 0.0),
                               LocalSurface(radius_m=0.05), sensor_pose(1.0), 0.001)
    assert np.abs(surface_residual(rec)).max() < 0.01  # mm, over a 1 mm deep curved indentation


def test_finding_is_placed_on_the_part_from_the_press_pose():
    centre = np.array([0.002, 0.001, 0.0])
    defect = Defect("d", "dent", tuple(centre), (0, 0, 1), (1, 0, 0), 0.004, 0.004, 0.0002)
    pose = sensor_pose(0.7)
    rec = _true_reconstruction(defect, LocalSurface(), pose, 0.0005)
    part_pose = np.eye(4)
    part_pose[:3, 3] = (0.3, -0.2, 0.05)  # the same press seen from a part frame shifted in space
    finding = to_finding(rec, measure(rec, "dent"), "dent", 0.9, part_pose @ pose, "f1", "r1", 3)
    assert isinstance(finding, TactileFinding)
    assert np.allclose(finding.position[:2], centre[:2] + (0.3, -0.2), atol=1e-4)  # 0.1 mm
    assert np.allclose(finding.normal, (0.0, 0.0, 1.0), atol=1e-9)
    assert finding.depth_mm == pytest.approx(0.2, rel=0.05) and finding.press_index == 3
    with pytest.raises(InputError, match="sensor_to_part"):
        to_finding(rec, measure(rec, "dent"), "dent", 0.9, np.eye(3), "f2")


@pytest.mark.parametrize("turn", [0.0, 0.7, 2.0])
def test_a_scratch_direction_is_given_along_it_on_the_part(turn: float) -> None:
    """The direction of a finding is the defect's, in the part frame, however the sensor is turned about its
    axis: fusion tells stretches of one line from lines side by side by it."""
    along = np.array([np.cos(0.4), np.sin(0.4), 0.0])
    defect = Defect("d", "scratch", (0.0, 0.0, 0.0), (0, 0, 1), tuple(along), 0.012, 0.0005, 0.0001)
    pose = sensor_pose(turn)
    rec = _true_reconstruction(defect, LocalSurface(), pose, 0.0006)
    finding = to_finding(rec, measure(rec, "scratch"), "scratch", 0.9, pose, "f1")
    assert abs(float(np.dot(finding.direction, along))) == pytest.approx(1.0, abs=0.01)  # 8 degrees
    clean = to_finding(rec, measure(rec, "none"), "none", 0.9, pose, "f2")
    assert clean.direction == (0.0, 0.0, 0.0)


def _finding(class_name: str, depth: float = 0.0, width: float = 0.0, length: float = 0.0) -> TactileFinding:
    return TactileFinding("f", "r", 0, class_name, 0.9, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), depth, width, length)


def test_acceptance_rules_name_the_deciding_limit():
    rules = AcceptanceRules.load()
    crack = rules.judge(_finding("crack", 0.01, 0.05, 1.0))
    assert not crack.accepted and "crack" in crack.rule
    deep = rules.judge(_finding("dent", 0.31, 4.0, 4.0))
    assert not deep.accepted and "max_depth_mm 0.25" in deep.rule and "0.310" in deep.rule
    shallow = rules.judge(_finding("dent", 0.2, 4.0, 4.0))
    assert shallow.accepted and "within limits" in shallow.rule
    assert not rules.judge(_finding("dent", 0.2, 4.0, 4.0), zone="critical").accepted
    long_scratch = rules.judge(_finding("scratch", 0.05, 0.3, 30.0))
    assert not long_scratch.accepted and "max_length_mm" in long_scratch.rule
    assert rules.judge(_finding("none")).accepted
    with pytest.raises(InputError, match="zone"):
        rules.judge(_finding("dent", 0.1), zone="wing")


@pytest.mark.parametrize("data, message", [
    ({"zones": {"default": {"dent": {"max_depth": 1}}}}, "unknown limit"),
    ({"zones": {"default": {"dent": {"max_depth_mm": -1}}}}, "non-negative"),
    ({"zones": {"other": {}}}, "default"),
    ({"reject_classes": ["stain"], "zones": {"default": {}}}, "reject_classes"),
    ({"zones": {"default": {}}, "limits": 1}, "unknown keys"),
])
def test_bad_acceptance_files_are_input_errors(data, message):
    with pytest.raises(InputError, match=message):
        AcceptanceRules.from_dict(data, "acceptance.yaml")
