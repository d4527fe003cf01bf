"""A good-press reference against real frames without depth labels: a folder with ``good/`` and
``fault/`` sub-folders in, AUROC, false-reject rate and detection rate at the reference's operating
threshold out, with each frame's score, flag and the pixel of its strongest anomaly.

AUROC is the probability that a fault frame scores above a good frame (ties count half): it says how
well the score separates the two, independent of the threshold; the rates say how the threshold,
chosen from the reference's good frames only, does on these.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import InputError
from inspection.tactile.reference import GoodReference


def auroc(good_scores: list[float], fault_scores: list[float]) -> float:
    """Mann-Whitney estimate of P(fault score > good score)."""
    good, fault = np.asarray(good_scores, float), np.asarray(fault_scores, float)
    above = (fault[:, None] > good[None, :]).sum() + 0.5 * (fault[:, None] == good[None, :]).sum()
    return float(above / (len(good) * len(fault)))


def evaluate_folder(dataset_dir: str | Path, reference_path: str | Path) -> dict[str, Any]:
    """Score every frame of ``good/`` and ``fault/`` (``*.png``) against the reference."""
    from inspection.datasets.tactile import read_rgb

    root = Path(dataset_dir)
    reference = GoodReference.load(reference_path)
    fitted = set(reference.meta.get("frames", []))
    rows: list[dict[str, Any]] = []
    scores: dict[str, list[float]] = {"good": [], "fault": []}
    timings = []
    for label in ("good", "fault"):
        folder = root / label
        if not folder.is_dir():
            raise InputError(f"{folder}: missing; the dataset needs good/ and fault/ sub-folders of frames")
        paths = sorted(folder.glob("*.png"))
        if not paths:
            raise InputError(f"{folder}: no *.png frames")
        for path in paths:
            frame = read_rgb(path)
            started = time.perf_counter()
            result = reference.anomaly(frame)
            timings.append(time.perf_counter() - started)
            scores[label].append(result.score)
            rows.append({"file": f"{label}/{path.name}", "label": label, "score": round(result.score, 3),
                         "flagged": result.flagged, "peak_xy": [round(v, 1) for v in result.peak_px],
                         "in_reference": path.name in fitted})
    good_flagged = sum(r["flagged"] for r in rows if r["label"] == "good")
    fault_flagged = sum(r["flagged"] for r in rows if r["label"] == "fault")
    return {"dataset": str(root), "reference": str(reference_path), "threshold": round(reference.threshold, 3),
            "good_frames": len(scores["good"]), "fault_frames": len(scores["fault"]),
            "auroc": round(auroc(scores["good"], scores["fault"]), 4),
            "false_reject_rate": round(good_flagged / len(scores["good"]), 4),
            "detection_rate": round(fault_flagged / len(scores["fault"]), 4),
            "good_frames_in_reference": sum(r["in_reference"] for r in rows if r["label"] == "good"),
            "ms_per_frame_median": round(1e3 * float(np.median(timings)), 2),
            "frames": rows}
