"""Stage II end to end, as the tactile node, the demo and the campaign call it: one tactile frame and
the press pose in, one TactileFinding (clean contact or a measured defect) with its verdict out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspection.errors import InputError
from inspection.records import TactileFinding, Verdict
from inspection.tactile.acceptance import AcceptanceRules
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier
from inspection.tactile.measure import measure, surface_residual, to_finding
from inspection.tactile.reconstruct import Reconstruction, Reconstructor

# A frame this dark or this saturated carries no usable shading (sensor covered, LEDs off or blinding).
MIN_MEAN_LEVEL, MAX_SATURATED_FRACTION = 8.0, 0.5


# A clean, nearly flat contact shades the gel evenly and can look like no contact at all; when the arm
# reports the gel pressed at least this far in, such a frame is a clean contact ("none").
MIN_KINEMATIC_PRESS_M = 0.0002
CLEAN_CONTACT_CONFIDENCE = 0.9


class NoContact(InputError):
    """The gel did not touch the part in this frame: nothing can be said about the surface there."""


@dataclass(frozen=True)
class PressResult:
    finding: TactileFinding
    verdict: Verdict
    reconstruction: Reconstruction
    probabilities: dict[str, float]


class StageTwo:
    """Calibration + background + classifier + acceptance rules for one sensor."""

    def __init__(self, calibration: Calibration, classifier: TactileClassifier, rules: AcceptanceRules,
                 background: np.ndarray | None = None) -> None:
        self.calibration, self.classifier, self.rules = calibration, classifier, rules
        self.reconstructor = Reconstructor(calibration, background) if background is not None else None

    @staticmethod
    def load(calibration: str | Path, classifier: str | Path, acceptance: str | Path | None = None,
             device: str = "cpu") -> "StageTwo":
        return StageTwo(Calibration.load(calibration), TactileClassifier(classifier, device),
                        AcceptanceRules.load(acceptance))

    def set_background(self, background: np.ndarray) -> None:
        """Use a new no-contact frame (taken at start-up, or again when the lighting drifts)."""
        self.reconstructor = Reconstructor(self.calibration, background)

    def check_frame(self, frame: np.ndarray) -> None:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"tactile frame: expected (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        if float(frame.mean()) < MIN_MEAN_LEVEL:
            raise InputError(f"tactile frame: empty/black (mean level {frame.mean():.1f})")
        saturated = float((frame.max(axis=2) >= 254).mean())
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
        if not reconstruction.contact_found:
            if pressed_depth_m < MIN_KINEMATIC_PRESS_M:
                raise NoContact(f"press {press_index}: no contact between gel and part")
            probabilities = {"none": CLEAN_CONTACT_CONFIDENCE}
            finding = TactileFinding(finding_id, region_id, press_index, "none", CLEAN_CONTACT_CONFIDENCE,
                                     tuple(float(v) for v in sensor_to_part[:3, 3]),
                                     tuple(float(v) for v in -sensor_to_part[:3, 2]))
        else:
            residual = surface_residual(reconstruction)
            prediction = self.classifier.predict(reconstruction, residual)
            measurement = measure(reconstruction, prediction.class_name, residual)
            finding = to_finding(reconstruction, measurement, prediction.class_name, prediction.confidence,
                                 sensor_to_part, finding_id, region_id, press_index)
            probabilities = prediction.probabilities
        return PressResult(finding, self.rules.judge(finding, zone), reconstruction, probabilities)
