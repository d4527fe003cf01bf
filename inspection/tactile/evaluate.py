"""Stage II against ground truth: classification accuracy, per-class precision/recall, confusion
matrix, and the size errors of the measurement (mm), on frames written by `inspection sim tactile`."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import InputError
from inspection.records import TACTILE_CLASSES, TactileFinding
from inspection.tactile.acceptance import AcceptanceRules
from inspection.tactile.calibration import Calibration
from inspection.tactile.depth_scale import DepthScale, fit_depth_scale
from inspection.tactile.measure import Measurement

# The gel bridges a fastener hole: what measure reports as its depth is how far the gel sags, a lower
# bound, so its depth is left out of the depth errors (its diameter is scored).
DEPTH_NOT_FELT = ("missing_fastener",)
# Issue #15's sign-off figure: depth MAE over the defects deeper than this (mm), which acceptance limits judge.
SIGN_OFF_DEPTH_MM = 0.05


def classification_metrics(truth: list[int], predicted: list[int]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows: truth)."""
    k = len(TACTILE_CLASSES)
    confusion = np.zeros((k, k), int)
    for t, p in zip(truth, predicted):
        confusion[t, p] += 1
    per_class = {}
    for i, name in enumerate(TACTILE_CLASSES):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                           "f1": round(float(f1), 4), "support": int(confusion[i].sum())}
    accuracy = float(np.trace(confusion) / max(confusion.sum(), 1))
    return {"accuracy": round(accuracy, 4), "per_class": per_class, "confusion": confusion.tolist()}


def _mean(values: list[float | None], digits: int) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.mean(known)), digits) if known else None


def _median(values: list[float | None], digits: int) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.median(known)), digits) if known else None


@dataclass(frozen=True)
class PressOutcome:
    """One labelled frame through Stage II without a reference: the class called and, where the frame holds a
    defect and the call is one, its measurement with the called class (the depth as the gel reports it)."""

    label: dict[str, Any]
    called: str
    measurement: Measurement | None
    seconds: float  # reconstruction and classification


def run_presses(dataset_dir: str | Path, weights: str | Path, calibration: Calibration, device: str = "cpu",
                progress: bool = True, desc: str = "evaluate") -> tuple[dict[str, Any], list[PressOutcome]]:
    """Reconstruct, classify and measure every frame of a defect dataset of `inspection sim tactile`; the
    dataset's meta and the outcomes."""
    from inspection.datasets.tactile import TactileDataset
    from inspection.progress import progress_bar
    from inspection.tactile.classifier import TactileClassifier
    from inspection.tactile.measure import measure, on_part
    from inspection.tactile.reconstruct import Reconstructor

    dataset = TactileDataset(dataset_dir)
    if dataset.meta.get("kind") != "defects":
        raise InputError(f"{dataset_dir}: a {dataset.meta.get('kind')!r} dataset; evaluation needs defect presses")
    reconstructor = Reconstructor(calibration, dataset.background)
    classifier = TactileClassifier(weights, device)
    outcomes = []
    for frame, label in progress_bar(dataset, total=len(dataset), desc=desc, unit="frame", enabled=progress):
        started = time.perf_counter()
        rec, residual = on_part(reconstructor.reconstruct(frame))  # as Stage II sees a press without a reference
        prediction = classifier.predict(rec, residual)
        seconds = time.perf_counter() - started
        measured = None
        if label["class_name"] != "none" and prediction.class_name != "none":
            measured = measure(rec, prediction.class_name, residual)
        outcomes.append(PressOutcome(label, prediction.class_name, measured, seconds))
    return dataset.meta, outcomes


def depth_scale_from_dataset(dataset_dir: str | Path, weights: str | Path, calibration: Calibration,
                             device: str = "cpu", progress: bool = True) -> tuple[DepthScale, list[str]]:
    """Per-class depth factors fitted on the defects of known depth in ``dataset_dir`` (``fit_depth_scale``),
    measured as Stage II measures them with ``calibration``'s lookup; and the classes left at 1."""
    presses = [(o.called, o.measurement.depth_mm, o.label["defects"][0]["depth_mm"])
               for o in run_presses(dataset_dir, weights, calibration, device, progress, desc="depth-scale")[1]
               if o.measurement is not None and o.label["class_name"] not in DEPTH_NOT_FELT]
    return fit_depth_scale(presses, str(dataset_dir))


def scale_depths(outcomes: list[PressOutcome], scale: DepthScale) -> list[PressOutcome]:
    """``outcomes`` with each measured depth scaled as Stage II scales it (``run_presses`` leaves them as the
    gel reports them, which is what the factors are fitted on)."""
    return [replace(o, measurement=scale.scaled(o.measurement, o.called)) if o.measurement is not None else o
            for o in outcomes]


def _finding(class_name: str, depth_mm: float, width_mm: float, length_mm: float) -> TactileFinding:
    return TactileFinding("press", "", 0, class_name, 1.0, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), depth_mm, width_mm, length_mm)


def acceptance_agreement(outcomes: list[PressOutcome], rules: AcceptanceRules,
                         zone: str = "default") -> dict[str, Any]:
    """What the sizes are for: over the frames with a defect, how often Stage II's verdict (class called and
    the sizes measured, depths scaled as Stage II scales them: ``scale_depths``) differs from the verdict on
    the true class and sizes, under ``rules`` in ``zone``. A defect called clean is passed."""
    passed_beyond = rejected_within = beyond = defects = 0
    for outcome in outcomes:
        label = outcome.label
        if label["class_name"] == "none":
            continue
        gt = label["defects"][0]
        truth = _finding(label["class_name"], gt["depth_mm"], gt["width_mm"], gt["length_mm"])
        if outcome.measurement is None:
            measured = _finding("none", 0.0, 0.0, 0.0)
        else:
            result = outcome.measurement
            measured = _finding(outcome.called, result.depth_mm, result.width_mm, result.length_mm)
        truly_rejected = not rules.judge(truth, zone).accepted
        defects += 1
        beyond += truly_rejected
        called_rejected = not rules.judge(measured, zone).accepted
        passed_beyond += truly_rejected and not called_rejected
        rejected_within += called_rejected and not truly_rejected
    return {"rules": rules.source, "zone": zone, "defects": defects, "beyond_limits": beyond,
            "passed_beyond_limits": passed_beyond, "rejected_within_limits": rejected_within}


def evaluate_dataset(dataset_dir: str | Path, weights: str | Path, calibration_path: str | Path,
                     device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Run reconstruction, classification and measurement on every frame and compare with the labels.

    Size errors are over frames with a defect that the classifier also called a defect, measured with
    the predicted class (as the pipeline does) and its depth scaled by the calibration's factor for that
    class (as Stage II does); a missed defect counts in the recall, not in the MAE. A missing fastener's
    depth is not scored (see ``DEPTH_NOT_FELT``).
    """
    calibration = Calibration.load(calibration_path)
    meta, measured = run_presses(dataset_dir, weights, calibration, device, progress)
    outcomes = scale_depths(measured, calibration.depth_scale)
    truth = [TACTILE_CLASSES.index(o.label["class_name"]) for o in outcomes]
    predicted = [TACTILE_CLASSES.index(o.called) for o in outcomes]
    errors: dict[str, list[tuple[float | None, float, float | None, bool]]] = {name: [] for name in TACTILE_CLASSES[1:]}
    for outcome in outcomes:
        if outcome.measurement is None:
            continue
        label, result = outcome.label, outcome.measurement
        gt = label["defects"][0]
        felt = label["class_name"] not in DEPTH_NOT_FELT
        errors[label["class_name"]].append((abs(result.depth_mm - gt["depth_mm"]) if felt else None,
                                            abs(result.width_mm - gt["width_mm"]),
                                            result.depth_mm / max(gt["depth_mm"], 1e-9) if felt else None,
                                            felt and gt["depth_mm"] > SIGN_OFF_DEPTH_MM))
    report = classification_metrics(truth, predicted)
    every = [e for values in errors.values() for e in values]
    report["depth_mae_mm"] = _mean([e[0] for e in every], 4)
    report["width_mae_mm"] = _mean([e[1] for e in every], 4)
    deep = [e for e in every if e[3]]
    report["deep_defects"] = {"deeper_than_mm": SIGN_OFF_DEPTH_MM, "frames": len(deep),
                              "depth_mae_mm": _mean([e[0] for e in deep], 4),
                              "depth_mae_mm_per_class": {name: _mean([e[0] for e in v if e[3]], 4)
                                                         for name, v in errors.items() if any(e[3] for e in v)}}
    report["size_per_class"] = {
        name: {"frames": len(v), "depth_mae_mm": _mean([e[0] for e in v], 4),
               "width_mae_mm": _mean([e[1] for e in v], 4),
               "depth_ratio_median": _median([e[2] for e in v], 3)}
        for name, v in errors.items() if v
    }
    report["frames"] = len(truth)
    report["dataset"] = str(dataset_dir)
    report["seed"] = meta.get("seed")
    report["acceptance"] = acceptance_agreement(outcomes, AcceptanceRules.load(None))
    report["ms_per_frame_median"] = round(1e3 * float(np.median([o.seconds for o in outcomes])), 2)
    report["depth_scale"] = calibration.depth_scale.to_meta()["factors"]
    return report
