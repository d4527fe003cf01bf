"""Frame (+ background frame) -> gel indentation heightmap in millimetres.

Steps: normalised colour difference (``difference``), slopes from the calibrated lookup
(``calibration``), marker pixels filled from their neighbours, Poisson integration (``poisson``),
zero level on the gel that is not touching.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.tactile import poisson
from inspection.tactile.calibration import LOOKUP_SMOOTHING_PX, Calibration
from inspection.tactile.difference import BackgroundModel, ContactCandidates, contact_candidates, \
    normalized_difference
from inspection.tactile.order_statistics import percentile


# Percentile of the heightmap taken as zero indentation: a robust minimum (noise and single pixels aside).
ZERO_LEVEL_PERCENTILE = 1.0


class _MaskMadeOnFirstRead:
    """The ``contact`` field of :class:`Reconstruction`: given either the (H, W) bool mask or the
    :class:`ContactCandidates` it is made from; in the second case the mask is made when first read, and
    kept. A press needs only to know whether there is a contact (``contact_found``, which the candidates
    answer without making the mask), so the stage skips the labelling and hole filling of every frame.
    (A dataclass field whose class attribute is a descriptor, as the dataclasses documentation describes.)"""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_held"

    def __get__(self, instance: object | None, owner: type | None = None) -> np.ndarray:
        if instance is None:
            raise AttributeError("contact")  # the field has no default
        held = instance.__dict__[self._slot]
        if isinstance(held, ContactCandidates):
            held = instance.__dict__[self._slot] = held.mask()
        return held

    def __set__(self, instance: object, value: np.ndarray | ContactCandidates) -> None:
        instance.__dict__[self._slot] = value

    def held(self, instance: object) -> np.ndarray | ContactCandidates:
        """The mask, or the candidates while it has not been made."""
        return instance.__dict__[self._slot]


_CONTACT_FIELD = _MaskMadeOnFirstRead()


@dataclass(frozen=True)
class Reconstruction:
    """What a frame says about the surface under the gel."""

    diff: np.ndarray       # (H, W, 3) float32 normalised colour difference
    contact: np.ndarray = _CONTACT_FIELD  # (H, W) bool; may be given as ContactCandidates
    height_mm: np.ndarray  # (H, W) gel indentation (mm), positive where pushed in
    pixel_size_m: float

    @property
    def contact_found(self) -> bool:
        """Whether the contact mask has any pixel set (answered without making it, if it is not made yet)."""
        return bool(_CONTACT_FIELD.held(self).any())


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
        return Reconstruction(diff=diff, contact=contact, height_mm=height_m.astype(np.float32, copy=False),
                              pixel_size_m=self.calibration.pixel_size_m)
