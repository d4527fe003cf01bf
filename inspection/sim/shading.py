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
_MOTTLE_STEP_M = 2e-3
_WAVINESS_STEP_M = 5e-3
_RIVET_RING_M = 2e-4  # gap around a flush head, about one camera pixel
_RIVET_DOME_M = 3e-5


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
    # Grooves finer than a camera pixel (0.23 mm) would only alias: keep wavelengths of ~0.5 mm and up.
    fine = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 8.0)[0]
    chatter = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 40.0)[0]
    height = fine / fine.std() + 0.6 * chatter / chatter.std()
    slope = np.gradient(height)
    return (slope / slope.std()).astype(np.float32)


@lru_cache(maxsize=16)
def smooth_tile(seed: int, sigma_texels: float) -> np.ndarray:
    """(T, T) Gaussian-filtered noise, zero mean, unit RMS; filtered in the Fourier domain so it tiles."""
    rng = np.random.default_rng(seed)
    frequency = np.fft.fftfreq(_PEEL_TEXELS)
    low_pass = np.exp(-2 * (np.pi * sigma_texels) ** 2 * (frequency[:, None] ** 2 + frequency[None, :] ** 2))
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal((_PEEL_TEXELS, _PEEL_TEXELS))) * low_pass).real
    return ((field - field.mean()) / field.std()).astype(np.float32)


@lru_cache(maxsize=16)
def _peel_slopes(seed: int) -> np.ndarray:
    """(T, T, 2) slope tile of orange peel (wavelength ~1-3 mm at 0.1 mm texels), unit RMS."""
    gy, gx = np.gradient(smooth_tile(seed, 5.0))
    slopes = np.stack([gx, gy], -1)
    return (slopes / np.sqrt(np.mean(slopes**2) * 2)).astype(np.float32)


@dataclass(frozen=True)
class FinishSamples:
    """The finish at each sample: slope vector (tangent plane), albedo and gloss multipliers."""

    slope: np.ndarray
    albedo: np.ndarray
    gloss: np.ndarray

    def take(self, rows: np.ndarray) -> "FinishSamples":
        return FinishSamples(self.slope[rows], self.albedo[rows], self.gloss[rows])


def finish_at(surface: SurfaceSamples, finish) -> FinishSamples:
    """Finish texture (grooves, orange peel or weave), albedo mottling, waviness and rivets at each sample."""
    p = surface.points
    if finish.kind == "bare":
        grain = finish.grain_direction
        across = np.array([-grain[1], grain[0], 0.0], np.float32)
        w = (p @ across + _GROOVE_TABLE_M / 2) / _GROOVE_STEP_M
        table = _groove_slopes(finish.texture_seed)
        vector = table[np.clip(w.astype(np.int64), 0, len(table) - 1)][..., None] * across
    elif finish.kind == "composite":
        vector, weave_albedo = _twill(p, finish)
    else:
        tile = _peel_slopes(finish.texture_seed)
        a = np.floor(p[..., 0] / _PEEL_STEP_M).astype(np.int64) % _PEEL_TEXELS
        b = np.floor((p[..., 1] - p[..., 2]) / _PEEL_STEP_M).astype(np.int64) % _PEEL_TEXELS
        vector = np.zeros(p.shape, np.float32)
        vector[..., :2] = tile[b, a]
    vector *= np.float32(finish.texture_slope)
    a = np.floor(p[..., 0] / _MOTTLE_STEP_M).astype(np.int64) % _PEEL_TEXELS
    b = np.floor((p[..., 1] - p[..., 2]) / _MOTTLE_STEP_M).astype(np.int64) % _PEEL_TEXELS
    albedo = 1.0 + np.float32(finish.mottle) * smooth_tile(finish.texture_seed + 1, 6.0)[b, a]  # 2 mm texels
    if finish.kind == "composite":
        albedo *= weave_albedo
    if finish.waviness:  # 5 mm texels, smoothed over ~3 cm: the skin is not a perfect mirror
        gy, gx = _waviness_slopes(finish.texture_seed)
        a = np.floor(p[..., 0] / _WAVINESS_STEP_M).astype(np.int64) % _PEEL_TEXELS
        b = np.floor((p[..., 1] - p[..., 2]) / _WAVINESS_STEP_M).astype(np.int64) % _PEEL_TEXELS
        vector[..., 0] += np.float32(finish.waviness) * gx[b, a]
        vector[..., 1] += np.float32(finish.waviness) * gy[b, a]
    gloss = np.ones(p.shape[:-1], np.float32)
    for row, y in enumerate(finish.rivet_rows):
        _add_rivets(p, finish, y, 0.5 * finish.rivet_pitch_m * (row % 2), vector, albedo, gloss)
    n = surface.normals
    return FinishSamples((vector - _dot(vector, n)[..., None] * n).astype(np.float32), albedo, gloss)


@lru_cache(maxsize=16)
def _waviness_slopes(seed: int) -> tuple[np.ndarray, np.ndarray]:
    gy, gx = np.gradient(smooth_tile(seed + 2, 6.0))
    rms = np.sqrt(np.mean(gx**2 + gy**2) / 2)
    return (gy / rms).astype(np.float32), (gx / rms).astype(np.float32)


def _twill(p: np.ndarray, finish) -> tuple[np.ndarray, np.ndarray]:
    """2x2 twill: tows ``weave_m`` wide alternate direction along diagonals; each tow is a rounded ridge
    (unit-RMS slope across it) and tows along the grain look a little brighter than those across."""
    grain = finish.grain_direction.astype(np.float32)
    across = np.array([-grain[1], grain[0], 0.0], np.float32)
    x, y = (p @ grain) / finish.weave_m, (p @ across) / finish.weave_m
    along_grain = (np.floor(x) + np.floor(y)) % 4 < 2
    position = np.where(along_grain, y, x)  # coordinate across the tow
    slope = np.float32(np.sqrt(2)) * np.cos(np.pi * (position - np.floor(position)))
    vector = slope[..., None] * np.where(along_grain[..., None], across, grain)
    return vector.astype(np.float32), np.where(along_grain, np.float32(1.12), np.float32(0.9))


def _add_rivets(p: np.ndarray, finish, y: float, offset: float, slope: np.ndarray, albedo: np.ndarray,
                gloss: np.ndarray) -> None:
    """Flush rivet heads along part x at ``y``: a slightly proud dome inside a dark (antialiased) gap ring."""
    radius, pitch = finish.rivet_radius_m, finish.rivet_pitch_m
    near = np.abs(p[..., 1] - y) < radius + _RIVET_RING_M
    if not near.any():
        return
    q = p[near]
    dx = q[:, 0] - offset - np.round((q[:, 0] - offset) / pitch) * pitch
    dy = q[:, 1] - y
    r = np.sqrt(dx * dx + dy * dy)
    head = r < radius
    dome = np.float32(-2 * _RIVET_DOME_M / radius**2) * head  # grad of h0 (1 - r^2 / R^2)
    slope[near, 0] += dome * dx
    slope[near, 1] += dome * dy
    ring = np.clip(1.0 - np.abs(r - radius) / _RIVET_RING_M, 0.0, 1.0).astype(np.float32)
    albedo[near] *= (1.0 - 0.55 * ring) * np.where(head, np.float32(0.96), np.float32(1.0))
    gloss[near] *= 1.0 - 0.7 * ring


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def _planes(v: np.ndarray) -> np.ndarray:
    """(3, ...) contiguous float32 component planes: vector maths on planes is several times faster than
    on interleaved (..., 3) arrays."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(v, np.float32), -1, 0))


def _dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def shade(surface: SurfaceSamples, finish, illumination, base: FinishSamples, slope: np.ndarray | None = None,
          albedo_mix: np.ndarray | None = None, gloss_mix: np.ndarray | None = None) -> np.ndarray:
    """Linear RGB radiance (..., 3) towards the camera. ``base`` is the finish; ``slope`` (added to its slope,
    n' = n - grad h), ``albedo_mix`` (RGB) and ``gloss_mix`` are the defects' changes on top of it."""
    normal = _planes(surface.normals - (base.slope if slope is None else base.slope + slope))
    normal /= np.sqrt(_dot3(normal, normal))
    points, view = _planes(surface.points), _planes(surface.view)
    gloss = base.gloss if gloss_mix is None else base.gloss * gloss_mix.astype(np.float32)
    metal = finish.kind == "bare"
    shininess = np.float32(finish.shininess) * gloss
    uniform_gloss = gloss_mix is None and not finish.rivet_rows  # a scalar exponent is much cheaper
    exponent = np.float32(finish.shininess) if uniform_gloss else shininess
    diffuse = np.zeros(points.shape[1:], np.float32)
    specular = np.zeros(points.shape[1:], np.float32)
    for position, intensity in illumination.lights:
        to_light = position.astype(np.float32)[:, None] - points.reshape(3, -1)
        to_light = to_light.reshape(points.shape)
        distance2 = _dot3(to_light, to_light)
        inverse = 1.0 / np.sqrt(distance2)
        to_light *= inverse
        power = np.float32(intensity * float(position @ position)) / distance2  # intensity given at the part origin
        n_dot_l = np.maximum(_dot3(normal, to_light), np.float32(0.0))
        to_light += view  # now the (unnormalised) half vector
        n_dot_h = _dot3(normal, to_light) / np.sqrt(_dot3(to_light, to_light))
        n_dot_h = np.clip(n_dot_h, np.float32(0.0), np.float32(1.0))
        diffuse += power * n_dot_l
        specular += power * np.where(n_dot_l > 0, n_dot_h**exponent, np.float32(0.0))
    diffuse_weight = 0.35 if metal else 1.0  # bare metal reflects mostly specularly
    sky = np.float32(illumination.ambient) * (0.6 + 0.4 * normal[2])
    grey = diffuse_weight * (diffuse + sky) * base.albedo
    shine = np.float32(finish.specular) * gloss * (shininess + 8) / np.float32(8 * np.pi) * specular
    shine += _environment(normal, view, illumination, finish, gloss)
    albedo = np.asarray(finish.base_rgb, np.float32)
    spec_rgb = albedo / max(finish.base_rgb) if metal else np.ones(3, np.float32)
    radiance = grey[..., None] * albedo
    if albedo_mix is not None:
        radiance *= albedo_mix.astype(np.float32)
    radiance += shine[..., None] * spec_rgb
    return radiance


def _environment(normal: np.ndarray, view: np.ndarray, illumination, finish, gloss: np.ndarray) -> np.ndarray:
    """Mirror reflection of the room (ceiling panels, sky term), blurred by roughness, with Schlick Fresnel."""
    n_dot_v = np.clip(_dot3(normal, view), 0.0, 1.0)
    reflected = 2 * n_dot_v * normal - view
    roughness2 = 2.0 / (np.float32(finish.shininess) * gloss + 2.0)
    env = np.float32(illumination.ambient) * (0.5 + 0.5 * reflected[2])
    for direction, width, intensity in illumination.panels:
        spread = np.float32(width**2) + roughness2
        cosine = _dot3(reflected, direction.astype(np.float32))
        env += np.float32(intensity * width**2) / spread * np.exp((cosine - 1.0) / spread)
    f0 = np.float32(min(finish.specular, 0.9) if finish.kind == "bare" else 0.04)
    fresnel = f0 + (1 - f0) * (1 - n_dot_v) ** 5
    return fresnel * gloss * env
