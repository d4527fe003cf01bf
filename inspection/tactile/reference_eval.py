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
from inspection.tactile.reference import DEFAULT_MARGIN, MIN_FRAMES, GoodReference, fit_reference, frame_digest


def auroc(good_scores: list[float], fault_scores: list[float]) -> float:
    """Mann-Whitney estimate of P(fault score > good score)."""
    good, fault = np.asarray(good_scores, float), np.asarray(fault_scores, float)
    above = (fault[:, None] > good[None, :]).sum() + 0.5 * (fault[:, None] == good[None, :]).sum()
    return float(above / (len(good) * len(fault)))


def _frame_paths(root: Path) -> dict[str, list[Path]]:
    paths: dict[str, list[Path]] = {}
    for label in ("good", "fault"):
        folder = root / label
        if not folder.is_dir():
            raise InputError(f"{folder}: missing; the dataset needs good/ and fault/ sub-folders of frames")
        paths[label] = sorted(folder.glob("*.png"))
        if not paths[label]:
            raise InputError(f"{folder}: no *.png frames")
    return paths


def held_out_reference(dataset_dir: str | Path, fit_good: int, seed: int = 0,
                       margin: float = DEFAULT_MARGIN) -> GoodReference:
    """A reference fitted on ``fit_good`` of the folder's good frames, drawn with ``seed``.

    The protocol of a part the method was not tuned on: fit on a few good presses, test on the rest
    (``evaluate_folder`` marks the fitted frames ``in_reference`` and leaves them out of the rates).
    """
    from inspection.datasets.tactile import read_rgb

    good = _frame_paths(Path(dataset_dir))["good"]
    if not MIN_FRAMES <= fit_good < len(good):
        raise InputError(f"--fit-good {fit_good}: expected {MIN_FRAMES} to {len(good) - 1} "
                         f"(the folder has {len(good)} good frames and at least one must be left to test)")
    chosen = sorted(np.random.default_rng(seed).choice(len(good), fit_good, replace=False))
    return fit_reference([read_rgb(good[i]) for i in chosen], [good[i].name for i in chosen], margin)


def evaluate_folder(dataset_dir: str | Path, reference: GoodReference, reference_name: str) -> dict[str, Any]:
    """Score every frame of ``good/`` and ``fault/`` (``*.png``) against the reference.

    Good frames the reference was fitted on are listed but not counted in the false-reject rate or
    AUROC: a reference always explains its own frames, so counting them would flatter it.
    """
    from inspection.datasets.tactile import read_rgb

    root = Path(dataset_dir)
    fitted = set(reference.meta.get("frame_digests", []))
    rows: list[dict[str, Any]] = []
    scores: dict[str, list[float]] = {"good": [], "fault": []}
    timings = []
    for label, paths in _frame_paths(root).items():
        for path in paths:
            frame = read_rgb(path)
            started = time.perf_counter()
            result = reference.anomaly(frame)
            timings.append(time.perf_counter() - started)
            in_reference = label == "good" and frame_digest(frame) in fitted
            if not in_reference:
                scores[label].append(result.score)
            rows.append({"file": f"{label}/{path.name}", "label": label, "score": round(result.score, 3),
                         "flagged": result.flagged, "peak_xy": [round(v, 1) for v in result.peak_px],
                         "in_reference": in_reference})
    if not scores["good"]:
        raise InputError(f"{root / 'good'}: every good frame was used to fit the reference; none is left to "
                         "test (fit on fewer, e.g. --fit-good)")
    good_fitted = sum(r["in_reference"] for r in rows)
    good_flagged = sum(r["flagged"] for r in rows if r["label"] == "good" and not r["in_reference"])
    fault_flagged = sum(r["flagged"] for r in rows if r["label"] == "fault")
    return {"dataset": str(root), "reference": reference_name, "threshold": round(reference.threshold, 3),
            "good_frames": len(scores["good"]), "fault_frames": len(scores["fault"]),
            "auroc": round(auroc(scores["good"], scores["fault"]), 4),
            "false_reject_rate": round(good_flagged / len(scores["good"]), 4),
            "detection_rate": round(fault_flagged / len(scores["fault"]), 4),
            "good_frames_in_reference": good_fitted,
            "ms_per_frame_median": round(1e3 * float(np.median(timings)), 2),
            "frames": rows}
