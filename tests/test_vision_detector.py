"""The ONNX path's own pre- and post-processing against Ultralytics' (letterbox, NMS), and the shipped
model: both backends must find the same defects in the same image."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from inspection import paths, runtime
from inspection.records import DEFECT_CLASSES
from inspection.vision.backends import box_iou_one, decode_yolo_output, letterbox

runtime.configure_environment()
SHIPPED = paths.model_file("defect_detector.pt")


@pytest.mark.parametrize("height,width,size", [(320, 320, 320), (200, 300, 320), (1080, 1920, 640),
                                               (37, 501, 64), (640, 100, 320)])
def test_letterbox_matches_ultralytics(height, width, size):
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(height).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ours, scale, (left, top) = letterbox(image, size)
    theirs = LetterBox((size, size), auto=False, stride=32)(image=image)
    assert ours.shape == theirs.shape == (size, size, 3)
    assert np.array_equal(ours, theirs)
    assert scale == pytest.approx(min(size / height, size / width))


def test_decode_and_nms_match_ultralytics():
    """Clusters of overlapping boxes of several classes: the same boxes survive, in the same order."""
    import torch
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(7)
    classes, anchors = 7, 2000
    centres = rng.uniform(20, 300, (40, 2))
    pick = rng.integers(0, 40, anchors)
    xy = centres[pick] + rng.normal(0, 4, (anchors, 2))
    wh = rng.uniform(8, 60, (anchors, 2))
    scores = rng.uniform(0, 1, (anchors, classes)) ** 6
    raw = np.concatenate([xy, wh, scores], axis=1).T.astype(np.float32)
    for conf, iou in ((0.25, 0.5), (0.01, 0.7), (0.5, 0.3)):
        ours = decode_yolo_output(raw, conf, iou, max_det=300)
        theirs = non_max_suppression(torch.from_numpy(raw[None]), conf, iou, max_det=300)[0].numpy()
        assert len(ours) == len(theirs) > 5
        assert np.allclose(ours, theirs, atol=1e-4)


def test_no_torch_load_without_weights_only():
    """Pickled checkpoints run code when loaded; any torch.load of ours must pass weights_only=True."""
    for source in (paths.share_dir() / "inspection").rglob("*.py"):
        for call in re.findall(r"torch\.load\([^)]*\)", source.read_text(encoding="utf-8")):
            assert "weights_only=True" in call, f"{source}: {call}"


shipped = pytest.mark.skipif(not SHIPPED.is_file(), reason="models/defect_detector.pt not trained yet")


@shipped
def test_shipped_model_files_and_metadata():
    from inspection.vision.detector import read_metadata
    from inspection.vision.training import sha256

    metadata = read_metadata(SHIPPED)
    # Ours, in our order; the shipped detector predates missing_fastener (trained on 7 classes), which a
    # model may lack: the vision node names what it never gives.
    names = metadata["class_names"]
    assert names == [name for name in DEFECT_CLASSES if name in names] and len(names) >= 7
    for name in ("defect_detector.pt", "defect_detector.onnx"):
        path = paths.model_file(name)
        assert path.stat().st_size < 20 * 1024 * 1024
        assert metadata["files"][name] == sha256(path), f"{name} does not match its sidecar"
    assert paths.model_file("defect_detector.md").is_file()


def rendered_frames(folder: Path) -> list[np.ndarray]:
    """Two simulated frames (the shipped model's domain), from seeds the shipped model was not trained on."""
    import cv2

    from tests.conftest import run_cli

    done = run_cli("sim", "dataset", "--out", str(folder), "--images", "2", "--seed", "424242", "--width", "960",
                   "--height", "540", "--val-fraction", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.rglob("images/*/*.jpg"))]


@shipped
def test_both_backends_find_the_same_defects(tmp_path):
    from inspection.vision.detector import DefectDetector, DetectorSettings

    settings = DetectorSettings(confidence=0.1, tile_size=320, full_frame_pass=True)
    frames = rendered_frames(tmp_path / "frames")
    ids = [f"frame{i}" for i in range(len(frames))]
    by_pt = [d for found in DefectDetector.load(SHIPPED, settings).detect_batch(frames, ids) for d in found]
    by_onnx = [d for found in DefectDetector.load(SHIPPED.with_suffix(".onnx"), settings).detect_batch(frames, ids)
               for d in found]
    assert by_pt, "the shipped model found nothing in two frames with defects"
    assert abs(len(by_pt) - len(by_onnx)) <= max(1, len(by_pt) // 10)
    matched = 0
    for det in by_pt:
        boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in by_onnx
                          if (d.class_name, d.view_id) == (det.class_name, det.view_id)])
        if len(boxes) and box_iou_one(np.array([det.x1, det.y1, det.x2, det.y2]), boxes).max() > 0.9:
            matched += 1
    assert matched >= 0.9 * len(by_pt)
