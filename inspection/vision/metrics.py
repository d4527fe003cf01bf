"""Detection metrics computed the way Ultralytics' validator computes them, so our numbers can be
set beside a `yolo val` run: mAP50 and mAP50-95 per class, plus defect-level precision and recall at
IoU 0.5 at one confidence threshold (what an inspection cell actually runs at), and PR-curve data.

- Matching (per image, per IoU threshold 0.50:0.05:0.95): detections in descending confidence each
  take the unclaimed ground-truth box of their class with the highest IoU, if that IoU reaches the
  threshold (``DetectionValidator.match_predictions`` in Ultralytics 8.4, as COCO does without crowds).
- AP: the precision envelope sampled at 101 recall points and integrated with the trapezoid rule
  (``ultralytics.utils.metrics.compute_ap``); mAP averages the classes that have ground truth.
- Confidence ties are broken by input order (a stable sort); Ultralytics' unstable sort may differ
  only when two detections of a class share a confidence exactly.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspection.datasets import Box
from inspection.errors import InputError

# (class_name, confidence, x1, y1, x2, y2) in pixels of the evaluated image.
Prediction = tuple[str, float, float, float, float, float]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_GRID = np.linspace(0.0, 1.0, 101)
# Ultralytics adds this to the IoU denominator; kept so that boxes touching a threshold agree too.
IOU_EPS = 1e-7


@dataclass(frozen=True)
class ClassMetrics:
    """One class. Counts and precision/recall are at the confidence threshold and IoU 0.5; None = undefined."""

    name: str
    truths: int
    predictions: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    ap50: float | None  # None when the class has no ground truth (it is then left out of mAP)
    ap50_95: float | None
    pr_curve: tuple[float, ...]  # precision envelope at RECALL_GRID, IoU 0.5, all confidences


@dataclass(frozen=True)
class DetectionMetrics:
    conf_threshold: float
    classes: dict[str, ClassMetrics]
    map50: float
    map50_95: float
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    iou_threshold: float = 0.5

    def to_dict(self) -> dict:
        """JSON-ready: summary, per-class table and PR curves (recall grid shared by all classes)."""
        per_class = {
            name: {k: getattr(m, k) for k in ("truths", "predictions", "tp", "fp", "fn", "precision", "recall",
                                               "ap50", "ap50_95")}
            for name, m in self.classes.items()
        }
        return {
            "conf_threshold": self.conf_threshold, "iou_threshold": self.iou_threshold,
            "map50": self.map50, "map50_95": self.map50_95, "tp": self.tp, "fp": self.fp, "fn": self.fn,
            "precision": self.precision, "recall": self.recall, "classes": per_class,
            "pr_curve": {"recall": [round(float(r), 4) for r in RECALL_GRID],
                         "precision": {name: [round(p, 6) for p in m.pr_curve] for name, m in self.classes.items()}},
        }


def box_iou(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every box in ``truth`` (M, 4) with every box in ``pred`` (N, 4), corners x1 y1 x2 y2."""
    top_left = np.maximum(truth[:, None, :2], pred[None, :, :2])
    bottom_right = np.minimum(truth[:, None, 2:], pred[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_truth = (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
    area_pred = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    return inter / (area_truth[:, None] + area_pred[None, :] - inter + IOU_EPS)


def match_image(pred_classes: np.ndarray, pred_boxes: np.ndarray, true_classes: np.ndarray,
                true_boxes: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(N, T) bool: detection i (given in descending confidence) is a true positive at threshold t."""
    correct = np.zeros((len(pred_classes), len(thresholds)), dtype=bool)
    if len(pred_classes) == 0 or len(true_classes) == 0:
        return correct
    iou = box_iou(true_boxes, pred_boxes) * (true_classes[:, None] == pred_classes[None, :])
    claimed = np.zeros((len(true_classes), len(thresholds)), dtype=bool)
    columns = np.arange(len(thresholds))
    for j in np.flatnonzero((iou >= thresholds.min()).any(axis=0)):
        available = np.where(claimed, 0.0, iou[:, j, None])  # IoU with each unclaimed truth, per threshold
        best = available.argmax(axis=0)
        correct[j] = available[best, columns] >= thresholds
        claimed[best, columns] |= correct[j]
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AP of one PR curve (101-point, trapezoid), with the recall and precision-envelope points used."""
    last = recall[-1] if len(recall) else 1.0
    mrec = np.concatenate(([0.0], recall, [last], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(np.trapezoid(np.interp(RECALL_GRID, mrec, mpre), RECALL_GRID)), mrec, mpre


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _check_prediction(image: int, index: int, pred: object, known: dict[str, int] | None) -> None:
    where = f"predictions[{image}][{index}]"
    if not isinstance(pred, (tuple, list)) or len(pred) != 6 or not isinstance(pred[0], str):
        raise InputError(f"{where}: expected (class_name, confidence, x1, y1, x2, y2), got {str(pred)[:80]}")
    try:
        conf, x1, y1, x2, y2 = (float(v) for v in pred[1:])
    except (TypeError, ValueError):
        raise InputError(f"{where}: confidence and corners must be numbers, got {list(pred[1:])}") from None
    if not all(math.isfinite(v) for v in (conf, x1, y1, x2, y2)) or not 0.0 <= conf <= 1.0:
        raise InputError(f"{where}: confidence must be in [0, 1] and corners finite, got {list(pred[1:])}")
    if x2 <= x1 or y2 <= y1:
        raise InputError(f"{where}: box must have x2 > x1 and y2 > y1, got {[x1, y1, x2, y2]}")
    if known is not None and pred[0] not in known:
        raise InputError(f"{where}: class {pred[0]!r} is not one of {list(known)}")


@dataclass(frozen=True)
class ImageMatches:
    """One image's detections matched against its truth: all that mAP needs of it, so that any multiset of
    images (a bootstrap resample) is scored without matching again."""

    conf: np.ndarray      # (detections,) in descending confidence
    pred_cls: np.ndarray  # (detections,) class indices
    correct: np.ndarray   # (detections, IoU thresholds) bool
    true_cls: np.ndarray  # (truths,) class indices


def match_images(predictions: Sequence[Sequence[Prediction]], ground_truth: Sequence[Sequence[Box]],
                 class_names: Sequence[str] | None = None) -> tuple[list[ImageMatches], list[str]]:
    """Match each image's detections to its truth (see :func:`evaluate_detections` for the arguments and
    errors); returns the matches and the class names in index order."""
    if len(predictions) != len(ground_truth):
        raise InputError(f"predictions: {len(predictions)} images but ground truth has {len(ground_truth)}")
    known = {name: i for i, name in enumerate(class_names)} if class_names is not None else None
    for image, preds in enumerate(predictions):
        for index, pred in enumerate(preds):
            _check_prediction(image, index, pred, known)
    if known is None:
        seen = {p[0] for preds in predictions for p in preds} | {b.class_name for boxes in ground_truth for b in boxes}
        known = {name: i for i, name in enumerate(sorted(seen))}
    for image, boxes in enumerate(ground_truth):
        for box in boxes:
            if box.class_name not in known:
                raise InputError(f"ground_truth[{image}]: class {box.class_name!r} is not one of {list(known)}")
    matches = []
    for preds, boxes in zip(predictions, ground_truth):
        order = sorted(range(len(preds)), key=lambda i: -float(preds[i][1]))  # stable: ties keep input order
        p_cls = np.array([known[preds[i][0]] for i in order], dtype=int)
        p_box = np.array([preds[i][2:] for i in order], dtype=float).reshape(-1, 4)
        t_cls = np.array([known[b.class_name] for b in boxes], dtype=int)
        t_box = np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=float).reshape(-1, 4)
        matches.append(ImageMatches(np.array([float(preds[i][1]) for i in order], dtype=float), p_cls,
                                    match_image(p_cls, p_box, t_cls, t_box), t_cls))
    return matches, list(known)


def summarise_images(matches: Sequence[ImageMatches], names: Sequence[str], conf_threshold: float = 0.25,
                     rows: Sequence[int] | np.ndarray | None = None) -> DetectionMetrics:
    """Metrics over ``matches`` (or over the images ``rows`` picks, repeats allowed)."""
    if not 0.0 <= conf_threshold <= 1.0:
        raise InputError(f"conf_threshold: {conf_threshold} is outside [0, 1]")
    chosen = matches if rows is None else [matches[int(i)] for i in rows]
    # An image without detections or truth first, so that an empty draw still concatenates.
    empty = ImageMatches(np.zeros(0), np.zeros(0, dtype=int), np.zeros((0, len(IOU_THRESHOLDS)), dtype=bool),
                         np.zeros(0, dtype=int))
    chosen = [empty, *chosen]
    return _summarise(np.concatenate([m.conf for m in chosen]), np.concatenate([m.pred_cls for m in chosen]),
                      np.concatenate([m.correct for m in chosen]), np.concatenate([m.true_cls for m in chosen]),
                      list(names), conf_threshold)


def evaluate_detections(predictions: Sequence[Sequence[Prediction]], ground_truth: Sequence[Sequence[Box]],
                        conf_threshold: float = 0.25, class_names: Sequence[str] | None = None) -> DetectionMetrics:
    """Score detections against ground truth, image by image (the two sequences are aligned).

    Args:
        predictions: per image, (class_name, confidence, x1, y1, x2, y2) tuples.
        ground_truth: per image, the true boxes (``ImageRecord.boxes``).
        conf_threshold: detections below it do not count for precision/recall (mAP uses them all).
        class_names: report these classes in this order; default: every class seen, sorted.

    Raises:
        InputError: the sequences differ in length, a prediction is malformed or of an unlisted class.
    """
    matches, names = match_images(predictions, ground_truth, class_names)
    return summarise_images(matches, names, conf_threshold)


def _summarise(conf: np.ndarray, pred_cls: np.ndarray, correct: np.ndarray, true_cls: np.ndarray,
               names: list[str], conf_threshold: float) -> DetectionMetrics:
    order = np.argsort(-conf, kind="stable")
    conf, pred_cls, correct = conf[order], pred_cls[order], correct.reshape(-1, len(IOU_THRESHOLDS))[order]
    above = conf >= conf_threshold
    classes: dict[str, ClassMetrics] = {}
    ap_rows: list[np.ndarray] = []
    for c, name in enumerate(names):
        mine = pred_cls == c
        n_truth = int((true_cls == c).sum())
        tp = int(correct[mine & above, 0].sum())
        n_pred = int((mine & above).sum())
        ap, curve = None, np.zeros_like(RECALL_GRID)
        if n_truth:
            ap = np.zeros(len(IOU_THRESHOLDS))
            if mine.any():
                tpc = correct[mine].cumsum(axis=0)
                fpc = (~correct[mine]).cumsum(axis=0)
                recall, precision = tpc / n_truth, tpc / (tpc + fpc)
                for t in range(len(IOU_THRESHOLDS)):
                    ap[t], mrec, mpre = average_precision(recall[:, t], precision[:, t])
                    if t == 0:
                        curve = np.interp(RECALL_GRID, mrec, mpre)
            ap_rows.append(ap)
        classes[name] = ClassMetrics(
            name, n_truth, n_pred, tp, n_pred - tp, n_truth - tp, _ratio(tp, n_pred), _ratio(tp, n_truth),
            None if ap is None else float(ap[0]), None if ap is None else float(ap.mean()),
            tuple(float(p) for p in curve))
    tp = sum(m.tp for m in classes.values())
    n_pred = sum(m.predictions for m in classes.values())
    n_truth = sum(m.truths for m in classes.values())
    table = np.array(ap_rows) if ap_rows else np.zeros((0, len(IOU_THRESHOLDS)))
    return DetectionMetrics(
        conf_threshold, classes,
        map50=float(table[:, 0].mean()) if len(table) else 0.0,
        map50_95=float(table.mean()) if len(table) else 0.0,
        tp=tp, fp=n_pred - tp, fn=n_truth - tp, precision=_ratio(tp, n_pred), recall=_ratio(tp, n_truth))
