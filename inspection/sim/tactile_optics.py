"""Optics of a GelSight-style sensor: three coloured lights 120 degrees apart (as in TACTO) shining
at a low angle across a painted elastomer, seen by a camera behind it.

The shading model is Lambertian with colour cross-talk, plus a background whose colour varies over the
frame because every LED sits at one edge of the gel (non-uniform illumination, as in the GelSight
Mini). Contact shading scales with the local background brightness (vignetting), which is why the
reconstruction divides the difference image by the background luminance. The default numbers were
tuned against real GelSight Mini frames (see docs/tactile.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class SensorOptics:
    """Everything that maps a gel surface to a colour image (RGB order, 0..255)."""

    light_azimuth_deg: tuple[float, float, float] = (60.0, 180.0, 300.0)  # R, G, B; image x right, y down
    light_elevation_deg: float = 28.0
    # Contact gain per channel (grey levels per unit change of n.l) and colour cross-talk (rows: R, G, B).
    gain: tuple[float, float, float] = (212.0, 150.0, 205.0)
    # Shadowed slopes darken less than lit ones brighten: light scattered inside the gel fills shadows.
    shadow_fraction: float = 0.36
    cross_talk: tuple[tuple[float, float, float], ...] = ((1.0, 0.05, 0.0), (0.08, 1.0, 0.25), (0.0, 0.10, 1.0))
    # Background: mean colour, and how much each channel brightens towards its own LED (fraction per
    # half-frame), plus a radial vignette.
    background_rgb: tuple[float, float, float] = (58.5, 109.5, 114.0)
    background_slope: tuple[float, float, float] = (0.50, 0.11, 0.33)
    vignette: float = 0.18
    noise_sigma: tuple[float, float, float] = (2.4, 1.6, 2.8)
    marker_pitch_px: int = 0  # 0: no markers; else a grid of dark dots this far apart
    marker_radius_px: float = 3.0
    marker_darkness: float = 0.45
    cross_talk_matrix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cross_talk_matrix", np.asarray(self.cross_talk, float))

    def light_directions(self) -> np.ndarray:
        """Unit vectors (3, 3) from the gel towards each light, in image axes with z towards the camera."""
        az = np.radians(self.light_azimuth_deg)
        el = np.radians(self.light_elevation_deg)
        return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.full(3, np.sin(el))], axis=1)

    def illumination(self, height: int, width: int) -> np.ndarray:
        """Per-channel brightness factor (H, W, 3), mean about 1: each LED lights its own side more."""
        return _cached_illumination(self, height, width)

    def _illumination(self, height: int, width: int) -> np.ndarray:
        ys, xs = np.mgrid[0:height, 0:width].astype(float)
        u = (xs - (width - 1) / 2) / (width / 2)
        v = (ys - (height - 1) / 2) / (height / 2)
        radial = 1.0 - self.vignette * (u * u + v * v) / 2
        az = np.radians(self.light_azimuth_deg)
        out = np.empty((height, width, 3))
        for c in range(3):
            out[:, :, c] = radial * (1.0 + self.background_slope[c] * (u * np.cos(az[c]) + v * np.sin(az[c])))
        return out

    def marker_mask(self, height: int, width: int) -> np.ndarray:
        """Soft 0..1 coverage of the dark marker dots (zeros when markers are off)."""
        return _cached_markers(self, height, width)

    def _marker_mask(self, height: int, width: int) -> np.ndarray:
        if self.marker_pitch_px <= 0:
            return np.zeros((height, width))
        ys, xs = np.mgrid[0:height, 0:width].astype(float)
        p = self.marker_pitch_px
        dx = (xs - p / 2) % p - p / 2
        dy = (ys - p / 2) % p - p / 2
        r = np.sqrt(dx * dx + dy * dy)
        return np.clip(self.marker_radius_px + 0.5 - r, 0.0, 1.0)

    def background(self, height: int, width: int) -> np.ndarray:
        """The no-contact frame without noise, float RGB."""
        bg = self.illumination(height, width) * np.asarray(self.background_rgb)
        return bg * (1.0 - self.marker_darkness * self.marker_mask(height, width))[:, :, None]

    def shading(self, grad_x: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
        """Colour change (H, W, 3) of a gel surface with height gradients (dh/dx, dh/dy) against flat gel.

        ``h`` is the indentation (towards the camera), so a positive slope tilts the surface normal
        away from +x; flat gel gives exactly zero.
        """
        norm = np.sqrt(1.0 + grad_x * grad_x + grad_y * grad_y)
        lights = self.light_directions()
        lit = (-grad_x[..., None] * lights[:, 0] - grad_y[..., None] * lights[:, 1] + lights[:, 2]) / norm[..., None]
        response = np.maximum(lit, 0.0) - lights[:, 2]
        response = np.where(response < 0, self.shadow_fraction * response, response) * np.asarray(self.gain)
        return response @ self.cross_talk_matrix.T

    def render(self, grad_x: np.ndarray, grad_y: np.ndarray, rng: np.random.Generator | None,
               drift: tuple[float, float, float] = (1.0, 1.0, 1.0), contrast: float = 1.0) -> np.ndarray:
        """Frame (H, W, 3) uint8 RGB: background plus contact shading, lighting drift, gel ageing, noise."""
        h, w = grad_x.shape
        light = self.illumination(h, w)
        frame = light * np.asarray(self.background_rgb) + contrast * light * self.shading(grad_x, grad_y)
        frame = frame * np.asarray(drift)
        frame *= (1.0 - self.marker_darkness * self.marker_mask(h, w))[:, :, None]
        if rng is not None and max(self.noise_sigma) > 0:
            frame = frame + rng.normal(0.0, 1.0, frame.shape) * np.asarray(self.noise_sigma)
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _cached_illumination(optics: SensorOptics, height: int, width: int) -> np.ndarray:
    out = optics._illumination(height, width)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _cached_markers(optics: SensorOptics, height: int, width: int) -> np.ndarray:
    out = optics._marker_mask(height, width)
    out.setflags(write=False)
    return out
