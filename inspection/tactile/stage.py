"""Stage II end to end, as the tactile node, the demo and the campaign call it: one tactile frame and
the press pose in, one TactileFinding (clean contact or a measured defect) with its verdict out.

With a reference of good presses (:mod:`inspection.tactile.reference`), an anomaly map gates the rest:
a press no patch of which is unlike the good presses is a clean contact, whatever texture (threads,
machining marks) it shows; only an anomalous press is classified and measured, and only inside its
anomalous region, so texture the reference explains never becomes a defect or its size. Without one,
only the part is classified and measured: a press over the part's edge leaves gel touching nothing,
and where it wraps over the edge is no defect (``measure.on_part``).

Where the part ends under the gel is taken from the part's mesh and the press pose when the stage has
the part (``set_part``: ``footprint.beyond_part``), for the anomaly map and the classifier alike; a
stage without it guesses the edge from the image, and only for the classifier (the guess can take a
shaded textured press for an edge and hide a defect)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.records import TactileFinding, Verdict
from inspection.tactile.acceptance import AcceptanceRules
from inspection.tactile.anomaly import AnomalyMap
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier
from inspection.tactile.footprint import beyond_part
from inspection.tactile.measure import measure, on_part, pixel_to_part, surface_residual, to_finding
from inspection.tactile.reconstruct import Reconstruction, Reconstructor
from inspection.tactile.reference import GoodReference

# A frame this dark or this saturated carries no usable shading (sensor covered, LEDs off or blinding).
MIN_MEAN_LEVEL, MAX_SATURATED_FRACTION = 8.0, 0.5


# A clean, nearly flat contact shades the gel evenly and can look like no contact at all; when the arm
# reports the gel pressed at least this far in, such a frame is a clean contact ("none").
MIN_KINEMATIC_PRESS_M = 0.0002
CLEAN_CONTACT_CONFIDENCE = 0.9
# The band along a part's edge that a press leaves out: the rounding of a deburred sheet edge (up to
# 1 mm), over which the gel falls away like a groove, and the elastomer lifting off beside it, plus how
# far a press may lie from its reported pose. Chosen on simulated validation presses (seed 5, six
# textures): of 227 clean presses across an edge, 1.5 mm flagged 25, 2 mm 2, 2.5 mm none. A defect
# within it is not judged by that press.
PART_EDGE_MARGIN_M = 0.0025


class NoContact(InputError):
    """The gel did not touch the part in this frame: nothing can be said about the surface there."""


@dataclass(frozen=True)
class PressResult:
    finding: TactileFinding
    verdict: Verdict
    reconstruction: Reconstruction
    probabilities: dict[str, float]
    anomaly: AnomalyMap | None = None                           # with a reference of good presses
    anomaly_peak_part: tuple[float, float, float] | None = None  # strongest anomaly on the part (m)

    def anomaly_json(self) -> dict | None:
        """Score, threshold, flag and peak (pixel and part frame) for reports; None without a reference."""
        if self.anomaly is None:
            return None
        return {"score": round(self.anomaly.score, 3), "threshold": round(self.anomaly.threshold, 3),
                "flagged": self.anomaly.flagged, "peak_xy": [round(v, 1) for v in self.anomaly.peak_px],
                "peak_part": list(self.anomaly_peak_part) if self.anomaly_peak_part else None}


class StageTwo:
    """Calibration + background + classifier + acceptance rules (+ optional good reference) for one sensor."""

    def __init__(self, calibration: Calibration, classifier: TactileClassifier, rules: AcceptanceRules,
                 background: np.ndarray | None = None, reference: GoodReference | None = None) -> None:
        self.calibration, self.classifier, self.rules, self.reference = calibration, classifier, rules, reference
        self.reconstructor = Reconstructor(calibration, background) if background is not None else None
        self.part: PartSurface | None = None
        self.part_edge_margin_m = PART_EDGE_MARGIN_M

    @staticmethod
    def load(calibration: str | Path, classifier: str | Path, acceptance: str | Path | None = None,
             device: str = "cpu", reference: str | Path | None = None) -> "StageTwo":
        """``reference``: a file from `inspection tactile reference`; None or "" keeps the ungated stage."""
        return StageTwo(Calibration.load(calibration), TactileClassifier(classifier, device),
                        AcceptanceRules.load(acceptance), reference=GoodReference.load(reference) if reference else None)

    def set_background(self, background: np.ndarray) -> None:
        """Use a new no-contact frame (taken at start-up, or again when the lighting drifts)."""
        self.reconstructor = Reconstructor(self.calibration, background)

    def set_part(self, part: PartSurface | None, edge_margin_m: float = PART_EDGE_MARGIN_M) -> None:
        """Take where the part ends under each press from ``part``'s mesh (part frame, as the press poses),
        grown by ``edge_margin_m``; None: guess it from each image."""
        if not np.isfinite(edge_margin_m) or edge_margin_m < 0:
            raise InputError(f"part edge margin: expected a finite distance >= 0 m, got {edge_margin_m}")
        self.part, self.part_edge_margin_m = part, float(edge_margin_m)

    def check_frame(self, frame: np.ndarray) -> None:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"tactile frame: expected (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        if float(frame.mean()) < MIN_MEAN_LEVEL:
            raise InputError(f"tactile frame: empty/black (mean level {frame.mean():.1f})")
        # Pixels with a channel at 254 or above: all but those with every channel at most 253. Counted by
        # OpenCV: numpy's maximum over an axis of three took 2 ms a frame.
        pixels = frame.shape[0] * frame.shape[1]
        saturated = (pixels - cv2.countNonZero(cv2.inRange(frame, (0, 0, 0), (253, 253, 253)))) / pixels
        if saturated > MAX_SATURATED_FRACTION:
            raise InputError(f"tactile frame: {100 * saturated:.0f}% of pixels saturated")

    def analyse(self, frame: np.ndarray, sensor_to_part: np.ndarray, finding_id: str, region_id: str = "",
                press_index: int = 0, pressed_depth_m: float = 0.0, zone: str = "default") -> PressResult:
        """Reconstruct, classify, measure and judge one press.

        ``pressed_depth_m`` is how far the arm pushed the gel into the nominal surface (from its
        kinematics): with it, a frame without visible contact is a clean flat contact.

        Raises:
            InputError: no background frame yet, or an unusable frame (wrong shape, black, saturated).
            NoContact: the gel did not touch the part (no contact seen and none reported by the arm).
        """
        if self.reconstructor is None:
            raise InputError("tactile/background: no background (no-contact) frame received yet")
        self.check_frame(frame)
        reconstruction = self.reconstructor.reconstruct(frame)
        beyond = None
        if self.part is not None:
            beyond = beyond_part(self.part, sensor_to_part, frame.shape[:2], reconstruction.pixel_size_m,
                                 self.part_edge_margin_m)
        anomaly = self.reference.anomaly(frame, beyond) if self.reference is not None else None
        peak_part = None
        if anomaly is not None:
            x, y = anomaly.peak_px
            indentation = float(reconstruction.height_mm[int(round(y)), int(round(x))])
            peak_part = tuple(float(v) for v in pixel_to_part((x, y), indentation, np.asarray(sensor_to_part, float),
                                                                 frame.shape[:2], reconstruction.pixel_size_m))
        if not reconstruction.contact_found:
            if pressed_depth_m < MIN_KINEMATIC_PRESS_M:
                raise NoContact(f"press {press_index}: no contact between gel and part")
            probabilities = {"none": CLEAN_CONTACT_CONFIDENCE}
            finding = TactileFinding(finding_id, region_id, press_index, "none", CLEAN_CONTACT_CONFIDENCE,
                                     tuple(float(v) for v in sensor_to_part[:3, 3]),
                                     tuple(float(v) for v in -sensor_to_part[:3, 2]))
        elif anomaly is not None and not anomaly.flagged:
            # Every patch looks like some patch of a good press: a clean contact, sure in proportion to
            # how far below the threshold its strongest anomaly stays (1 at none, 0.5 at the threshold).
            confidence = float(np.clip(1.0 - 0.5 * max(anomaly.score, 0.0) / anomaly.threshold, 0.5, 1.0))
            probabilities = {"none": round(confidence, 6)}
            finding = TactileFinding(finding_id, region_id, press_index, "none", confidence,
                                     tuple(float(v) for v in sensor_to_part[:3, 3]),
                                     tuple(float(v) for v in -sensor_to_part[:3, 2]))
        else:
            if anomaly is None:
                # Only the part is classified and measured: beyond its edge the gel touches nothing.
                seen, class_residual = on_part(reconstruction, beyond)
            else:
                # Only the anomalous region is classified and measured: the rest is texture the reference explains.
                region = anomaly.region()
                seen = replace(reconstruction, diff=reconstruction.diff * region[..., None])
                class_residual = np.where(region, surface_residual(reconstruction, beyond), np.float32(0.0))
            prediction = self.classifier.predict(seen, class_residual)
            class_name, confidence = prediction.class_name, prediction.confidence
            if anomaly is not None and class_name == "none":
                # The reference says something here is unlike any good press; the network only names it.
                defects = {c: p for c, p in prediction.probabilities.items() if c != "none"}
                class_name = max(defects, key=defects.__getitem__)
                confidence = defects[class_name]
            measurement = measure(seen, class_name, class_residual)
            # The gel follows a narrow defect only part of the way: the calibration's factor for the class.
            measurement = self.calibration.depth_scale.scaled(measurement, class_name)
            finding = to_finding(reconstruction, measurement, class_name, confidence,
                                 sensor_to_part, finding_id, region_id, press_index)
            probabilities = prediction.probabilities
        return PressResult(finding, self.rules.judge(finding, zone), reconstruction, probabilities, anomaly, peak_part)
