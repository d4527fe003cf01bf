"""Textured part surfaces for the tactile simulator: the regular relief of good parts that a GelSight
press shows everywhere, so that Stage II must tell texture from defects (issue #15: a smooth-panel
simulator let a classifier call every real thread groove a scratch).

Each texture is a height field (metres, along the surface normal, positive out of the part) over the
surface's own coordinates ``u`` (along the surface axis, :class:`inspection.sim.tactile_sensor.LocalSurface`)
and ``v`` (across it), added to the nominal surface under the contact. None of them is a defect: a press
of a textured part is labelled "none" unless a defect from ``inspection.sim.defects`` is placed too.

- ``thread``: a screw thread's periodic triangular grooves across the rod axis (pitch 0.5-1.5 mm,
  flank depth 0.25-0.45 of the pitch: ISO metric threads are 0.54 of the pitch deep, minus the crest flat);
- ``machining``: the fine parallel lay of turning or planing, scallops of the tool nose (feed 0.15-0.6 mm,
  2-15 um peak to valley), in a random direction;
- ``rivet``: a row of domed rivet heads (diameter 4-9 mm, 0.1-0.6 mm proud, 4-6 diameters apart);
- ``seam``: a lap joint's step (0.05-0.5 mm) or a butt joint's gap line (0.2-1.0 mm wide, 0.05-0.4 mm deep);
- ``orange_peel``: a painted skin's low-amplitude random waviness (sum of random plane waves of
  0.6-3 mm wavelength, 1.5-6 um RMS).

A :class:`PartEdge` ends the part under the gel (a sheet's deburred edge): beyond it the gel touches
nothing, so the contact is clipped by the part's edge rather than the sensor's.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from inspection.errors import InputError

TEXTURES: tuple[str, ...] = ("thread", "machining", "rivet", "seam", "orange_peel")
MIXED = "mixed"  # every texture
SMOOTH = "smooth"  # no texture: a smooth part among textured ones (e.g. for a classifier's training mix)


def parse_textures(text: str) -> tuple[str, ...]:
    """Texture names from ``--texture``: a comma-separated list of TEXTURES, SMOOTH and MIXED (every
    texture), or InputError."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TEXTURES + (MIXED, SMOOTH)]
    if not names or unknown:
        raise InputError(f"--texture: {', '.join(unknown) or repr(text)} is not a texture; choose {MIXED} or "
                         f"a comma-separated list of {', '.join(TEXTURES + (SMOOTH, MIXED))}")
    expanded = [t for n in names for t in (TEXTURES if n == MIXED else (n,))]
    return tuple(dict.fromkeys(expanded))


def _rotate(u: np.ndarray, v: np.ndarray, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) expressed along and across a direction at ``angle_rad`` from the surface axis."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return c * u + s * v, -s * u + c * v


@dataclass(frozen=True)
class Thread:
    """Triangular thread grooves across the rod axis: crests at height 0, roots ``depth_m`` below."""

    pitch_m: float
    depth_m: float
    phase: float  # 0..1 of a pitch

    def height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        fraction = (u / self.pitch_m + self.phase) % 1.0
        return -self.depth_m * (1.0 - 2.0 * np.abs(fraction - 0.5))


@dataclass(frozen=True)
class Machining:
    """Parallel tool-nose scallops ``feed_m`` apart, ``peak_to_valley_m`` deep, lay at ``angle_rad``."""

    feed_m: float
    peak_to_valley_m: float
    angle_rad: float
    phase: float

    def height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        _, across = _rotate(u, v, self.angle_rad)
        fraction = (across / self.feed_m + self.phase) % 1.0
        return self.peak_to_valley_m * ((2.0 * fraction - 1.0) ** 2 - 1.0)  # circular-arc cusps, peaks at 0


@dataclass(frozen=True)
class Rivets:
    """A row of spherical-cap heads along the surface axis: ``height_m`` proud, ``diameter_m`` across."""

    diameter_m: float
    height_m: float
    spacing_m: float
    first_u_m: float
    row_v_m: float

    def height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        along = (u - self.first_u_m + self.spacing_m / 2) % self.spacing_m - self.spacing_m / 2
        r2 = along**2 + (v - self.row_v_m) ** 2
        a = self.diameter_m / 2
        sphere = (a * a + self.height_m**2) / (2 * self.height_m)  # radius of the cap's sphere
        cap = np.sqrt(np.clip(sphere**2 - r2, 0.0, None)) - (sphere - self.height_m)
        return np.where(r2 < a * a, cap, 0.0)


@dataclass(frozen=True)
class Seam:
    """A straight joint line at ``offset_m`` from the surface centre, direction ``angle_rad``: a lap
    joint's step (the side before the line is ``size_m`` proud) or a butt joint's gap ``width_m`` wide
    and ``size_m`` deep; edges rounded over ``EDGE_M``."""

    kind: str  # "step" or "gap"
    offset_m: float
    angle_rad: float
    size_m: float
    width_m: float

    EDGE_M = 1e-4

    def height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        _, across = _rotate(u, v, self.angle_rad)
        distance = across - self.offset_m
        if self.kind == "step":
            return self.size_m * np.clip(0.5 - distance / (2 * self.EDGE_M), 0.0, 1.0)
        inside = np.clip((self.width_m / 2 - np.abs(distance)) / self.EDGE_M, 0.0, 1.0)
        return -self.size_m * inside


@dataclass(frozen=True)
class OrangePeel:
    """Random waviness: a sum of plane waves (wave vectors in rad/m, phases), scaled to ``rms_m``."""

    wave_u: tuple[float, ...]
    wave_v: tuple[float, ...]
    phases: tuple[float, ...]
    rms_m: float

    def height(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        total = np.zeros(np.broadcast(u, v).shape)
        for ku, kv, phase in zip(self.wave_u, self.wave_v, self.phases):
            total += np.cos(ku * u + kv * v + phase)
        return total * (self.rms_m * math.sqrt(2.0 / len(self.phases)))  # each cosine has variance 1/2


Texture = Thread | Machining | Rivets | Seam | OrangePeel


def random_texture(rng: np.random.Generator, kind: str) -> Texture | None:
    """A ``kind`` texture with random parameters in the ranges of the module docstring (None: SMOOTH)."""
    if kind == SMOOTH:
        return None
    if kind == "thread":
        pitch = float(rng.uniform(0.0005, 0.0015))
        return Thread(pitch, float(rng.uniform(0.25, 0.45)) * pitch, float(rng.uniform()))
    if kind == "machining":
        return Machining(float(rng.uniform(0.00015, 0.0006)), float(np.exp(rng.uniform(np.log(2e-6), np.log(15e-6)))),
                         float(rng.uniform(0, np.pi)), float(rng.uniform()))
    if kind == "rivet":
        diameter = float(rng.uniform(0.004, 0.009))
        return Rivets(diameter, float(rng.uniform(0.0001, 0.0006)), diameter * float(rng.uniform(4.0, 6.0)),
                      float(rng.uniform(-0.004, 0.004)), float(rng.uniform(-0.003, 0.003)))
    if kind == "seam":
        if rng.uniform() < 0.5:
            return Seam("step", float(rng.uniform(-0.004, 0.004)), float(rng.uniform(0, np.pi)),
                        float(rng.uniform(0.00005, 0.0005)), 0.0)
        return Seam("gap", float(rng.uniform(-0.004, 0.004)), float(rng.uniform(0, np.pi)),
                    float(rng.uniform(0.00005, 0.0004)), float(rng.uniform(0.0002, 0.001)))
    if kind == "orange_peel":
        waves = 40
        wavelength = np.exp(rng.uniform(np.log(0.0006), np.log(0.003), waves))
        direction = rng.uniform(0, 2 * np.pi, waves)
        k = 2 * np.pi / wavelength
        return OrangePeel(tuple(float(x) for x in k * np.cos(direction)), tuple(float(x) for x in k * np.sin(direction)),
                          tuple(float(x) for x in rng.uniform(0, 2 * np.pi, waves)),
                          float(rng.uniform(1.5e-6, 6e-6)))
    raise InputError(f"texture: {kind!r} is not one of {', '.join(TEXTURES)}")


def texture_label(texture: Texture | None) -> dict | None:
    """The texture's kind and parameters (lengths in mm) for a press label; plane waves are summarised."""
    if texture is None:
        return None
    kind = {Thread: "thread", Machining: "machining", Rivets: "rivet", Seam: "seam", OrangePeel: "orange_peel"}[type(texture)]
    if isinstance(texture, OrangePeel):
        return {"kind": kind, "rms_mm": round(texture.rms_m * 1e3, 6), "waves": len(texture.phases)}
    fields = asdict(texture)
    record = {"kind": kind}
    for name, value in fields.items():
        if name.endswith("_m"):
            record[name[:-2] + "_mm"] = round(value * 1e3, 6)
        elif isinstance(value, float):
            record[name] = round(value, 6)
        else:
            record[name] = value
    return record


@dataclass(frozen=True)
class PartEdge:
    """The part ends along a line ``offset_m`` from the surface centre in direction ``angle_rad`` (the
    part lies on the side of the centre); its edge is rounded with ``radius_m`` (a deburred sheet edge)."""

    offset_m: float
    angle_rad: float
    radius_m: float

    def beyond(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(off_part, drop): where there is no part, and how far the rounded edge falls below the surface."""
        outward, _ = _rotate(u, v, self.angle_rad)
        into_round = np.clip(outward - (self.offset_m - self.radius_m), 0.0, None)
        drop = self.radius_m - np.sqrt(np.clip(self.radius_m**2 - into_round**2, 0.0, None))
        return outward > self.offset_m, drop

    def clip(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) with the points beyond the edge moved onto it along the outward direction: a grid so
        clipped meshes the part up to its edge exactly."""
        outward, along = _rotate(u, v, self.angle_rad)
        outward = np.minimum(outward, self.offset_m)
        return _rotate(outward, along, -self.angle_rad)

    def label(self) -> dict:
        return {"offset_mm": round(self.offset_m * 1e3, 6), "angle_rad": round(self.angle_rad, 6),
                "radius_mm": round(self.radius_m * 1e3, 6)}


def random_edge(rng: np.random.Generator) -> PartEdge:
    """An edge 1.5-7 mm from the surface centre (which stays on the part), in any direction."""
    return PartEdge(float(rng.uniform(0.0015, 0.007)), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.0002, 0.001)))
