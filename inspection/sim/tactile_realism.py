"""Statistics that compare simulated frames with real ones: background colour and its spread, pixel
noise, and contact contrast. Used to tune the simulator's optics (``inspection.sim.tactile_optics``)
against real GelSight Mini frames."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from inspection.tactile.difference import BackgroundModel, check_frame, detect_contact, estimate_background, \
    normalized_difference


@dataclass(frozen=True)
class FrameStatistics:
    """Per-channel (R, G, B) figures of one frame, grey levels."""

    background_mean: tuple[float, float, float]
    background_std: tuple[float, float, float]
    noise_sigma: tuple[float, float, float]
    contact_p99: tuple[float, float, float]   # brightest change in the contact (frame - background)
    contact_p1: tuple[float, float, float]    # darkest change in the contact
    contact_fraction: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    return tuple(round(float(v), 1) for v in values)


def frame_statistics(frame: np.ndarray, background: np.ndarray | None = None) -> FrameStatistics:
    """Statistics of ``frame``; without a background frame one is estimated (real recordings)."""
    image = check_frame(frame, "frame")
    background = estimate_background(image) if background is None else background
    diff = normalized_difference(image, BackgroundModel.from_frame(background), drift_correction=False)
    contact = detect_contact(diff)
    free = ~cv2.dilate(contact.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    pixels = image.astype(np.float32)
    # Noise: the high-pass residue of the free gel, corrected for the blur's own share of the noise.
    high_pass = pixels - cv2.GaussianBlur(pixels, (0, 0), 2.0)
    noise = high_pass[free].std(axis=0) / np.sqrt(1.0 - 1.0 / (4 * np.pi * 2.0**2)) if free.any() else np.zeros(3)
    change = pixels - background.astype(np.float32)
    inside = change[contact] if contact.any() else np.zeros((1, 3))
    return FrameStatistics(
        background_mean=_triple(pixels[free].mean(axis=0)) if free.any() else (0.0, 0.0, 0.0),
        background_std=_triple(pixels[free].std(axis=0)) if free.any() else (0.0, 0.0, 0.0),
        noise_sigma=_triple(noise),
        contact_p99=_triple(np.percentile(inside, 99, axis=0)),
        contact_p1=_triple(np.percentile(inside, 1, axis=0)),
        contact_fraction=round(float(contact.mean()), 3),
    )
