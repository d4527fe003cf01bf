"""Offline evaluation of the Stage I detector exactly as deployed (same model file, slicing, merge and
confidence threshold) on any labelled YOLO/COCO/VOC dataset.

mAP is computed over every detection down to ``map_confidence`` (as ``yolo val`` does, with conf
0.001); precision and recall are defect-level at the deployed threshold and IoU 0.5. Greedy NMS and
our tile merge never let a low-confidence box remove a higher one, so the boxes above the threshold
are the ones the deployed detector returns.
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from inspection.atomic import write_bytes_atomic
from inspection.datasets import Box, Dataset, ImageRecord, load_dataset
from inspection.errors import InputError
from inspection.vision.detector import DefectDetector

AGNOSTIC_CLASS = "defect"
# Confidence thresholds at which precision and recall are also reported, to choose the operating point.
OPERATING_POINTS = tuple(round(0.05 * step, 2) for step in range(1, 19))  # 0.05 ... 0.9
# Edges (pixels, square root of the box area) of the size bins defect recall is reported in.
SIZE_BINS_PX = (0.0, 8.0, 16.0, 32.0, 96.0, math.inf)


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot decode image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


SIZE_LABELS = [f"{low:g}-{high:g}px" if math.isfinite(high) else f">={low:g}px"
               for low, high in zip(SIZE_BINS_PX, SIZE_BINS_PX[1:])]


def _size_label(box: Box) -> str:
    side = math.sqrt(box.width * box.height)
    return SIZE_LABELS[int(np.searchsorted(SIZE_BINS_PX, side, side="right")) - 1]


def recall_by_size(predictions: list[list[tuple]], truths: list[tuple[Box, ...]], conf: float) -> dict[str, Any]:
    """Share of true boxes, per size bin, that some detection of its class above ``conf`` hits at IoU >= 0.5."""
    from inspection.vision.metrics import box_iou

    counts = {label: [0, 0] for label in SIZE_LABELS}
    for preds, boxes in zip(predictions, truths):
        for box in boxes:
            hits = np.array([p[2:] for p in preds if p[0] == box.class_name and p[1] >= conf], float).reshape(-1, 4)
            found = len(hits) > 0 and float(box_iou(np.array([[box.x1, box.y1, box.x2, box.y2]]), hits).max()) >= 0.5
            counts[_size_label(box)][0] += int(found)
            counts[_size_label(box)][1] += 1
    return {label: {"truths": n, "detected": k, "recall": k / n} for label, (k, n) in counts.items() if n}


def choose_confidence(operating_points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The operating point with the best F1 (harmonic mean of precision and recall; the higher confidence on
    a tie): a detector that finds defects without crying wolf. Call it on validation results only.
    None when no threshold finds a single defect: there is nothing to choose between."""
    def f1(point: dict[str, Any]) -> float:
        p, r = point["precision"] or 0.0, point["recall"] or 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    best = max(operating_points, key=lambda point: (f1(point), point["confidence"]))
    if f1(best) == 0.0:
        return None
    return {**best, "f1": f1(best), "criterion": "best F1 over confidences " +
            f"{operating_points[0]['confidence']:g}-{operating_points[-1]['confidence']:g}"}


def agnostic_rows(rows: np.ndarray, iou: float) -> np.ndarray:
    """One box per defect whatever its class: the deployed (class-aware) detector may call one defect both a
    dent and a crack, which class-agnostic scoring would count as a false positive. Greedy NMS over all
    classes at the detector's own IoU, as Ultralytics' ``agnostic_nms``."""
    from inspection.vision.slicing import merge_detections

    if len(rows) == 0:
        return rows
    flat = rows.copy()
    flat[:, 5] = 0
    return merge_detections(flat, np.zeros(len(flat), dtype=bool), iou, max_det=len(flat))


def _agnostic(dataset: Dataset) -> Dataset:
    images = [replace(image, boxes=tuple(replace(b, class_name=AGNOSTIC_CLASS) for b in image.boxes))
              for image in dataset.images]
    return Dataset(dataset.root, dataset.format, [AGNOSTIC_CLASS], images, dataset.skipped)


def plot_pr_curves(result: dict[str, Any], title: str) -> bytes:
    """PNG of the precision-recall curve of each class with ground truth (IoU 0.5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5), dpi=110)
    recall = result["pr_curve"]["recall"]
    for name, precision in result["pr_curve"]["precision"].items():
        row = result["per_class"][name]
        if row["truths"]:
            axes.plot(recall, precision, label=f"{name} AP50 {row['ap50']:.3f} (n={row['truths']})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
             title=f"{title}: mAP50 {result['map50']:.3f}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def evaluate_detector(detector: DefectDetector, dataset_path: Path, operating_confidence: float, *,
                      dataset_format: str | None = None, split: str | None = None,
                      class_map: dict[str, str] | None = None, agnostic: bool = False,
                      map_confidence: float = 0.001, batch_images: int = 2, max_images: int | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      keep_matches: bool = False) -> dict[str, Any]:
    """Run ``detector`` (loaded with confidence ``map_confidence``) over a labelled dataset and score it:
    precision and recall at ``operating_confidence``, mAP over everything. Returns the JSON-ready result;
    with ``keep_matches`` also ``image_matches`` and ``class_names`` (not JSON: per image, what mAP needs,
    for a bootstrap over the images). ``max_images`` scores a reproducible subset (the same images on
    every run) when time is short."""
    from inspection.datasets import reproducible_order
    from inspection.vision.metrics import match_images, summarise_images

    dataset = load_dataset(dataset_path, format=dataset_format, split=split, class_map=class_map)
    if not dataset.images:
        raise InputError(f"{dataset_path}: no usable images to evaluate ({len(dataset.skipped)} skipped)")
    if max_images is not None and max_images < len(dataset.images):
        subset = reproducible_order(dataset.images, dataset.root, seed=0)[:max(1, max_images)]
        dataset = replace(dataset, images=sorted(subset, key=lambda image: str(image.path)))
    model_classes = [AGNOSTIC_CLASS] if agnostic else list(detector.class_names)
    if agnostic:
        dataset = _agnostic(dataset)
    unknown = sorted({b.class_name for image in dataset.images for b in image.boxes} - set(model_classes))
    if unknown:
        raise InputError(f"{dataset_path}: classes {unknown} are not among the model's {model_classes}; "
                         "rename with --map old=new or score any defect with --agnostic")
    operating = operating_confidence
    predictions: list[list[tuple]] = []
    started = time.monotonic()
    records: list[ImageRecord] = dataset.images
    for start in range(0, len(records), batch_images):
        chunk = records[start:start + batch_images]
        for rows in detector.detect_arrays([read_rgb(image.path) for image in chunk]):
            if agnostic:
                rows = agnostic_rows(rows, detector.settings.iou)
            names = [AGNOSTIC_CLASS if agnostic else detector.class_names[int(c)] for c in rows[:, 5]]
            predictions.append([(name, float(r[4]), *map(float, r[:4])) for name, r in zip(names, rows)])
        if progress:
            progress(min(start + batch_images, len(records)), len(records))
    seconds = time.monotonic() - started
    truths = [image.boxes for image in records]
    matches, names = match_images(predictions, truths, model_classes)
    summary = summarise_images(matches, names, operating).to_dict()
    operating_points = []
    for conf in OPERATING_POINTS:
        at = summarise_images(matches, names, conf)
        operating_points.append({"confidence": conf, "precision": at.precision, "recall": at.recall})
    kept = {"image_matches": matches, "class_names": names} if keep_matches else {}
    return {**kept,
        "precision": summary["precision"], "recall": summary["recall"],
        "map50": summary["map50"], "map50_95": summary["map50_95"],
        "per_class": summary["classes"],
        "per_size": recall_by_size(predictions, truths, operating),
        "conf_threshold": operating, "iou_threshold": summary["iou_threshold"], "map_confidence": map_confidence,
        "tp": summary["tp"], "fp": summary["fp"], "fn": summary["fn"], "operating_points": operating_points,
        "images": len(records), "truths": sum(len(t) for t in truths),
        "dataset": str(dataset.root), "format": dataset.format, "split": split or "all",
        "skipped": [{"file": s.file, "reason": s.reason} for s in dataset.skipped],
        "agnostic": agnostic, "seconds_per_image": round(seconds / len(records), 4),
        "pr_curve": summary["pr_curve"],
    }


def write_plots(result: dict[str, Any], json_path: Path, title: str) -> list[str]:
    target = json_path.with_name(json_path.stem + "_pr.png")
    write_bytes_atomic(target, plot_pr_curves(result, title))
    return [str(target)]
