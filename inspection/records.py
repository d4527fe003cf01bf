"""Core data model shared by every stage: SI units (metres, radians) in the part frame, REP-103.

Millimetres appear only in fields whose name ends in ``_mm``, because acceptance rules and the
report are written in millimetres.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import ClassVar

from inspection.json_codec import JsonRecord, SchemaError

Vector3 = tuple[float, float, float]

# Geometric defects change the surface shape and can be felt; optical ones change albedo/gloss only.
# A missing fastener (a rivet hole without its head) is geometric: the sensor feels the hole.
GEOMETRIC_CLASSES: tuple[str, ...] = ("scratch", "dent", "pit", "bump", "crack", "missing_fastener")
OPTICAL_CLASSES: tuple[str, ...] = ("stain", "paint_loss")
DEFECT_CLASSES: tuple[str, ...] = GEOMETRIC_CLASSES + OPTICAL_CLASSES
# What the tactile classifier can say: a clean contact ("none") or a geometric class.
TACTILE_CLASSES: tuple[str, ...] = ("none",) + GEOMETRIC_CLASSES
# Which Stage I finder made a detection: the learned detector, the spot filter for pits too small for it
# (vision.spots), or photometric stereo for shape the ring-lit frame hides (vision.shape). Their confidences
# mean different things, so the planner calibrates each apart (planning.doubt).
FINDERS: tuple[str, ...] = ("detector", "spot", "shape")


class Source(str, enum.Enum):
    """Which stage produced the evidence for a defect."""

    VISION = "vision"
    TACTILE = "tactile"
    BOTH = "both"


def _check_finite(name: str, values: tuple[float, ...]) -> None:
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise SchemaError(f"{name}[{i}]: expected a finite number, got {v!r}")


def _unit(name: str, v: Vector3) -> Vector3:
    """Normalise a direction; a zero or non-finite vector is an error naming the field."""
    _check_finite(name, v)
    norm = math.sqrt(sum(c * c for c in v))
    if norm < 1e-9:
        raise SchemaError(f"{name}: zero-length vector {list(v)} cannot be a direction")
    if abs(norm - 1.0) < 1e-12:
        return v  # already unit: keep it bit-exact so JSON round-trips compare equal
    return (v[0] / norm, v[1] / norm, v[2] / norm)


def _unit_or_unknown(name: str, v: Vector3) -> Vector3:
    """A direction normalised, or zeros kept as "not measured"."""
    _check_finite(name, v)
    return _unit(name, v) if any(v) else (0.0, 0.0, 0.0)


def _check_class(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise SchemaError(f"{name}: {value!r} is not one of {list(valid)}")


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not (low <= value <= high):
        raise SchemaError(f"{name}: {value!r} is outside [{low}, {high}]")


@dataclass(frozen=True)
class LatentEvidence(JsonRecord):
    """One sparse-autoencoder latent that fired at a detection (the explainer, vision_node.explain):
    its id, its mean activation over the box and its atlas label (what it fires on)."""

    KIND: ClassVar[str] = "latent_evidence"
    latent: int
    activation: float
    label: str = ""

    def __post_init__(self) -> None:
        _check_finite("activation", (self.activation,))


@dataclass(frozen=True)
class Detection2D(JsonRecord):
    """A box in image pixels (x right, y down), as a detector returns it."""

    KIND: ClassVar[str] = "detection_2d"
    x1: float
    y1: float
    x2: float
    y2: float
    class_name: str
    confidence: float
    view_id: str = ""
    explanation: tuple[LatentEvidence, ...] = ()  # strongest SAE latents at the box, when explained
    finder: str = "detector"  # one of FINDERS

    def __post_init__(self) -> None:
        _check_class("finder", self.finder, FINDERS)
        _check_finite("box", (self.x1, self.y1, self.x2, self.y2))
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise SchemaError(f"box: non-positive size ({self.x1}, {self.y1}, {self.x2}, {self.y2})")
        _check_range("confidence", self.confidence, 0.0, 1.0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


@dataclass(frozen=True)
class DefectHypothesis(JsonRecord):
    """A Stage I defect localised on the part: where it is, which way the surface faces, how big it is."""

    KIND: ClassVar[str] = "defect_hypothesis"
    id: str
    class_name: str
    confidence: float
    position: Vector3
    normal: Vector3
    extent_m: tuple[float, float]
    source: Source = Source.VISION
    view_ids: tuple[str, ...] = ()
    explanation: tuple[LatentEvidence, ...] = ()  # of the detection it came from, when explained
    finder: str = "detector"  # of that detection (FINDERS)

    def __post_init__(self) -> None:
        _check_class("class_name", self.class_name, DEFECT_CLASSES)
        _check_class("finder", self.finder, FINDERS)
        _check_range("confidence", self.confidence, 0.0, 1.0)
        _check_finite("position", self.position)
        object.__setattr__(self, "normal", _unit("normal", self.normal))
        _check_finite("extent_m", self.extent_m)
        if min(self.extent_m) < 0:
            raise SchemaError(f"extent_m: negative size {list(self.extent_m)}")


@dataclass(frozen=True)
class ScanRegion(JsonRecord):
    """A patch of the part surface that Stage II must touch: centre, outward normal, radius (metres)."""

    KIND: ClassVar[str] = "scan_region"
    id: str
    center: Vector3
    normal: Vector3
    radius_m: float
    hypothesis_ids: tuple[str, ...] = ()
    # The detector's highest confidence among the region's hypotheses; the planner turns it into a
    # probability of a defect (planning.doubt) to spend a press budget where doubt is. 1: always pressed first.
    confidence: float = 1.0
    finder: str = "detector"  # who found that most confident hypothesis (FINDERS): whose calibration applies

    def __post_init__(self) -> None:
        _check_class("finder", self.finder, FINDERS)
        _check_finite("center", self.center)
        object.__setattr__(self, "normal", _unit("normal", self.normal))
        _check_range("confidence", self.confidence, 0.0, 1.0)
        if not math.isfinite(self.radius_m) or self.radius_m <= 0:
            raise SchemaError(f"radius_m: expected a positive number of metres, got {self.radius_m!r}")
        if self.radius_m > 1.0:
            raise SchemaError(f"radius_m: {self.radius_m} m is larger than any part; were millimetres given?")


@dataclass(frozen=True)
class TactileFinding(JsonRecord):
    """What one tactile press found: class, confidence and size in millimetres, placed on the part."""

    KIND: ClassVar[str] = "tactile_finding"
    id: str
    region_id: str
    press_index: int
    class_name: str
    confidence: float
    position: Vector3
    normal: Vector3
    depth_mm: float = 0.0
    width_mm: float = 0.0
    length_mm: float = 0.0
    # Unit vector along the defect's length on the part (the major axis of what the press saw); zeros when
    # not measured: a clean contact, or a record written before it was.
    direction: Vector3 = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _check_class("class_name", self.class_name, TACTILE_CLASSES)
        _check_range("confidence", self.confidence, 0.0, 1.0)
        _check_finite("position", self.position)
        object.__setattr__(self, "normal", _unit("normal", self.normal))
        object.__setattr__(self, "direction", _unit_or_unknown("direction", self.direction))
        for name in ("depth_mm", "width_mm", "length_mm"):
            _check_range(name, getattr(self, name), 0.0)

    @property
    def is_defect(self) -> bool:
        return self.class_name != "none"


@dataclass(frozen=True)
class Verdict(JsonRecord):
    """Acceptance decision for one defect and the rule that decided it."""

    KIND: ClassVar[str] = "verdict"
    accepted: bool
    rule: str


@dataclass(frozen=True)
class FusedDefect(JsonRecord):
    """One defect in the final report, with the evidence it rests on."""

    KIND: ClassVar[str] = "fused_defect"
    id: str
    class_name: str
    source: Source
    confidence: float
    position: Vector3
    normal: Vector3
    width_mm: float
    length_mm: float
    depth_mm: float | None = None
    verdict: Verdict | None = None
    vision_ids: tuple[str, ...] = ()
    tactile_ids: tuple[str, ...] = ()
    # kind ("camera", "tactile", "heightmap") -> PNG relative to the run folder (inspection.fusion.evidence)
    evidence: dict[str, str] = field(default_factory=dict)
    explanation: tuple[LatentEvidence, ...] = ()  # of its camera hypothesis, when the explainer ran
    # Along its length on the part, as touch measured it (TactileFinding.direction); zeros when not measured.
    direction: Vector3 = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _check_class("class_name", self.class_name, DEFECT_CLASSES)
        _check_range("confidence", self.confidence, 0.0, 1.0)
        _check_finite("position", self.position)
        object.__setattr__(self, "normal", _unit("normal", self.normal))
        object.__setattr__(self, "direction", _unit_or_unknown("direction", self.direction))


@dataclass(frozen=True)
class ReportSummary(JsonRecord):
    """Headline figures; the ground-truth ones are None when the truth is unknown (a real part)."""

    KIND: ClassVar[str] = "report_summary"
    stage1_recall: float | None = None
    final_recall: float | None = None
    final_precision: float | None = None
    tactile_presses: int = 0
    full_coverage_presses: int | None = None
    cycle_time_s: float | None = None


@dataclass(frozen=True)
class InspectionReport(JsonRecord):
    """The inspection's result: summary, defects, and what could not be inspected."""

    KIND: ClassVar[str] = "inspection_report"
    run_id: str
    part_id: str
    created_utc: str
    summary: ReportSummary
    defects: list[FusedDefect] = field(default_factory=list)
    complete: bool = True
    missing: list[str] = field(default_factory=list)
