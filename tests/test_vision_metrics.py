"""Detection metrics: hand-worked cases, and agreement with Ultralytics' own matching and
``ap_per_class`` on random predictions (AGREEMENT_TOL below)."""
from __future__ import annotations

import numpy as np
import pytest

from inspection import runtime
from inspection.datasets import Box
from inspection.errors import InputError
from inspection.vision.metrics import RECALL_GRID, evaluate_detections, match_images, summarise_images

# Ultralytics computes IoU in float32, we in float64: a match can only differ for an IoU within ~1e-7
# of a threshold, which random boxes do not produce, so AP must agree to rounding.
AGREEMENT_TOL = 1e-9
CLASSES = ["scratch", "dent", "pit"]


def test_perfect_detector_scores_like_ultralytics() -> None:
    metrics = evaluate_detections([[("dent", 0.9, 0, 0, 10, 10)]], [(Box("dent", 0, 0, 10, 10),)])
    # 101-point AP of a perfect curve is 0.995: the sentinel puts precision 0 at recall 1 (as `yolo val`).
    assert metrics.map50 == pytest.approx(0.995) and metrics.map50_95 == pytest.approx(0.995)
    assert (metrics.tp, metrics.fp, metrics.fn, metrics.precision, metrics.recall) == (1, 0, 0, 1.0, 1.0)


def test_hand_worked_precision_recall_and_ap() -> None:
    truth = [(Box("scratch", 0, 0, 10, 10), Box("scratch", 20, 0, 30, 10)), (Box("dent", 0, 0, 10, 10),)]
    preds = [[("scratch", 0.9, 0, 0, 10, 10),        # TP
              ("scratch", 0.8, 0, 0, 10, 10),        # duplicate of a claimed box: FP
              ("scratch", 0.2, 21, 0, 31, 10),       # IoU 9/11 = 0.82: TP at 0.5..0.8, below the threshold 0.25
              ("pit", 0.7, 50, 50, 60, 60)],         # a class with no ground truth: FP, not in mAP
             []]                                      # the dent is missed
    metrics = evaluate_detections(preds, truth, conf_threshold=0.25, class_names=CLASSES)
    scratch, dent, pit = (metrics.classes[n] for n in CLASSES)
    assert (scratch.truths, scratch.predictions, scratch.tp, scratch.fp, scratch.fn) == (2, 2, 1, 1, 1)
    assert (scratch.precision, scratch.recall) == (0.5, 0.5)
    assert (dent.tp, dent.fn, dent.precision, dent.recall, dent.ap50) == (0, 1, None, 0.0, 0.0)
    assert (pit.truths, pit.fp, pit.ap50, pit.recall) == (0, 1, None, None)
    assert (metrics.tp, metrics.fp, metrics.fn) == (1, 2, 2)
    # scratch PR points (recall, precision): (0.5, 1), (0.5, 0.5), (1, 2/3); envelope 1 to r=0.5, 2/3 to r=1.
    grid = RECALL_GRID
    envelope = np.interp(grid, [0, 0.5, 0.5, 1, 1, 1], [1, 1, 2 / 3, 2 / 3, 0, 0])
    assert scratch.ap50 == pytest.approx(float(np.trapezoid(envelope, grid)))
    assert metrics.map50 == pytest.approx((scratch.ap50 + 0.0) / 2)
    assert scratch.pr_curve[0] == 1.0 and scratch.pr_curve[75] == pytest.approx(2 / 3)
    # IoU 0.82 is a miss from 0.85 up: scratch AP drops there.
    assert scratch.ap50_95 < scratch.ap50


def test_image_subsets_score_as_if_those_images_were_evaluated() -> None:
    """A bootstrap draws images with repeats; scoring the kept matches of the drawn rows must equal
    evaluating those images from scratch."""
    truth = [(Box("scratch", 0, 0, 10, 10),), (Box("dent", 0, 0, 10, 10),), (Box("scratch", 5, 5, 20, 20),)]
    preds = [[("scratch", 0.9, 0, 0, 10, 10)], [("scratch", 0.6, 0, 0, 10, 10)], [("scratch", 0.4, 5, 5, 19, 20)]]
    matches, names = match_images(preds, truth, CLASSES)
    rows = [2, 0, 0, 1]
    drawn = evaluate_detections([preds[i] for i in rows], [truth[i] for i in rows], 0.25, CLASSES)
    assert summarise_images(matches, names, 0.25, rows=rows) == drawn
    assert summarise_images(matches, names, 0.25) == evaluate_detections(preds, truth, 0.25, CLASSES)
    assert summarise_images(matches, names, 0.25, rows=[]).map50 == 0.0


def test_bad_predictions_are_named() -> None:
    box = (Box("dent", 0, 0, 10, 10),)
    for preds, message in [
        ([[("dent", 1.5, 0, 0, 1, 1)]], r"predictions\[0\]\[0\]: confidence must be in \[0, 1\]"),
        ([[("dent", 0.5, 5, 0, 1, 1)]], r"x2 > x1"),
        ([[("dent", 0.5, 0, 0)]], r"expected \(class_name, confidence"),
        ([[("rust", 0.5, 0, 0, 1, 1)]], r"class 'rust' is not one of"),
        ([[], []], r"2 images but ground truth has 1"),
    ]:
        with pytest.raises(InputError, match=message):
            evaluate_detections(preds, [box], class_names=CLASSES)


def _random_case(rng: np.random.Generator, images: int) -> tuple[list, list]:
    """Ground truth plus detections that are jittered copies (various IoUs), class flips and clutter."""
    truths, preds = [], []
    for _ in range(images):
        boxes, dets = [], []
        for _ in range(rng.integers(0, 7)):
            x1, y1 = rng.uniform(0, 500), rng.uniform(0, 350)
            w, h = rng.uniform(8, 120), rng.uniform(8, 120)
            name = CLASSES[rng.integers(0, 3)]
            boxes.append(Box(name, x1, y1, x1 + w, y1 + h))
            for _ in range(rng.integers(0, 3)):  # 0, 1 or 2 detections of this defect
                jitter = rng.normal(0, rng.uniform(0.02, 0.3), 4) * [w, h, w, h]
                c = name if rng.random() > 0.1 else CLASSES[rng.integers(0, 3)]
                dx1, dy1 = x1 + jitter[0], y1 + jitter[1]
                dx2, dy2 = dx1 + max(2.0, w + jitter[2]), dy1 + max(2.0, h + jitter[3])
                dets.append((c, rng.uniform(0.01, 1), dx1, dy1, dx2, dy2))
        for _ in range(rng.integers(0, 4)):
            x1, y1 = rng.uniform(0, 600), rng.uniform(0, 450)
            x2, y2 = x1 + rng.uniform(5, 60), y1 + rng.uniform(5, 60)
            dets.append((CLASSES[rng.integers(0, 3)], rng.uniform(0.01, 1), x1, y1, x2, y2))
        truths.append(tuple(boxes))
        preds.append(dets)
    return preds, truths


def _ultralytics_reference(preds: list, truths: list):
    """Ultralytics' validator matching and ap_per_class on the same data."""
    runtime.configure_environment()
    import torch
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    validator = DetectionValidator()
    tp, conf, pred_cls, target_cls = [], [], [], []
    for dets, boxes in zip(preds, truths):
        dets = sorted(dets, key=lambda d: -d[1])
        p_cls = torch.tensor([CLASSES.index(d[0]) for d in dets], dtype=torch.float64)
        t_cls = torch.tensor([CLASSES.index(b.class_name) for b in boxes], dtype=torch.float64)
        if dets and boxes:
            iou = box_iou(torch.tensor([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=torch.float64),
                          torch.tensor([d[2:] for d in dets], dtype=torch.float64))
            tp.append(validator.match_predictions(p_cls, t_cls, iou).numpy())
        else:
            tp.append(np.zeros((len(dets), 10), dtype=bool))
        conf.extend(d[1] for d in dets)
        pred_cls.extend(p_cls.tolist())
        target_cls.extend(t_cls.tolist())
    tp_all = np.concatenate(tp)
    result = ap_per_class(tp_all, np.array(conf), np.array(pred_cls), np.array(target_cls))
    return tp_all, np.array(conf), np.array(pred_cls), result


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_ultralytics_ap_per_class(seed: int) -> None:
    preds, truths = _random_case(np.random.default_rng(seed), images=int(8 + seed * 3))
    ours = evaluate_detections(preds, truths, conf_threshold=0.3, class_names=CLASSES)
    tp, conf, pred_cls, result = _ultralytics_reference(preds, truths)
    ap, unique_classes = result[5], result[6]
    assert len(unique_classes) > 0 and tp[:, 0].sum() > 0  # the case has matches to disagree about
    for row, c in zip(ap, unique_classes):
        metrics = ours.classes[CLASSES[c]]
        assert metrics.ap50 == pytest.approx(row[0], abs=AGREEMENT_TOL)
        assert metrics.ap50_95 == pytest.approx(row.mean(), abs=AGREEMENT_TOL)
        # Defect-level counts at the threshold, from Ultralytics' own true-positive matrix.
        mine = (pred_cls == c) & (conf >= 0.3)
        assert metrics.tp == int(tp[mine, 0].sum()) and metrics.predictions == int(mine.sum())
    assert ours.map50 == pytest.approx(ap[:, 0].mean(), abs=AGREEMENT_TOL)
    assert ours.map50_95 == pytest.approx(ap.mean(), abs=AGREEMENT_TOL)
    for metrics in ours.classes.values():
        if metrics.ap50 is not None:  # the PR curve is the one AP50 integrates
            assert float(np.trapezoid(metrics.pr_curve, RECALL_GRID)) == pytest.approx(metrics.ap50, abs=1e-12)
