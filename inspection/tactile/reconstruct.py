"""Frame (+ background frame) -> gel indentation heightmap in millimetres.

Steps: normalised colour difference (``difference``), slopes from the calibrated lookup
(``calibration``), marker pixels filled from their neighbours, Poisson integration (``poisson``),
zero level on the gel that is not touching.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from inspection.tactile import poisson
from inspection.tactile.calibration import LOOKUP_SMOOTHING_PX, Calibration
from inspection.tactile.difference import (
    BackgroundModel, ContactCandidates, contact_candidates, normalized_difference,
)
from inspection.tactile.order_statistics import percentile


# Percentile of the heightmap taken as zero indentation: a robust minimum (noise and single pixels aside).
ZERO_LEVEL_PERCENTILE = 1.0


@dataclass(frozen=True)
class Reconstruction:
    """What a frame says about the surface under the gel."""

    diff: np.ndarray       # (H, W, 3) float32 normalised colour difference
    contact_evidence: np.ndarray | ContactCandidates  # the (H, W) bool contact mask, or what it is made from
    height_mm: np.ndarray  # (H, W) gel indentation (mm), positive where pushed in
    pixel_size_m: float

    @cached_property
    def contact(self) -> np.ndarray:
        """(H, W) bool: where the gel touches the part. Made from the candidates on first read and kept: a
        press needs only to know whether there is a contact (``contact_found``, which the candidates answer
        without labelling components and filling holes), so the stage never makes the mask."""
        evidence = self.contact_evidence
        return evidence.mask() if isinstance(evidence, ContactCandidates) else evidence

    @property
    def contact_found(self) -> bool:
        """Whether the gel touches anywhere (answered without making the mask, if it is not made yet)."""
        return bool(self.contact_evidence.any())


def _fill_masked(values: np.ndarray, mask: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """Replace masked pixels by a normalised Gaussian average of their unmasked neighbours."""
    weight = (~mask).astype(np.float32)
    num = cv2.GaussianBlur(values * weight, (0, 0), sigma_px)
    den = cv2.GaussianBlur(weight, (0, 0), sigma_px)
    return np.where(mask, num / np.maximum(den, 1e-3), values)


class Reconstructor:
    """Reconstructs frames taken against one background frame with one calibration."""

    def __init__(self, calibration: Calibration, background: np.ndarray) -> None:
        self.calibration = calibration
        self.background = BackgroundModel.from_frame(background)
        self._has_markers = bool(self.background.markers.any())

    def reconstruct(self, frame: np.ndarray) -> Reconstruction:
        diff = normalized_difference(frame, self.background)
        contact = contact_candidates(diff)  # the mask itself is made when first read
        # Averaging neighbours before the lookup keeps noise from pulling small slopes towards zero.
        grad_x, grad_y = self.calibration.lookup(cv2.GaussianBlur(diff, (0, 0), LOOKUP_SMOOTHING_PX),
                                                 overwrite_diff=True)
        if self._has_markers:
            grad_x = _fill_masked(grad_x, self.background.markers)
            grad_y = _fill_masked(grad_y, self.background.markers)
        height_m = poisson.integrate_centred(grad_x, grad_y, self.calibration.pixel_size_m)
        # Nothing pulls the gel outwards: its least indented part is the gel at rest (where some of it does not
        # touch) or the least pushed-in part of a press that covers the whole gel. A robust minimum is that
        # zero level. (The median outside the detected contact was not: a curved part pressed over the whole
        # gel shades only its slopes, and its flat crest, pushed in but outside the detected contact, became
        # the zero, leaving most of the press below it.)
        height_m -= np.float32(percentile(height_m[::2, ::2], ZERO_LEVEL_PERCENTILE))
        height_m *= np.float32(1e3)  # in place: now millimetres
        return Reconstruction(diff=diff, contact_evidence=contact, height_mm=height_m.astype(np.float32, copy=False),
                              pixel_size_m=self.calibration.pixel_size_m)
