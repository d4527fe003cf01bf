"""The depth the gel reports, scaled back to the defect's own depth: one factor per class, fitted on presses of
defects whose depth is known.

Why: the gel cannot follow a narrow defect to its bottom, and at 58 um per pixel a 0.1 mm wide crack or a
pit's tip falls between pixel centres, so the measured depth is a fraction of the true one that depends on
the class (measured / true, median over simulated presses: crack 0.24, pit 0.45, scratch 0.63, dent 0.88,
bump 0.93; docs/tactile.md). Acceptance compares depths with limits: a scratch read at 0.6 of its depth
passes a limit it breaks. A factor per class removes that bias; it cannot remove the spread around it (a
crack's width, below the pixel, decides how far the gel sinks in).

The factor is the median of true / measured over the fitting presses, taken in log so that reading half and
reading double weigh alike, and robust to the few presses where the peak lands off the defect. It is keyed
by the class Stage II *called*, as the pipeline only knows that one. Chosen on validation presses (two halves
of one simulated seed, each fitted on the other) over a log-linear fit in the measured depth, width and
length, which did no better (docs/tactile.md, Figures). On a real sensor the presses are of a reference block
with defects of known depth (`inspection tactile depth-scale`; docs/tactile.md, "Calibrating a real GelSight
Mini", step 8).

The factors travel in the sensor's calibration file (its ``meta``), beside the colour-to-slope lookup they
belong with: a calibration without them measures as before.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, TypeVar

import numpy as np

from inspection.errors import InputError
from inspection.records import TACTILE_CLASSES

# A measurement: a dataclass with a ``depth_mm`` field (tactile.measure.Measurement, which this module cannot
# import: measure imports the reconstruction, which imports the calibration, which imports this).
Sized = TypeVar("Sized")

META_KEY = "depth_scale"
# Fewer presses of a class than this and its factor would rest on noise: the class keeps factor 1.
MIN_PRESSES_PER_CLASS = 10
# The gel bridges a fastener hole: its measured depth is how far the gel sags, not the hole's depth.
NOT_SCALED = ("none", "missing_fastener")


@dataclass(frozen=True)
class DepthScale:
    """Measured depth x ``factors[class]`` (1 for a class without one)."""

    factors: Mapping[str, float] = field(default_factory=dict)
    presses: Mapping[str, int] = field(default_factory=dict)  # how many presses each factor was fitted on
    source: str = ""  # what the factors were fitted on (a dataset folder)

    def apply(self, class_name: str, depth_mm: float) -> float:
        return depth_mm * self.factors.get(class_name, 1.0)

    def scaled(self, measurement: Sized, class_name: str) -> Sized:
        """``measurement`` of a ``class_name`` defect with its depth scaled: what Stage II reports."""
        return replace(measurement, depth_mm=self.apply(class_name, measurement.depth_mm))

    def to_meta(self) -> dict[str, Any]:
        return {"factors": {c: round(f, 4) for c, f in sorted(self.factors.items())},
                "presses": dict(sorted(self.presses.items())), "source": self.source}

    @staticmethod
    def from_meta(meta: Mapping[str, Any], where: str) -> "DepthScale":
        """The factors stored under ``META_KEY`` in a calibration's meta; none stored: every factor 1.

        Raises:
            InputError: naming ``where`` and the field, when a factor is not a positive number of a known class.
        """
        stored = meta.get(META_KEY)
        if stored is None:
            return DepthScale()
        factors = stored.get("factors") if isinstance(stored, dict) else None
        if not isinstance(factors, dict):
            raise InputError(f"{where}: meta.{META_KEY}.factors: expected a mapping of class to factor")
        for name, factor in factors.items():
            if name not in TACTILE_CLASSES or name in NOT_SCALED:
                raise InputError(f"{where}: meta.{META_KEY}.factors.{name}: not a class whose depth is measured")
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < math.inf:
                raise InputError(f"{where}: meta.{META_KEY}.factors.{name}: expected a positive number, got {factor!r}")
        presses = stored.get("presses")  # what the fit saw: shown, never used to measure
        return DepthScale({k: float(v) for k, v in factors.items()}, presses if isinstance(presses, dict) else {},
                          str(stored.get("source", "")))


def fit_depth_scale(presses: Iterable[tuple[str, float, float]], source: str,
                    min_presses: int = MIN_PRESSES_PER_CLASS) -> tuple[DepthScale, list[str]]:
    """Per called class, the median true / measured depth ratio (in log) over ``presses`` of
    (class called, measured depth mm, true depth mm); presses measured or labelled at depth 0 and classes
    that are not scaled are left out. Returns the scale and the classes left at 1 for want of presses."""
    ratios: dict[str, list[float]] = defaultdict(list)
    for class_name, measured_mm, true_mm in presses:
        if class_name not in NOT_SCALED and measured_mm > 0 and true_mm > 0:
            ratios[class_name].append(math.log(true_mm / measured_mm))
    fitted = {c: v for c, v in ratios.items() if len(v) >= min_presses}
    too_few = sorted(c for c in TACTILE_CLASSES if c not in NOT_SCALED and c not in fitted)
    scale = DepthScale({c: float(np.exp(np.median(v))) for c, v in fitted.items()},
                       {c: len(v) for c, v in fitted.items()}, source)
    return scale, too_few
