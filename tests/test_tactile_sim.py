"""Tactile simulator: geometry of a press, ground truth, determinism per seed."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.datasets.tactile import TactileDataset
from inspection.errors import InputError
from inspection.records import TACTILE_CLASSES
from inspection.sim.defects import Defect
from inspection.sim.tactile_dataset import sensor_pose, write_dataset
from inspection.sim.tactile_sensor import LocalSurface, TactileSimulator, ball_gap, surface_gap

CONFIG = load_cell().tactile


def test_ball_press_penetration_matches_sphere_geometry():
    radius, press = 0.003, 0.0005
    frame = TactileSimulator(CONFIG).press(ball_gap(CONFIG, (0.0, 0.0), radius), press, None)
    assert frame.height_m.max() == pytest.approx(press, abs=1e-9)
    contact_radius = np.sqrt(2 * radius * press - press**2)
    expected_area = np.pi * (contact_radius / CONFIG.pixel_size_m) ** 2
    assert frame.contact.sum() == pytest.approx(expected_area, rel=0.03)


def test_dent_appears_as_less_indentation_on_a_cylinder():
    dent = Defect("d", "dent", (0.0, 0.0, 0.0), (0, 0, 1), (1, 0, 0), 0.004, 0.004, 0.0002)
    surface = LocalSurface(radius_m=0.1)
    gap, per_defect = surface_gap(CONFIG, sensor_pose(0.3), surface, [dent])
    frame = TactileSimulator(CONFIG).press(gap, 0.0008, None, [dent], defect_heights=per_defect)
    clean_gap, _ = surface_gap(CONFIG, sensor_pose(0.3), surface, [])
    clean = TactileSimulator(CONFIG).press(clean_gap, 0.0008, None)
    drop = clean.height_m - frame.height_m
    assert drop.max() == pytest.approx(0.0002, abs=2e-6)  # the whole dent depth, at its centre
    label = frame.defects[0]
    assert label["class_name"] == "dent" and label["depth_mm"] == pytest.approx(0.2)
    assert label["center_px"] == pytest.approx([159.5, 119.5], abs=0.6)
    assert label["contact_fraction"] == 1.0


def test_sensor_pointing_away_from_the_surface_is_refused():
    upside_down = np.eye(4)
    with pytest.raises(InputError, match="sensor_to_part"):
        surface_gap(CONFIG, upside_down, LocalSurface(), [])


def test_background_frame_has_no_contact_signal_and_frames_stay_in_range():
    sim = TactileSimulator(CONFIG)
    background = sim.background(None)
    flat = sim.press(np.zeros((CONFIG.height_px, CONFIG.width_px)), 0.0005, None)
    assert np.array_equal(background, flat.image)  # an evenly pressed flat surface shows nothing
    assert background.dtype == np.uint8 and background.shape == (240, 320, 3)


def _digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_dataset_is_byte_identical_per_seed_and_covers_every_class(tmp_path):
    frames = 2 * len(TACTILE_CLASSES)  # two balanced blocks
    write_dataset(tmp_path / "a", frames, 5, CONFIG, progress=False)
    write_dataset(tmp_path / "b", frames, 5, CONFIG, progress=False)
    write_dataset(tmp_path / "c", frames, 6, CONFIG, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    dataset = TactileDataset(tmp_path / "a")
    labels = [dataset.label(i) for i in range(len(dataset))]
    assert sorted(label["class_name"] for label in labels) == sorted(TACTILE_CLASSES * 2)
    for i, label in enumerate(labels):
        height = dataset.true_height_mm(i)
        assert height.max() == pytest.approx(label["press_depth_mm"], abs=2e-4)
        if label["class_name"] != "none":
            assert label["defects"][0]["contact_fraction"] >= 0.6
    meta = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert meta["seed"] == 5 and (tmp_path / "a" / "background.png").is_file()


def test_bad_frame_count_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="--frames"):
        write_dataset(tmp_path, 0, 1, CONFIG, progress=False)


def test_label_pose_is_the_pressed_pose_and_places_the_defect(tmp_path):
    from inspection.tactile.measure import pixel_to_part

    write_dataset(tmp_path, 6, 8, CONFIG, progress=False)
    dataset = TactileDataset(tmp_path)
    for i in range(len(dataset)):
        label = dataset.label(i)
        pose = np.array(label["sensor_to_part"])
        if label["class_name"] == "none" or label["surface"]["radius_mm"] is not None:
            continue
        # Flat part, surface at z = 0: the pressed gel plane sits the press depth inside it, counted from
        # first touch, which is a bump's top.
        raised_mm = label["defects"][0]["depth_mm"] if label["defects"][0]["raised"] else 0.0
        assert pose[2, 3] == pytest.approx((raised_mm - label["press_depth_mm"]) * 1e-3, abs=1e-6)
    for i in range(len(dataset)):
        label = dataset.label(i)
        if label["class_name"] in ("none", "scratch", "crack"):
            continue  # long defects: their pixel centroid is not their nominal centre
        gt = label["defects"][0]
        point = pixel_to_part(tuple(gt["center_px"]), 0.0, np.array(label["sensor_to_part"]), (240, 320),
                              CONFIG.pixel_size_m)
        assert np.allclose(point[:2], label["defects_part_frame"][0]["center"][:2], atol=1.5e-4)
