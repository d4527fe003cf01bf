"""Surface shading: Blinn-Phong (energy-normalised) over paint or bare metal, with the finish texture.

Finish textures are slope fields, not images: brushed/machined aluminium gets grooves across a grain
direction (streaks along it, where a scratch laid along the grain hides), paint gets isotropic
orange peel. Both come from fixed tables seeded by the finish, so a scene re-renders identically.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

_GROOVE_STEP_M = 2e-5
_GROOVE_TABLE_M = 4.0
_PEEL_TEXELS = 512
_PEEL_STEP_M = 1e-4


@dataclass(frozen=True)
class SurfaceSamples:
    """Surface points with outward normals and unit directions towards the camera; any leading shape."""

    points: np.ndarray
    normals: np.ndarray
    view: np.ndarray

    @staticmethod
    def expand(surface: "SurfaceSamples", rows: np.ndarray, offsets: np.ndarray) -> "SurfaceSamples":
        """Sub-samples (n, k, 3): the points at ``rows`` moved by ``offsets``, same normal and view."""
        shape = offsets.shape
        return SurfaceSamples(surface.points[rows][:, None] + offsets,
                              np.broadcast_to(surface.normals[rows][:, None], shape),
                              np.broadcast_to(surface.view[rows][:, None], shape))

    def take(self, rows: np.ndarray) -> "SurfaceSamples":
        return SurfaceSamples(self.points[rows], self.normals[rows], self.view[rows])


@lru_cache(maxsize=16)
def _groove_slopes(seed: int) -> np.ndarray:
    """1-D slope table across the grain: fine grooves plus slower tool chatter, unit RMS."""
    rng = np.random.default_rng(seed)
    n = int(_GROOVE_TABLE_M / _GROOVE_STEP_M)
    fine = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 3.0)[0]
    chatter = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 40.0)[0]
    height = fine / fine.std() + 0.6 * chatter / chatter.std()
    slope = np.gradient(height)
    return (slope / slope.std()).astype(np.float32)


@lru_cache(maxsize=16)
def _peel_slopes(seed: int) -> np.ndarray:
    """(T, T, 2) slope tile of orange peel (wavelength ~1-3 mm), unit RMS, wraps around."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((_PEEL_TEXELS, _PEEL_TEXELS))
    frequency = np.fft.fftfreq(_PEEL_TEXELS)
    sigma_texels = 5.0  # Gaussian low-pass in the Fourier domain keeps the tile periodic
    low_pass = np.exp(-2 * (np.pi * sigma_texels) ** 2 * (frequency[:, None] ** 2 + frequency[None, :] ** 2))
    height = np.fft.ifft2(np.fft.fft2(noise) * low_pass).real
    gy, gx = np.gradient(height)
    slopes = np.stack([gx, gy], -1)
    return (slopes / np.sqrt(np.mean(slopes**2) * 2)).astype(np.float32)


def finish_slopes(surface: SurfaceSamples, finish) -> np.ndarray:
    """Slope vector (part frame, in the tangent plane) of the finish texture at each sample."""
    p = surface.points
    if finish.kind == "bare":
        grain = finish.grain_direction
        across = np.array([-grain[1], grain[0], 0.0])
        w = (p @ across + _GROOVE_TABLE_M / 2) / _GROOVE_STEP_M
        table = _groove_slopes(finish.texture_seed)
        slope = table[np.clip(w.astype(np.int64), 0, len(table) - 1)]
        vector = slope[..., None] * across
    else:
        tile = _peel_slopes(finish.texture_seed)
        a = np.floor(p[..., 0] / _PEEL_STEP_M).astype(np.int64) % _PEEL_TEXELS
        b = np.floor((p[..., 1] - p[..., 2]) / _PEEL_STEP_M).astype(np.int64) % _PEEL_TEXELS
        g = tile[b, a]
        vector = g[..., :1] * np.array([1.0, 0.0, 0.0]) + g[..., 1:] * np.array([0.0, 1.0, 0.0])
    vector = vector * finish.texture_slope
    n = surface.normals
    return (vector - _dot(vector, n)[..., None] * n).astype(np.float32)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(_dot(v, v))[..., None]


def shade(surface: SurfaceSamples, finish, lights: list[tuple[np.ndarray, float]], ambient: float,
          slope: np.ndarray, albedo_mix: np.ndarray | None = None, gloss: np.ndarray | None = None) -> np.ndarray:
    """Linear RGB radiance towards the camera; ``slope`` tilts the normals (n' = n - grad h)."""
    normal = _unit(surface.normals - slope).astype(np.float32)
    points = surface.points.astype(np.float32)
    view = surface.view.astype(np.float32)
    albedo = np.asarray(finish.base_rgb, np.float32) * (albedo_mix if albedo_mix is not None else 1.0)
    gloss = np.ones(points.shape[:-1], np.float32) if gloss is None else gloss.astype(np.float32)
    metal = finish.kind == "bare"
    spec_rgb = (np.asarray(finish.base_rgb, np.float32) / max(finish.base_rgb)) if metal else np.ones(3, np.float32)
    shininess = np.float32(finish.shininess) * gloss
    spec_scale = np.float32(finish.specular) * gloss * (shininess + 8) / np.float32(8 * np.pi)
    diffuse = np.zeros(points.shape[:-1], np.float32)
    specular = np.zeros(points.shape[:-1], np.float32)
    for position, intensity in lights:
        to_light = position.astype(np.float32) - points
        distance2 = _dot(to_light, to_light)
        to_light /= np.sqrt(distance2)[..., None]
        power = np.float32(intensity * float(position @ position)) / distance2  # intensity given at the part origin
        n_dot_l = np.maximum(_dot(normal, to_light), np.float32(0.0))
        to_light += view  # now the (unnormalised) half vector
        n_dot_h = np.clip(_dot(normal, to_light) / np.sqrt(_dot(to_light, to_light)), np.float32(0.0), np.float32(1.0))
        diffuse += power * n_dot_l
        specular += power * np.where(n_dot_l > 0, n_dot_h**shininess, np.float32(0.0))
    diffuse_weight = 0.35 if metal else 1.0  # bare metal reflects mostly specularly
    sky = ambient * (0.6 + 0.4 * normal[..., 2])
    radiance = albedo * (diffuse_weight * (diffuse + sky))[..., None]
    radiance += (spec_scale * specular)[..., None] * spec_rgb
    if metal:
        radiance += (0.5 * finish.specular * sky * gloss)[..., None] * spec_rgb  # blurred room reflection
    return radiance.astype(np.float32)
