"""Good-press reference and anomaly gate (issue #15) on synthetic threaded-part frames: grooves across
the gel in a random phase per press, and a small nick that breaks a groove."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspection import paths
from inspection.cli.main import main
from inspection.errors import InputError
from inspection.tactile.acceptance import AcceptanceRules
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier
from inspection.tactile import anomaly
from inspection.tactile import reference as reference_module
from inspection.tactile.reference import GoodReference, fit_reference
from inspection.tactile.reference_eval import auroc
from inspection.tactile.stage import StageTwo

H, W = 240, 320
PITCH_PX = 24.0
NICK_CENTRE = (170, 130)  # x, y
NICK_BOX = (150, 110, 190, 150)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Gel lit from the sides: a smooth colour gradient, as a no-contact frame."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([110 + 20 * xs / W, 105 + 15 * ys / H, 75 - 10 * xs / W], axis=2)
    return base + rng.normal(0, 1.0, (H, W, 3)).astype(np.float32)


def threaded_frame(rng: np.random.Generator, nick: bool = False, phase: float | None = None) -> np.ndarray:
    """A press on a threaded rod: colour bands of groove flanks facing up and down, in a random phase
    unless ``phase`` (radians) is given."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi) if phase is None else phase
    slope = np.sin(2 * np.pi * ys / PITCH_PX + phase)              # flank facing down (-1) .. up (+1)
    rod = np.clip(1.2 - np.abs(xs - W / 2) / 80.0, 0.0, 1.0)       # the rod under the middle of the gel
    shading = (slope * rod)[..., None] * np.array([35.0, -10.0, -30.0], np.float32)
    if nick:
        # A dent across the groove: its flanks slope sideways, which no thread flank does.
        dx, dy = xs - NICK_CENTRE[0], ys - NICK_CENTRE[1]
        bump = np.exp(-(dx ** 2 + dy ** 2) / (2 * 5.0 ** 2))
        shading += (-dx / 5.0 * bump)[..., None] * np.array([-40.0, 60.0, 45.0], np.float32)
    frame = _background(rng) + shading
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def reference() -> GoodReference:
    rng = np.random.default_rng(15)
    frames = [threaded_frame(rng) for _ in range(4)]
    return fit_reference(frames, [f"good{i}.png" for i in range(4)])


def test_grooves_pass_and_nick_is_found_where_it_is(reference: GoodReference) -> None:
    rng = np.random.default_rng(99)
    good = [reference.anomaly(threaded_frame(rng)) for _ in range(3)]
    nicks = [reference.anomaly(threaded_frame(rng, nick=True)) for _ in range(3)]
    assert not any(result.flagged for result in good), [r.score for r in good]
    for result in nicks:
        assert result.flagged, (result.score, reference.threshold)
        x, y = result.peak_px
        assert NICK_BOX[0] <= x <= NICK_BOX[2] and NICK_BOX[1] <= y <= NICK_BOX[3], result.peak_px
        pixel_map = result.per_pixel()
        assert pixel_map.shape == (H, W)
        assert pixel_map[int(y), int(x)] == pytest.approx(result.score, rel=0.05)
        assert result.region()[NICK_CENTRE[1], NICK_CENTRE[0]]
    assert auroc([r.score for r in good], [r.score for r in nicks]) == 1.0


@pytest.mark.parametrize("gain, offset", [((1.25, 1.0, 0.85), (0, 0, 0)), ((1.0, 1.0, 1.0), (18, -12, 10)),
                                          ((0.8, 0.8, 0.8), (0, 0, 0))])
def test_whole_frame_colour_and_brightness_shifts_do_not_raise_the_score(reference: GoodReference, gain, offset) -> None:
    """Good and faulty parts are often recorded on different days: a global shift must not look like a defect."""
    frame = threaded_frame(np.random.default_rng(7)).astype(np.float32)
    shifted = np.clip(frame * np.array(gain, np.float32) + np.array(offset, np.float32), 0, 255).astype(np.uint8)
    plain, moved = reference.anomaly(frame.astype(np.uint8)), reference.anomaly(shifted)
    assert not moved.flagged, (moved.score, reference.threshold)
    assert moved.score < plain.score + 0.25 * reference.threshold


def _bank(good: list[np.ndarray], shifts: tuple[tuple[float, float], ...]) -> reference_module.PatchBank:
    """The reference's bank of ``good`` shifted by ``shifts`` (what ``fit_reference`` builds, without the
    threshold's leave-one-out banks, which these tests do not read)."""
    share = -(-reference_module.BANK_SIZE // len(good))
    return reference_module.PatchBank.fit([reference_module.good_patches(f, share, shifts) for f in good])


def test_a_press_moved_off_centre_looks_good_where_the_frame_cuts_it() -> None:
    """The bank holds each good frame shifted up to a quarter too: the rows an off-centre press cuts at the
    frame's border match good patches more closely than a bank of unshifted views can."""
    rng = np.random.default_rng(15)
    frames = [threaded_frame(rng) for _ in range(4)]
    moved = np.concatenate([threaded_frame(rng)[:60], frames[0][:-60]])  # a quarter down; its lowest quarter cut
    cut_side = {name: float(_bank(frames, shifts).cells(anomaly.patch_descriptors(moved))[-8:].max())
                for name, shifts in (("shifted", reference_module.AUGMENTED_SHIFTS), ("unshifted", ()))}
    assert cut_side["shifted"] < 0.5 * cut_side["unshifted"], cut_side


def test_a_thread_cut_at_any_phase_looks_good_at_the_border() -> None:
    """Good presses taken in one place show the frame's border cutting the thread at one phase; a press
    along the rod cuts it at any other. Shifts in steps of half a cell show every phase at the border; a
    quarter-frame shift alone (60 px, two and a half pitches) shows one more phase, and a press an eighth
    of a pitch along (3 px, half a cell) scores at the border as a defect would."""
    rng = np.random.default_rng(21)
    frames = [threaded_frame(rng, phase=0.0) for _ in range(4)]
    along_the_rod = [anomaly.patch_descriptors(threaded_frame(rng, phase=k * np.pi / 4)) for k in range(8)]
    worst_border = {}
    for name, shifts in (("steps", reference_module.AUGMENTED_SHIFTS), ("quarter", reference_module.THRESHOLD_SHIFTS)):
        bank = _bank(frames, shifts)
        worst_border[name] = max(float(max(cells[:4].max(), cells[-4:].max()))
                                 for cells in (bank.cells(descriptors) for descriptors in along_the_rod))
    assert worst_border["steps"] < 0.5 * worst_border["quarter"], worst_border


def test_round_trip_and_sidecar(reference: GoodReference, tmp_path) -> None:
    path = reference.save(tmp_path / "ref.npz")
    sidecar = json.loads((tmp_path / "ref.json").read_text())
    assert sidecar["frames"] == [f"good{i}.png" for i in range(4)]
    assert sidecar["threshold"] == pytest.approx(reference.threshold)
    assert "leave-one-out" in sidecar["threshold_rule"] and len(sidecar["leave_one_out_scores"]) == 4
    loaded = GoodReference.load(path)
    frame = threaded_frame(np.random.default_rng(3), nick=True)
    assert loaded.threshold == pytest.approx(reference.threshold)
    assert loaded.anomaly(frame).score == pytest.approx(reference.anomaly(frame).score, rel=1e-4)


def test_bad_input_is_named(reference: GoodReference, tmp_path) -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(InputError, match="at least 3"):
        fit_reference([threaded_frame(rng)] * 2, ["a", "b"])
    with pytest.raises(InputError, match="differ in size"):
        fit_reference([threaded_frame(rng)] * 3 + [threaded_frame(rng)[:200]], list("abcd"))
    with pytest.raises(InputError, match="fitted on 320x240"):
        reference.anomaly(np.zeros((200, 300, 3), np.uint8))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a reference")
    with pytest.raises(InputError, match="broken.npz: not a tactile reference"):
        GoodReference.load(broken)
    with pytest.raises(InputError, match="not found"):
        GoodReference.load(tmp_path / "missing.npz")


def _write_frames(folder, frames) -> None:
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:02d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def test_cli_reference_then_eval_on_good_and_fault_folders(tmp_path, capsys) -> None:
    rng = np.random.default_rng(5)
    _write_frames(tmp_path / "train", [threaded_frame(rng) for _ in range(4)])
    _write_frames(tmp_path / "data" / "good", [threaded_frame(rng) for _ in range(3)])
    _write_frames(tmp_path / "data" / "fault", [threaded_frame(rng, nick=True) for _ in range(3)])
    ref = tmp_path / "ref.npz"
    assert main(["tactile", "reference", "--frames", str(tmp_path / "train"), "--out", str(ref)]) == 0
    assert ref.is_file() and ref.with_suffix(".json").is_file()
    out = tmp_path / "eval.json"
    assert main(["eval", "tactile", "--dataset", str(tmp_path / "data"), "--reference", str(ref),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["auroc"] == 1.0 and report["false_reject_rate"] == 0.0 and report["detection_rate"] == 1.0
    faults = [row for row in report["frames"] if row["file"].startswith("fault/")]
    assert len(faults) == 3 and all(row["flagged"] for row in faults)
    assert all(NICK_BOX[0] <= row["peak_xy"][0] <= NICK_BOX[2] and NICK_BOX[1] <= row["peak_xy"][1] <= NICK_BOX[3]
               for row in faults)
    assert set(report["frames"][0]) >= {"file", "score", "flagged", "peak_xy"}
    capsys.readouterr()
    assert main(["eval", "tactile", "--dataset", str(tmp_path / "train"), "--reference", str(ref),
                 "--json", str(out)]) == 1
    assert "good/ and fault/" in capsys.readouterr().err


def test_stage_two_gate_passes_texture_and_measures_only_the_nick(reference: GoodReference) -> None:
    rng = np.random.default_rng(11)
    calibration = Calibration.load(paths.model_file("tactile_calibration.npz"))
    classifier = TactileClassifier(paths.model_file("tactile_classifier.pt"))
    background = np.clip(np.rint(_background(rng)), 0, 255).astype(np.uint8)
    gated = StageTwo(calibration, classifier, AcceptanceRules.load(None), background, reference)
    ungated = StageTwo(calibration, classifier, AcceptanceRules.load(None), background)
    pose = np.eye(4)
    good = threaded_frame(rng)
    result = gated.analyse(good, pose, "t0", pressed_depth_m=0.001)
    assert result.finding.class_name == "none" and result.verdict.accepted
    assert result.anomaly is not None and not result.anomaly.flagged
    assert ungated.analyse(good, pose, "t0", pressed_depth_m=0.001).anomaly is None
    nicked = gated.analyse(threaded_frame(rng, nick=True), pose, "t1", pressed_depth_m=0.001)
    assert nicked.anomaly.flagged and nicked.finding.class_name != "none"
    record = nicked.anomaly_json()
    assert record["flagged"] and record["peak_part"] is not None and len(record["peak_xy"]) == 2


def test_eval_fits_on_some_good_frames_and_tests_only_the_rest(tmp_path, capsys) -> None:
    """--fit-good K: the protocol for a part the method was not tuned on. Fitted frames are named but
    not counted, so a reference can never be scored on the frames it memorised."""
    rng = np.random.default_rng(9)
    _write_frames(tmp_path / "data" / "good", [threaded_frame(rng) for _ in range(6)])
    _write_frames(tmp_path / "data" / "fault", [threaded_frame(rng, nick=True) for _ in range(2)])
    out = tmp_path / "eval.json"
    assert main(["eval", "tactile", "--dataset", str(tmp_path / "data"), "--fit-good", "4", "--seed", "3",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    fitted = [row for row in report["frames"] if row["in_reference"]]
    assert len(fitted) == 4 and report["good_frames_in_reference"] == 4
    assert report["good_frames"] == 2 and report["fault_frames"] == 2
    assert report["false_reject_rate"] == 0.0 and report["detection_rate"] == 1.0
    capsys.readouterr()
    assert main(["eval", "tactile", "--dataset", str(tmp_path / "data"), "--fit-good", "6",
                 "--json", str(out)]) == 1
    assert "--fit-good 6: expected 3 to 5" in capsys.readouterr().err
    ref = tmp_path / "all.npz"
    assert main(["tactile", "reference", "--frames", str(tmp_path / "data" / "good"), "--out", str(ref)]) == 0
    assert main(["eval", "tactile", "--dataset", str(tmp_path / "data"), "--reference", str(ref),
                 "--json", str(out)]) == 1
    assert "none is left to test" in capsys.readouterr().err
