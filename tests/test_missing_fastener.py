"""missing_fastener across the stages: where the simulator puts it (a rivet of a riveted part), how the
camera and the gel see it, that the rules reject it, that the report names it, and that models trained
before the class still load (they simply never say it)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES, GEOMETRIC_CLASSES, TACTILE_CLASSES, TactileFinding
from inspection.sim.camera import Camera, look_at
from inspection.sim.defects import Defect
from inspection.sim.lighting import Lighting
from inspection.sim.parts import build_part
from inspection.sim.render import Renderer
from inspection.sim.scene import Finish, Scene, random_scene, rivet_sites
from inspection.sim.tactile_dataset import PressScene, render_scene, sample_scene, sensor_pose
from inspection.sim.tactile_sensor import LocalSurface
from inspection.tactile.acceptance import AcceptanceRules

CONFIG = load_cell().tactile
RIVETED = Finish("painted", (0.7, 0.7, 0.72), 0.08, 100.0, 0.0, 0.008, 1, rivet_rows=(-0.05, 0.0, 0.05),
                 rivet_pitch_m=0.025, rivet_radius_m=0.0028)


def test_it_is_a_felt_class_of_every_list() -> None:
    assert "missing_fastener" in GEOMETRIC_CLASSES and "missing_fastener" in TACTILE_CLASSES
    assert DEFECT_CLASSES.index("missing_fastener") == 5  # after crack, before the optical classes


def _rivet_offset(finish: Finish, x: float, y: float) -> tuple[float, float]:
    """Distance (x, y) from the nearest rivet centre of ``finish`` (as ``inspection.sim.shading`` draws them)."""
    rows = np.asarray(finish.rivet_rows)
    row = int(np.argmin(np.abs(rows - y)))
    offset = 0.5 * finish.rivet_pitch_m * (row % 2)
    along = (x - offset) - round((x - offset) / finish.rivet_pitch_m) * finish.rivet_pitch_m
    return along, y - rows[row]


def test_simulated_missing_fasteners_sit_on_rivets_and_only_on_riveted_parts() -> None:
    found = 0
    for seed in range(30):
        scene = random_scene(np.random.default_rng(seed))
        holes = [d for d in scene.defects if d.class_name == "missing_fastener"]
        if not scene.finish.rivet_rows:
            assert not holes
        for hole in holes:
            assert np.allclose(_rivet_offset(scene.finish, hole.center[0], hole.center[1]), 0.0, atol=1e-6)
            assert hole.length_m == hole.width_m <= 1.6 * scene.finish.rivet_radius_m + 1e-12
            assert 0.001 <= hole.depth_m <= 0.003
        assert len({d.center for d in holes}) == len(holes)  # never two holes at one rivet
        found += len(holes)
    assert found >= 5


def test_rivet_sites_invert_the_curved_surface() -> None:
    part = build_part({"kind": "dome", "radius_u_m": 1.2, "radius_v_m": 0.9, "width_m": 0.3, "length_m": 0.4})
    sites = rivet_sites(part, RIVETED, 0.04)
    assert len(sites) > 10 and all(abs(u) <= 0.16 and abs(v) <= 0.11 for u, v in sites)
    points, _, _ = part.surface(np.array([u for u, _ in sites]), np.array([v for _, v in sites]))
    for x, y, _ in points:
        assert np.allclose(_rivet_offset(RIVETED, x, y), 0.0, atol=1e-6)
    assert rivet_sites(part, Finish("painted", (0.7, 0.7, 0.7), 0.08, 100.0, 0.0, 0.008, 1), 0.04) == []


def test_the_hole_is_a_deep_round_cut_that_looks_dark() -> None:
    hole = Defect("h", "missing_fastener", (0, 0, 0), (0, 0, 1), (1, 0, 0), 0.004, 0.004, 0.002)
    points = np.array([[0.0, 0.0, 0.0], [0.0015, 0.0, 0.0], [0.0, 0.0021, 0.0], [0.003, 0.0, 0.0]])
    np.testing.assert_allclose(hole.height_at(points), [-0.002, -0.002, 0.0, 0.0])
    s, t, _ = hole.local_coordinates(points)
    np.testing.assert_allclose(hole.optical_mask(s, t), [1.0, 1.0, 0.0, 0.0])
    assert hole.is_geometric and hole.is_hole and hole.has_optical_change
    dent = Defect("d", "dent", (0, 0, 0), (0, 0, 1), (1, 0, 0), 0.004, 0.004, 0.0002)
    assert not dent.has_optical_change and not dent.optical_mask(s, t).any()


def test_camera_sees_a_dark_labelled_hole_at_a_rivet() -> None:
    part = build_part({"kind": "cylinder_panel", "radius_m": 2.0, "arc_length_m": 0.3, "length_m": 0.4})
    point, normal, tangent = (a[0] for a in part.surface(np.array([0.05]), np.array([0.0])))
    hole = Defect("h", "missing_fastener", tuple(point), tuple(normal), tuple(tangent), 0.004, 0.004, 0.002,
                  albedo_rgb=(0.08, 0.08, 0.07), gloss_factor=0.1)
    camera = Camera.from_cell(load_cell(), 480, 270).with_pose(look_at(point + 0.25 * normal, point, np.array([1.0, 0, 0])))
    lighting = Lighting.default()
    render = Renderer(Scene(part, RIVETED, [hole])).render(camera, lighting, np.random.default_rng(0))
    clean = Renderer(Scene(part, RIVETED, [])).render(camera, lighting, np.random.default_rng(0))
    view = render.defects[0]
    assert view.class_name == "missing_fastener" and view.camera_visible and view.box is not None
    x1, y1, x2, y2 = view.box
    pixels, _ = camera.project(np.asarray(point)[None])
    cx, cy = (int(round(v)) for v in pixels[0])
    centre = (slice(cy - 1, cy + 2), slice(cx - 1, cx + 2))
    assert x1 <= cx <= x2 and y1 <= cy <= y2
    # The head is gone: a dark hole where the clean part shows the rivet head.
    assert render.image[centre].astype(float).mean() < 0.5 * clean.image[centre].astype(float).mean()


def test_gel_bridges_the_hole_and_feels_its_rim() -> None:
    rng = np.random.default_rng(4)
    bridged = 0
    for _ in range(4):
        scene, frame = sample_scene(rng, "missing_fastener", CONFIG)
        label = frame.defects[0]
        assert label["contact_fraction"] >= 0.6  # of the rim: the gel touches all round the hole
        assert frame.height_m.max() == pytest.approx(scene.press_depth_m)
        if scene.press_depth_m < scene.defects[0].depth_m:  # the press is not deepened to reach the bottom
            cx, cy = (int(round(v)) for v in label["center_px"])
            assert frame.height_m[cy, cx] == 0.0
            bridged += 1
    assert bridged >= 3


def test_measured_hole_diameter_from_a_rendered_press() -> None:
    from inspection.sim.tactile_sensor import TactileSimulator
    from inspection.tactile.calibration import Calibration
    from inspection.tactile.measure import measure, surface_residual
    from inspection.tactile.reconstruct import Reconstructor

    rng = np.random.default_rng(2)
    hole = Defect("h", "missing_fastener", (0.001, 0.0005, 0.0), (0, 0, 1), (1, 0, 0), 0.0038, 0.0038, 0.002)
    scene = PressScene("missing_fastener", LocalSurface(), sensor_pose(0.3), 0.0007, (1.0, 1.0, 1.0), 1.0, [hole])
    frame = render_scene(scene, CONFIG, rng)
    reconstructor = Reconstructor(Calibration.load("models/tactile_calibration.npz"),
                                  TactileSimulator(CONFIG).background(rng))
    reconstruction = reconstructor.reconstruct(frame.image)
    result = measure(reconstruction, "missing_fastener", surface_residual(reconstruction))
    assert result.width_mm == pytest.approx(3.8, abs=0.3) and result.length_mm == pytest.approx(3.8, abs=0.3)
    assert 0.0 < result.depth_mm < 2.0  # only how far the gel sags: a lower bound of the hole's depth
    assert np.hypot(*(np.subtract(result.center_px, frame.defects[0]["center_px"]))) < 3.0


def test_any_missing_fastener_is_rejected() -> None:
    rules = AcceptanceRules.load()
    for zone in ("default", "critical"):
        finding = TactileFinding("f", "r", 0, "missing_fastener", 0.9, (0, 0, 0), (0, 0, 1), 0.05, 3.2, 3.2)
        verdict = rules.judge(finding, zone)
        assert not verdict.accepted and "missing_fastener" in verdict.rule


def _classifier_files(tmp_path, classes: list[str]):
    import torch

    from inspection.tactile.classifier import build_network

    weights = tmp_path / "old.pt"
    torch.save(build_network(len(classes)).state_dict(), weights)
    (tmp_path / "old.json").write_text(json.dumps({"classes": classes}))
    return weights


def test_a_classifier_trained_before_the_class_loads_and_never_says_it(tmp_path) -> None:
    from inspection.tactile.classifier import TactileClassifier

    before = ["none", "scratch", "dent", "pit", "bump", "crack"]
    classifier = TactileClassifier(_classifier_files(tmp_path, before))
    assert classifier.classes == tuple(before) and classifier.missing_classes == ("missing_fastener",)
    probabilities = classifier.predict_batch(np.zeros((2, 4, 120, 160), np.float32))
    assert probabilities.shape == (2, 6)


@pytest.mark.parametrize("classes, message", [
    (["none", "scratch", "rust"], "unknown: ['rust']"),
    (["none", "dent", "dent"], "must be distinct"),
])
def test_a_classifier_with_unknown_or_repeated_classes_is_refused(tmp_path, classes, message) -> None:
    from inspection.tactile.classifier import TactileClassifier

    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TactileClassifier(_classifier_files(tmp_path, classes))


def test_report_names_a_missing_fastener(tmp_path) -> None:
    from inspection.fusion.report import write_report
    from inspection.records import FusedDefect, InspectionReport, ReportSummary, Source, Verdict

    defect = FusedDefect("d0", "missing_fastener", Source.BOTH, 0.9, (0.05, 0.0, 0.0), (0, 0, 1), 3.2, 3.2, 0.3,
                         Verdict(False, "reject_classes: any missing_fastener is rejected"), ("h0",), ("t0",))
    report = InspectionReport("run", "panel", "2026-12-04T10:00:00Z", ReportSummary(None, None, None, 1),
                              [defect], True, [])
    html = write_report(tmp_path, report).read_text()
    assert "missing_fastener" in html and "REJECT" in html
    assert json.loads((tmp_path / "report.json").read_text())["defects"][0]["class_name"] == "missing_fastener"
