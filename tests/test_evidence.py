"""Per-defect evidence: camera crops (border, outside), heightmap plots, pairing by stamp in any order,
and which files each defect of a report gets."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.fusion.evidence import (
    BOX_COLOUR, MIN_CROP_HALF_PX, CameraModel, EvidenceStore, attach, camera_crop, deepest_point, heightmap_figure,
    missing_note, placement,
)
from inspection.records import DefectHypothesis, FusedDefect, InspectionReport, ReportSummary, Source, TactileFinding

WIDTH, HEIGHT, FOCAL = 640, 480, 500.0
# 0.5 m above the part, looking down its -z: image x along part x, image y along part -y.
LOOKING_DOWN = np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0.5], [0, 0, 0, 1]], float)
CAMERA = CameraModel(np.array([[FOCAL, 0, 320], [0, FOCAL, 240], [0, 0, 1]]), np.zeros(5), LOOKING_DOWN)


def _hypothesis(x: float, y: float, size_m: float = 0.004, hypothesis_id: str = "d000") -> DefectHypothesis:
    return DefectHypothesis(hypothesis_id, "dent", 0.8, (x, y, 0.0), (0, 0, 1), (size_m, size_m))


def _pixel_of(x: float, y: float) -> tuple[int, int]:
    return round(320 + FOCAL * x / 0.5), round(240 - FOCAL * y / 0.5)


def _frame_with_spot(x: float, y: float) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    cv2.circle(image, _pixel_of(x, y), 2, (200, 30, 30), -1)
    return image


def _is_box(pixels: np.ndarray) -> np.ndarray:
    return np.all(pixels == BOX_COLOUR, axis=-1)


def test_projection_is_the_pinhole_model() -> None:
    pixels, depth = CAMERA.project(np.array([[0.01, 0.02, 0.0], [0.0, 0.0, 0.6]]))
    assert np.allclose(pixels[0], (330.0, 220.0)) and np.isclose(depth[0], 0.5)
    assert depth[1] < 0  # above the camera: behind it


def test_crop_is_centred_on_the_defect_and_boxes_it() -> None:
    crop = camera_crop(_frame_with_spot(0.01, 0.02), CAMERA, _hypothesis(0.01, 0.02))
    half = crop.shape[0] // 2
    assert crop.shape == (2 * MIN_CROP_HALF_PX + 1, 2 * MIN_CROP_HALF_PX + 1, 3)
    assert tuple(crop[half, half]) == (200, 30, 30)  # the defect is at the centre, not hidden by the box
    box = _is_box(crop)
    radius_px = FOCAL * 0.002 / 0.5  # half the 4 mm extent at 0.5 m
    ring_rows = np.nonzero(box.any(axis=1))[0]
    assert radius_px < half - ring_rows.min() < radius_px + 6  # just outside the defect's extent


def test_crop_at_the_image_border_is_cut_not_padded() -> None:
    x, y = (5 - 320) * 0.5 / FOCAL, (240 - 3) * 0.5 / FOCAL  # pixel (5, 3): top left corner
    image = _frame_with_spot(x, y)
    crop = camera_crop(image, CAMERA, _hypothesis(x, y))
    assert crop.shape == (3 + MIN_CROP_HALF_PX + 1, 5 + MIN_CROP_HALF_PX + 1, 3)
    unboxed = ~_is_box(crop)
    assert np.array_equal(crop[unboxed], image[: crop.shape[0], : crop.shape[1]][unboxed])  # real pixels only
    assert tuple(crop[3, 5]) == (200, 30, 30)


def test_large_defects_get_a_larger_crop_and_defects_off_the_frame_none() -> None:
    image = _frame_with_spot(0.0, 0.0)
    assert camera_crop(image, CAMERA, _hypothesis(0.0, 0.0, size_m=0.05)).shape[0] > 2 * MIN_CROP_HALF_PX + 1
    assert camera_crop(image, CAMERA, _hypothesis(1.0, 0.0)) is None  # projects far right of the frame
    behind = DefectHypothesis("d1", "dent", 0.8, (0.0, 0.0, 0.7), (0, 0, 1), (0.004, 0.004))
    assert camera_crop(image, CAMERA, behind) is None


def test_camera_model_from_the_cell_needs_matching_intrinsics() -> None:
    cell = load_cell()
    model = CameraModel.from_cell(cell, cell.camera.width, cell.camera.height)
    assert np.allclose(model.k, cell.camera.intrinsic_matrix())
    with pytest.raises(InputError, match="without camera_info"):
        CameraModel.from_cell(cell, cell.camera.width // 2, cell.camera.height // 2)
    k = cell.camera.intrinsic_matrix() / 2
    k[2, 2] = 1
    assert np.allclose(CameraModel.from_cell(cell, cell.camera.width // 2, cell.camera.height // 2, k, np.zeros(5)).k, k)
    moved = cell.camera_to_world()
    moved[:3, 3] += (0.1, -0.05, 0.0)
    posed = CameraModel.from_cell(cell, cell.camera.width, cell.camera.height, camera_to_world=moved)
    assert np.allclose(posed.part_from_camera[:3, 3] - model.part_from_camera[:3, 3], (0.1, -0.05, 0.0))


def _dent_heightmap(row: int = 100, col: int = 200, depth_mm: float = 0.2) -> np.ndarray:
    yy, xx = np.mgrid[0:240, 0:320]
    curved = 0.3 + 1e-5 * (xx - 160) ** 2  # a curved part presses the gel in unevenly
    return (curved - depth_mm * np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / 72.0)).astype(np.float32)


def _finding(finding_id: str = "t3", class_name: str = "dent") -> TactileFinding:
    return TactileFinding(finding_id, "r0", 3, class_name, 0.9, (0, 0, 0), (0, 0, 1),
                          0.2 if class_name != "none" else 0.0, 3.0, 3.0)


def test_deepest_point_is_found_against_the_curved_surface() -> None:
    (row, col), surface = deepest_point(_dent_heightmap(), "dent")
    assert (abs(row - 100), abs(col - 200)) <= (1, 1)
    assert abs(surface[100, 200] - (0.3 + 1e-5 * 40 ** 2)) < 0.01  # the fit ignores the dent
    bump = 0.6 - _dent_heightmap(row=50, col=60)
    assert deepest_point(bump, "bump")[0] == (50, 60)
    at_the_rim = _dent_heightmap(row=120, col=40)
    at_the_rim[:4, 150:170] -= 0.5  # a deeper dip in the outermost rows, where integration drifts
    assert deepest_point(at_the_rim, "dent")[0] == (120, 40)


def test_heightmap_figure_is_a_png_of_the_documented_size() -> None:
    png = heightmap_figure(_dent_heightmap(), 5.8e-5, _finding())
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (260, 680, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 100  # a colour map was drawn, not a blank canvas


@pytest.mark.parametrize("order", list(itertools.permutations(("frame", "heightmap", "finding"))))
def test_store_pairs_frame_heightmap_and_finding_by_stamp_in_any_order(tmp_path, order) -> None:
    store = EvidenceStore(tmp_path)
    steps = {"frame": lambda: store.add_tactile_frame(7, np.full((240, 320, 3), 120, np.uint8)),
             "heightmap": lambda: store.add_heightmap(7, _dent_heightmap()),
             "finding": lambda: store.add_finding(7, _finding(), 5.8e-5)}
    store.add_heightmap(8, _dent_heightmap())  # another press: must not be confused with this one
    for step in order:
        steps[step]()
    files = sorted(p.name for p in (tmp_path / "evidence").iterdir())
    assert files == ["heightmap_t3.npy", "heightmap_t3.png", "tactile_t3.png"]
    assert np.array_equal(np.load(tmp_path / "evidence" / "heightmap_t3.npy"), _dent_heightmap())
    assert list(store.presses) == [8]


def test_clean_contacts_keep_no_files_and_bad_pixel_size_is_refused(tmp_path) -> None:
    store = EvidenceStore(tmp_path)
    store.add_tactile_frame(1, np.full((240, 320, 3), 120, np.uint8))
    store.add_finding(1, _finding("t1", "none"), 5.8e-5)
    assert not (tmp_path / "evidence").exists() and not store.presses
    with pytest.raises(InputError, match="pixel_size_m"):
        store.add_finding(2, _finding("t2"), 0.0)


def test_hypotheses_are_cropped_from_the_frame_they_came_from(tmp_path) -> None:
    store = EvidenceStore(tmp_path)
    assert store.add_hypotheses(5, [_hypothesis(0.0, 0.0)]) == ["d000: no camera frame received"]
    store.add_camera_frame(5, _frame_with_spot(0.0, 0.0), CAMERA)
    store.add_camera_frame(9, np.zeros((HEIGHT, WIDTH, 3), np.uint8), CAMERA)  # a later frame
    problems = store.add_hypotheses(5, [_hypothesis(0.0, 0.0), _hypothesis(1.0, 0.0, hypothesis_id="d001")])
    assert problems == ["d001: outside every camera frame"]
    crop = cv2.imread(str(tmp_path / "evidence" / "camera_d000.png"))
    assert tuple(crop[MIN_CROP_HALF_PX, MIN_CROP_HALF_PX]) == (30, 30, 200)  # BGR on disk: frame 5's red spot


def _moved(camera: CameraModel, dx: float, dy: float = 0.0) -> CameraModel:
    pose = camera.part_from_camera.copy()
    pose[:2, 3] += (dx, dy)
    return CameraModel(camera.k, camera.distortion, pose)


def test_each_hypothesis_is_cropped_from_the_view_that_shows_it_best_with_that_views_pose(tmp_path) -> None:
    """Two views 0.5 m apart (each sees 0.64 x 0.48 m): a defect under the first is cropped from it, centred
    by its own pose, though a later frame came in."""
    store = EvidenceStore(tmp_path)
    right = _moved(CAMERA, 0.5)
    store.add_camera_frame(1, _frame_with_spot(0.0, 0.0), right)  # the spot at the centre of view 1: x = 0.5 m
    store.add_camera_frame(2, np.zeros((HEIGHT, WIDTH, 3), np.uint8), CAMERA)  # the latest frame, a poorer view
    store.add_camera_frame(3, _frame_with_spot(0.0, 0.0), _moved(CAMERA, 0.0, 0.3))  # after the hypotheses' stamp
    hypotheses = [_hypothesis(0.5, 0.0, hypothesis_id="d000"), _hypothesis(0.3, 0.0, hypothesis_id="d001"),
                  _hypothesis(0.0, 0.3, hypothesis_id="d002")]
    assert placement((HEIGHT, WIDTH), CAMERA, hypotheses[0]) < 0 < placement((HEIGHT, WIDTH), right, hypotheses[0])
    assert placement((HEIGHT, WIDTH), CAMERA, hypotheses[1]) < placement((HEIGHT, WIDTH), right, hypotheses[1])
    assert store.add_hypotheses(2, hypotheses) == ["d002: outside every camera frame"]  # only frame 3 shows it
    crop = cv2.imread(str(tmp_path / "evidence" / "camera_d000.png"))
    assert tuple(crop[MIN_CROP_HALF_PX, MIN_CROP_HALF_PX]) == (30, 30, 200)
    facing_away = DefectHypothesis("d9", "dent", 0.8, (0.0, 0.0, 0.0), (0, 0, -1), (0.004, 0.004))
    assert placement((HEIGHT, WIDTH), CAMERA, facing_away) == -np.inf  # the underside of a sheet


def test_attach_names_existing_files_per_defect_and_notes_say_what_is_missing(tmp_path) -> None:
    store = EvidenceStore(tmp_path)
    store.add_camera_frame(5, _frame_with_spot(0.0, 0.0), CAMERA)
    store.add_hypotheses(5, [_hypothesis(0.0, 0.0, hypothesis_id="d000")])
    store.add_tactile_frame(7, np.full((240, 320, 3), 120, np.uint8))
    store.add_finding(7, _finding("t3"), 5.8e-5)  # its heightmap never came
    defects = [
        FusedDefect("d0", "dent", Source.BOTH, 0.9, (0, 0, 0), (0, 0, 1), 3, 3, 0.2, None, ("d000",), ("t3",)),
        FusedDefect("d1", "stain", Source.VISION, 0.7, (0, 0, 0), (0, 0, 1), 9, 9, None, None, ("d009",)),
        FusedDefect("d2", "pit", Source.TACTILE, 0.8, (0, 0, 0), (0, 0, 1), 1, 1, 0.3, None, (), ("t4",)),
    ]
    report = attach(tmp_path, InspectionReport("run", "part", "2026-11-24T10:00:00Z", ReportSummary(), defects))
    evidence = [d.evidence for d in report.defects]
    assert evidence == [{"camera": "evidence/camera_d000.png", "tactile": "evidence/tactile_t3.png"}, {}, {}]
    assert InspectionReport.from_json(report.to_json()) == report  # the paths survive report.json
    assert missing_note("heightmap", Source.BOTH) == "heightmap not received"
    assert missing_note("tactile", Source.VISION) == "no tactile contact"
    assert missing_note("camera", Source.TACTILE) == "not seen by the camera"
    assert missing_note("camera", Source.VISION) == "camera crop not kept"


def test_settle_waits_for_evidence_still_on_its_way(tmp_path) -> None:
    import threading

    store = EvidenceStore(tmp_path)
    store.add_finding(7, _finding("t3"), 5.8e-5)
    assert store.settle(0.05) == ["t3"]
    late = threading.Timer(0.2, lambda: (store.add_tactile_frame(7, np.full((240, 320, 3), 120, np.uint8)),
                                         store.add_heightmap(7, _dent_heightmap())))
    late.start()
    assert store.settle(10.0) == []
    late.join()
    assert (tmp_path / "evidence" / "heightmap_t3.png").is_file()
