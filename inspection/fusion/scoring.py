"""Scoring against simulator ground truth: which true defects were found, and which reports were false.

Matching is class-agnostic (the paper's "defects identified"); class agreement is reported apart.
A prediction matches a true defect when its centre lies within the defect's half-extent plus a
tolerance (long scratches may be reported anywhere along their length); each side matches once,
nearest pairs first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

MATCH_TOLERANCE_M = 0.004


@dataclass(frozen=True)
class TruthDefect:
    id: str
    class_name: str
    center: tuple[float, float, float]
    extent_m: tuple[float, float]
    depth_m: float
    camera_visible: bool | None = None
    camera_resolvable: bool | None = None  # large and contrasted enough for the camera's optics (sim.render)

    @staticmethod
    def from_ground_truth(record: dict[str, Any]) -> "TruthDefect":
        return TruthDefect(
            str(record["id"]), str(record["class_name"]), tuple(record["center"]), tuple(record["extent_m"]),
            float(record["depth_m"]), record.get("camera_visible"), record.get("camera_resolvable"),
        )


@dataclass(frozen=True)
class MatchResult:
    pairs: list[tuple[int, int]]  # (prediction index, truth index)
    true_count: int
    predicted_count: int

    @property
    def recall(self) -> float | None:
        return len(self.pairs) / self.true_count if self.true_count else None

    @property
    def precision(self) -> float | None:
        return len(self.pairs) / self.predicted_count if self.predicted_count else None

    def found_truth(self) -> set[int]:
        return {t for _, t in self.pairs}


def match(predicted: Sequence[tuple[float, float, float]], truths: Sequence[TruthDefect],
          tolerance_m: float = MATCH_TOLERANCE_M) -> MatchResult:
    """Greedy one-to-one matching of predicted centres to true defects, nearest first."""
    candidates = []
    for p, position in enumerate(predicted):
        for t, truth in enumerate(truths):
            distance = float(np.linalg.norm(np.subtract(position, truth.center)))
            if distance <= 0.5 * max(truth.extent_m) + tolerance_m:
                candidates.append((distance, p, t))
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, p, t in sorted(candidates):
        if p not in used_p and t not in used_t:
            used_p.add(p)
            used_t.add(t)
            pairs.append((p, t))
    return MatchResult(pairs, len(truths), len(predicted))
