"""Touch where doubt is: the probability that a scan region holds a defect, and a press budget spent on
the regions that find the most defects per press.

A detector's confidence is a score, not a probability: 0.3 may mean "a defect four times in five" for one
model and "one time in ten" for another. ``fit_isotonic`` maps it to the share of regions that held a
true defect on a tuning seed of simulated parts (isotonic regression, pool adjacent violators: monotone,
no shape assumed), and ``DefectCalibration`` applies that map, one per Stage I finder (the detector, the
spot filter), since a spot's confidence is not the detector's. ``PressBudgetModifier`` is a tool-path
modifier (planning.interfaces): it keeps the presses with the highest expected number of defects found
per press until the budget is spent. Every press costs about the same arm time (approach, dwell,
retreat and a short transit between nearby regions), so the same order is also the most defects found
per second of arm time.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.optimize import isotonic_regression

from inspection.atomic import write_text_atomic
from inspection.errors import InputError
from inspection.planning.interfaces import ToolPaths
from inspection.records import FINDERS

CALIBRATION_SCHEMA = "inspection.defect_calibration/1"


@dataclass(frozen=True)
class DefectCalibration:
    """Piecewise-linear map from detector confidence to the probability that a region holds a defect.

    The learned detector's confidence and the spot filter's (``records.FINDERS``) mean different things: a
    spot's fixed 0.2 says nothing of how often spots are pits. Each finder other than the detector gets its
    own map in ``finders``; a finder without one has its confidence taken as the probability."""

    confidence: tuple[float, ...] = (0.0, 1.0)  # knots, increasing
    probability: tuple[float, ...] = (0.0, 1.0)  # non-decreasing; the identity when uncalibrated
    meta: dict[str, Any] = field(default_factory=dict)  # what it was fitted on (seed, parts, regions)
    finders: dict[str, "DefectCalibration"] = field(default_factory=dict)  # finder -> its own map

    def __call__(self, confidence: float, finder: str = "detector") -> float:
        if finder != "detector":
            own = self.finders.get(finder)
            return own(confidence) if own is not None else float(confidence)
        return float(np.interp(confidence, self.confidence, self.probability))

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schema": CALIBRATION_SCHEMA, "confidence": list(self.confidence),
                                    "probability": list(self.probability), "meta": self.meta}
        if self.finders:
            document["finders"] = {name: {key: value for key, value in own.to_json().items() if key != "schema"}
                                   for name, own in self.finders.items()}
        return document

    def save(self, path: Path) -> Path:
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    @staticmethod
    def load(path: str | Path) -> "DefectCalibration":
        """Read a calibration file; every fault names the file and the field."""
        from inspection.json_codec import read_json_file

        document = read_json_file(Path(path))
        if not isinstance(document, dict) or document.get("schema") != CALIBRATION_SCHEMA:
            raise InputError(f"{path}: not a defect calibration (expected schema {CALIBRATION_SCHEMA}; "
                             f"make one with `inspection train doubt`)")
        finders = document.get("finders", {})
        if not isinstance(finders, dict) or not all(name in FINDERS and name != "detector" for name in finders):
            raise InputError(f"{path}: finders: expected an object keyed by "
                             f"{[name for name in FINDERS if name != 'detector']}")
        return DefectCalibration._read_map(document, f"{path}: ", {
            name: DefectCalibration._read_map(own, f"{path}: finders.{name}.") for name, own in finders.items()})

    @staticmethod
    def _read_map(document: Any, where: str, finders: dict[str, "DefectCalibration"] | None = None,
                  ) -> "DefectCalibration":
        if not isinstance(document, dict):
            raise InputError(f"{where.rstrip('. ')}: expected an object with confidence and probability")
        knots = []
        for key in ("confidence", "probability"):
            values = document.get(key)
            if (not isinstance(values, list) or len(values) < 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
                               for v in values)):
                raise InputError(f"{where}{key}: expected a list of at least 2 numbers from 0 to 1")
            knots.append(tuple(float(v) for v in values))
        confidence, probability = knots
        if len(confidence) != len(probability):
            raise InputError(f"{where}confidence and probability: {len(confidence)} and {len(probability)} "
                             f"knots, expected as many")
        if any(b <= a for a, b in zip(confidence, confidence[1:])) or any(
                b < a for a, b in zip(probability, probability[1:])):
            raise InputError(f"{where}confidence must increase and probability never decrease")
        meta = document.get("meta", {})
        return DefectCalibration(confidence, probability, meta if isinstance(meta, dict) else {}, finders or {})


def fit_isotonic(confidences: Sequence[float], held_defect: Sequence[bool],
                 meta: dict[str, Any] | None = None) -> DefectCalibration:
    """The monotone map that best fits (least squares) whether each region held a true defect.

    Regions of equal confidence are one point at their share of defects, weighted by their number (a
    finder with one fixed confidence, the spot filter's, gets that share). Pool adjacent violators
    (scipy.optimize.isotonic_regression) over those points sorted by confidence; each pooled block becomes
    two knots (its lowest and highest confidence) at the block's share of defects, so the map is flat
    inside a block and linear between blocks. Outside the tuning range it stays at the end values.
    """
    if len(confidences) != len(held_defect) or not confidences:
        raise InputError(f"fit_isotonic: {len(confidences)} confidences and {len(held_defect)} labels; "
                         f"need as many, at least one")
    x, point, count = np.unique(np.asarray(confidences, dtype=float), return_inverse=True, return_counts=True)
    y = np.bincount(point, weights=np.asarray(held_defect, dtype=float), minlength=len(x)) / count
    fit = isotonic_regression(y, weights=count.astype(float))
    knots: list[tuple[float, float]] = []
    for start, end in zip(fit.blocks[:-1], fit.blocks[1:]):
        for point in (x[start], x[end - 1]):
            if not knots or point > knots[-1][0]:
                knots.append((point, float(fit.x[start])))
    if len(knots) == 1:  # one confidence value in the tuning set: a flat map
        knots = [(0.0, knots[0][1]), (1.0, knots[0][1])]
    return DefectCalibration(tuple(float(k[0]) for k in knots), tuple(float(k[1]) for k in knots),
                             {**(meta or {}), "regions": len(held_defect), "with_defect": int(sum(held_defect))})


@dataclass(frozen=True)
class PressBudget:
    """How much touch a part gets: at most ``max_presses`` (0: no cap), and no more once the expected
    number of defects left in unpressed regions is at most ``residual_risk`` (0: no such stop). With
    both 0 every region is pressed, the paper's behaviour."""

    max_presses: int = 0
    residual_risk: float = 0.0
    calibration: DefectCalibration = DefectCalibration()

    @property
    def limited(self) -> bool:
        return self.max_presses > 0 or self.residual_risk > 0


@dataclass(frozen=True)
class PressBudgetModifier:
    """Keeps the presses that find the most expected defects within ``budget`` (tool-path modifier).

    A region's probability of a defect is shared equally among the presses that touch it (a defect is
    as likely under any of them), so a press is worth the sum of its regions' shares: one press on a
    small, likely region comes before each of fifteen on a large, doubtful one, and a large region can be
    pressed in part. Regions left with no press are listed in ``ToolPaths.skipped`` with the reason,
    never dropped silently."""

    probabilities: dict[str, float]  # region id -> probability it holds a defect
    budget: PressBudget

    def modify(self, tool_paths: ToolPaths) -> ToolPaths:
        if not self.budget.limited or not tool_paths.paths:
            return tool_paths
        presses = [(g, k, press) for g, path in enumerate(tool_paths.paths) for k, press in enumerate(path.presses)]
        touching = Counter(r for _, _, press in presses for r in press.regions)
        worth = [sum(self.probabilities.get(r, 1.0) / touching[r] for r in press.regions) for _, _, press in presses]
        left = math.fsum(worth)  # expected defects under the presses not (yet) kept
        kept: set[int] = set()
        reason = ""
        for i in sorted(range(len(presses)), key=lambda i: -worth[i]):  # stable: ties keep the planned order
            if self.budget.residual_risk > 0 and left <= self.budget.residual_risk + 1e-12:
                reason = f"residual risk {left:.3f} expected defects within {self.budget.residual_risk}"
                break
            if self.budget.max_presses > 0 and len(kept) >= self.budget.max_presses:
                reason = f"press budget {self.budget.max_presses} spent"
                break
            kept.add(i)
            left -= worth[i]
        paths = []
        for g, path in enumerate(tool_paths.paths):
            chosen = tuple(press for i, (h, _, press) in enumerate(presses) if h == g and i in kept)
            if chosen:
                paths.append(replace(path, presses=chosen))
        pressed = {r for i in kept for r in presses[i][2].regions}
        skipped = tuple((r, f"{reason}; p(defect) {self.probabilities.get(r, 1.0):.3f}")
                        for path in tool_paths.paths for r in path.regions if r not in pressed)
        return replace(tool_paths, paths=tuple(paths), skipped=tool_paths.skipped + skipped)
