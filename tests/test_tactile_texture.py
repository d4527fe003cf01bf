"""Textured parts, part edges and the gel membrane in the tactile simulator; the good/fault folders of a
textured dataset; bad --texture names."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.sim.defects import Defect
from inspection.sim.tactile_dataset import PressOptions, TexturedParts, sensor_pose, write_dataset
from inspection.sim.tactile_sensor import DEFAULT_MEMBRANE_LENGTH_M, LocalSurface, TactileSimulator, surface_gap
from inspection.sim.tactile_texture import TEXTURES, PartEdge, Thread, parse_textures, random_texture
from tests.conftest import run_cli

CONFIG = load_cell().tactile


def test_thread_is_periodic_with_its_pitch_under_the_gel():
    pitch = 0.00087
    thread = Thread(pitch_m=pitch, depth_m=0.0003, phase=0.2)
    gap, _ = surface_gap(CONFIG, sensor_pose(0.0), LocalSurface(), [], texture=thread)
    row = gap[CONFIG.height_px // 2] - gap[CONFIG.height_px // 2].mean()  # sensor x runs along the surface axis
    spectrum = np.abs(np.fft.rfft(row * np.hanning(len(row))))
    frequencies = np.fft.rfftfreq(len(row), d=CONFIG.pixel_size_m)
    peak = frequencies[1 + int(np.argmax(spectrum[1:]))]
    assert 1.0 / peak == pytest.approx(pitch, rel=0.05)
    sampling = 2 * 0.0003 * CONFIG.pixel_size_m / pitch  # the 58 um grid may miss a root or crest by this
    assert 0.0003 - sampling <= np.ptp(row) <= 0.0003 + 1e-12
    assert np.ptp(gap[:, 10]) < 1e-9  # grooves run across the axis: constant down a column


@pytest.mark.parametrize("kind", TEXTURES)
def test_every_texture_is_small_good_relief(kind):
    rng = np.random.default_rng(1)
    u, v = np.meshgrid(np.linspace(-0.009, 0.009, 200), np.linspace(-0.007, 0.007, 150))
    heights = [random_texture(rng, kind).height(u, v) for _ in range(5)]
    for height in heights:
        assert np.all(np.isfinite(height)) and np.ptp(height) < 0.0011
    assert not np.allclose(heights[0], heights[1])  # parameters are drawn per texture


def test_membrane_bridges_a_narrow_pit_and_follows_a_wide_one():
    def measured_share(width_m: float, membrane_m: float) -> tuple[float, float]:
        pit = Defect("p", "dent", (0.0, 0.0, 0.0), (0, 0, 1), (1, 0, 0), width_m, width_m, 0.0001)
        gap, _ = surface_gap(CONFIG, sensor_pose(0.0), LocalSurface(), [pit])
        frame = TactileSimulator(CONFIG, membrane_length_m=membrane_m).press(gap, 0.0005, None)
        return np.ptp(frame.gel_height_m) / 0.0001, np.ptp(frame.height_m) / 0.0001

    narrow, narrow_truth = measured_share(0.0002, DEFAULT_MEMBRANE_LENGTH_M)
    wide, wide_truth = measured_share(0.004, DEFAULT_MEMBRANE_LENGTH_M)
    no_membrane, _ = measured_share(0.0002, 0.0)
    assert narrow < 0.1 < no_membrane  # bridged: a tenth of its depth at most, without the membrane more
    assert wide > 0.9
    assert wide_truth == pytest.approx(1.0, abs=0.01)  # the truth keeps the part's own depth
    assert narrow_truth > 0.5  # (a 0.2 mm pit on a 58 um grid is sampled below its tip)


def test_part_edge_clips_the_contact():
    edge = PartEdge(offset_m=0.002, angle_rad=0.0, radius_m=0.0005)
    gap, _ = surface_gap(CONFIG, sensor_pose(0.0), LocalSurface(), [], edge=edge)
    frame = TactileSimulator(CONFIG).press(gap, 0.0008, None)
    x = (np.arange(CONFIG.width_px) - (CONFIG.width_px - 1) / 2) * CONFIG.pixel_size_m
    beyond = x > 0.002 + CONFIG.pixel_size_m
    assert not frame.contact[:, beyond].any()
    assert frame.contact[:, x < 0.0015 - CONFIG.pixel_size_m].all()
    assert frame.height_m[:, (x > 0.0016) & (x < 0.002)].max() < 0.0008  # the rounded edge falls away


def test_textured_dataset_has_good_and_fault_folders_of_its_frames(tmp_path):
    presses = PressOptions(TexturedParts(("thread", "rivet"), part_seed=7), clean_share=0.5,
                           membrane_length_m=DEFAULT_MEMBRANE_LENGTH_M)
    meta = write_dataset(tmp_path / "d", 10, 3, CONFIG, progress=False, presses=presses)
    root = tmp_path / "d"
    split = meta["anomaly_split"]
    assert sorted(split["good"] + split["fault"] + split["not_felt"]) == meta["frames"]
    assert split["good"] and split["fault"]
    threads = set()
    for kind in ("good", "fault"):
        assert sorted(p.stem for p in (root / kind).glob("*.png")) == split[kind]
        for name in split[kind]:
            assert (root / kind / f"{name}.png").read_bytes() == (root / "frames" / f"{name}.png").read_bytes()
            label = json.loads((root / "labels" / f"{name}.json").read_text())
            assert (label["class_name"] == "none") == (kind == "good")
            assert label["texture"]["kind"] in ("thread", "rivet")
            if label["texture"]["kind"] == "thread":
                threads.add(label["texture"]["pitch_mm"])
    assert len(threads) <= 1  # one part per texture with a part seed
    assert meta["membrane_length_mm"] == pytest.approx(0.3)


def test_texture_names():
    assert parse_textures("mixed") == TEXTURES
    assert parse_textures("seam, thread,seam") == ("seam", "thread")
    assert parse_textures("mixed,smooth") == TEXTURES + ("smooth",)
    with pytest.raises(InputError, match="--texture: threads is not a texture"):
        parse_textures("thread,threads")


def test_bad_texture_options_are_one_line(tmp_path):
    cases = [("--texture", "bolts"), ("--part-seed", "3"), ("--texture", "seam", "--clean-share", "2"),
             ("--texture", "seam", "--membrane-mm", "-1"), ("--texture", "rivet", "--edge-share", "1.5")]
    for extra in cases:
        result = run_cli("sim", "tactile", "--out", str(tmp_path / "x"), "--frames", "2", *extra)
        assert result.returncode == 1, (extra, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "bolts is not a texture" in run_cli("sim", "tactile", "--out", str(tmp_path / "y"), "--texture",
                                                "bolts").stderr
