"""Defects with ground truth: a surface displacement (geometric classes) or an albedo/gloss change
(optical classes), each defined in its own tangent frame on the part surface.

A defect is placed at ``center`` on the nominal surface, with outward ``normal`` and its long axis
along ``tangent``. Local coordinates are ``s`` (along ``tangent``) and ``t`` (along
``normal x tangent``), in metres. ``height_at`` returns the offset along the normal: negative where
material is missing (scratch, dent, pit, crack, missing fastener), positive where it is raised (bump).
The camera renderer perturbs normals with it and the tactile simulator presses the gel into it, so both
stages see the same defect.

A missing fastener is a rivet hole without its head: a round hole deeper than the gel can follow (the
membrane bridges it and is felt by its rim) and dark to the camera (little light reaches its bottom),
so it is the one geometric class that also has an optical change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspection.records import DEFECT_CLASSES, GEOMETRIC_CLASSES, Vector3
from inspection.json_codec import SchemaError

# Size ranges per class (metres): (length), (width), (depth or height). Scratches and dents follow the
# issue's ranges; pits are small and sharp; cracks are long, hair-thin and comparatively deep.
SIZE_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "scratch": ((0.008, 0.060), (0.0002, 0.0006), (0.00002, 0.0003)),
    "dent": ((0.003, 0.030), (0.003, 0.030), (0.00005, 0.001)),
    "pit": ((0.0004, 0.0015), (0.0004, 0.0015), (0.00005, 0.0004)),
    "bump": ((0.002, 0.012), (0.002, 0.012), (0.00005, 0.0004)),
    "crack": ((0.004, 0.030), (0.00008, 0.0002), (0.00005, 0.0005)),
    "stain": ((0.005, 0.040), (0.004, 0.030), (0.0, 0.0)),
    "paint_loss": ((0.003, 0.025), (0.003, 0.020), (0.0, 0.0)),
    # Shank holes of 1/8 to 3/16 inch rivets and screws, through a 1-2 mm skin into the structure below.
    "missing_fastener": ((0.003, 0.005), (0.003, 0.005), (0.001, 0.003)),
}
HOLE_EDGE_M = 1.5e-4  # a drilled hole's edge break: the wall drops over this width, not in a step
# Primer showing through lost paint is yellow-green; stains darken and tint.
PRIMER_RGB = (0.72, 0.78, 0.45)


def _unit(v: np.ndarray, name: str) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm < 1e-9:
        raise SchemaError(f"{name}: zero or non-finite vector {list(v)}")
    return v / norm


def _raised_cosine(r: np.ndarray) -> np.ndarray:
    """1 at r=0 falling smoothly to 0 at r=1 (zero slope at both ends), 0 beyond."""
    return np.where(r < 1.0, 0.5 * (1.0 + np.cos(np.pi * np.clip(r, 0.0, 1.0))), 0.0)


@dataclass(frozen=True)
class Defect:
    """One defect and its ground truth. Lengths are metres; ``depth_m`` is positive for a bump's height too."""

    id: str
    class_name: str
    center: Vector3
    normal: Vector3
    tangent: Vector3
    length_m: float
    width_m: float
    depth_m: float
    albedo_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gloss_factor: float = 1.0
    # Crack path: (amplitude m, spatial frequency 1/m, phase) terms of its sideways wander.
    wander: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.class_name not in DEFECT_CLASSES:
            raise SchemaError(f"class_name: {self.class_name!r} is not one of {list(DEFECT_CLASSES)}")
        normal = _unit(np.asarray(self.normal, float), "normal")
        tangent = np.asarray(self.tangent, float)
        tangent = _unit(tangent - normal * float(tangent @ normal), "tangent")  # force into the tangent plane
        object.__setattr__(self, "normal", tuple(float(v) for v in normal))
        object.__setattr__(self, "tangent", tuple(float(v) for v in tangent))
        if self.length_m <= 0 or self.width_m <= 0 or self.depth_m < 0:
            raise SchemaError(f"defect {self.id}: sizes must be positive (length, width) and depth >= 0")

    @property
    def is_geometric(self) -> bool:
        return self.class_name in GEOMETRIC_CLASSES

    @property
    def is_hole(self) -> bool:
        """A hole deeper than the gel can follow and dark to the camera (a missing fastener)."""
        return self.class_name == "missing_fastener"

    @property
    def has_optical_change(self) -> bool:
        """Whether the camera sees an albedo/gloss change: optical classes and the dark inside of a hole."""
        return not self.is_geometric or self.is_hole

    @property
    def support_radius_m(self) -> float:
        """Radius around ``center`` outside which the defect changes nothing."""
        wander = sum(abs(a) for a, _, _ in self.wander)
        return 0.5 * max(self.length_m, self.width_m) + wander + 1e-4

    def local_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s, t, n) of part-frame points in the defect's tangent frame."""
        offset = np.asarray(points, float) - np.asarray(self.center)
        normal, tangent = np.asarray(self.normal), np.asarray(self.tangent)
        bitangent = np.cross(normal, tangent)
        return offset @ tangent, offset @ bitangent, offset @ normal

    def profile(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Signed height (m) on the tangent plane; negative where material is missing."""
        half_l, half_w = self.length_m / 2, self.width_m / 2
        if self.class_name == "scratch":
            # Parabolic groove, tapering over the last fifth of its length at each end.
            across = np.clip(1.0 - (t / half_w) ** 2, 0.0, None)
            along = np.clip((half_l - np.abs(s)) / (0.2 * half_l), 0.0, 1.0)
            return -self.depth_m * across * along
        if self.class_name in ("dent", "bump"):
            r = np.sqrt((s / half_l) ** 2 + (t / half_w) ** 2)
            sign = 1.0 if self.class_name == "bump" else -1.0
            return sign * self.depth_m * _raised_cosine(r)
        if self.class_name == "pit":
            r = np.sqrt((s / half_l) ** 2 + (t / half_w) ** 2)
            return -self.depth_m * np.clip(1.0 - r, 0.0, None) ** 1.5  # sharp-edged cone
        if self.class_name == "crack":
            centre_line = sum(a * np.sin(f * s + p) for a, f, p in self.wander) if self.wander else 0.0
            across = np.clip(1.0 - np.abs(t - centre_line) / half_w, 0.0, None)
            along = np.clip((half_l - np.abs(s)) / (0.3 * half_l), 0.0, 1.0)
            return -self.depth_m * across * along
        if self.is_hole:
            return -self.depth_m * self._hole_mask(s, t)
        return np.zeros(np.broadcast(s, t).shape)  # optical defects cannot be felt

    def _hole_mask(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """1 inside the hole, 0 outside, falling across the edge break at its rim."""
        radius = self.length_m / 2
        return np.clip((radius - np.sqrt(s * s + t * t)) / HOLE_EDGE_M, 0.0, 1.0)

    def optical_mask(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """0..1 weight of the albedo/gloss change (soft-edged ellipse, or a hole's inside); zero for the
        other geometric classes."""
        if self.is_hole:
            return self._hole_mask(s, t)
        if self.is_geometric:
            return np.zeros(np.broadcast(s, t).shape)
        r = np.sqrt((s / (self.length_m / 2)) ** 2 + (t / (self.width_m / 2)) ** 2)
        return np.clip((1.0 - r) / 0.25, 0.0, 1.0)

    def height_at(self, points: np.ndarray, max_normal_distance_m: float = 0.005) -> np.ndarray:
        """Height offset (m) at part-frame points near the nominal surface."""
        s, t, n = self.local_coordinates(points)
        near = (np.abs(n) < max_normal_distance_m) & (s * s + t * t < self.support_radius_m**2)
        height = np.zeros(len(s))
        if near.any():
            height[near] = self.profile(s[near], t[near])
        return height

    def ground_truth(self) -> dict[str, Any]:
        """The record saved per part: class, centre, normal, extent and depth, part frame, metres."""
        return {
            "id": self.id,
            "class_name": self.class_name,
            "center": list(self.center),
            "normal": list(self.normal),
            "tangent": list(self.tangent),
            "extent_m": [self.length_m, self.width_m],
            "depth_m": self.depth_m if self.class_name != "bump" else -self.depth_m,
            "geometric": self.is_geometric,
            "albedo_rgb": list(self.albedo_rgb),
            "gloss_factor": self.gloss_factor,
            "wander": [list(w) for w in self.wander],
        }

    @staticmethod
    def from_ground_truth(record: dict[str, Any]) -> "Defect":
        depth = float(record["depth_m"])
        return Defect(
            id=str(record["id"]), class_name=str(record["class_name"]), center=tuple(record["center"]),
            normal=tuple(record["normal"]), tangent=tuple(record["tangent"]),
            length_m=float(record["extent_m"][0]), width_m=float(record["extent_m"][1]), depth_m=abs(depth),
            albedo_rgb=tuple(record.get("albedo_rgb", (1.0, 1.0, 1.0))),
            gloss_factor=float(record.get("gloss_factor", 1.0)),
            wander=tuple(tuple(w) for w in record.get("wander", ())),
        )


def random_defect(
    rng: np.random.Generator, class_name: str, defect_id: str,
    center: np.ndarray, normal: np.ndarray, tangent: np.ndarray,
) -> Defect:
    """A defect of ``class_name`` with random size, depth, orientation and appearance at ``center``."""
    (l_lo, l_hi), (w_lo, w_hi), (d_lo, d_hi) = SIZE_RANGES[class_name]
    length = float(np.exp(rng.uniform(np.log(l_lo), np.log(l_hi))))  # log-uniform: small ones as often as big
    width = float(np.exp(rng.uniform(np.log(w_lo), np.log(w_hi))))
    if class_name in ("dent", "bump", "pit"):
        width = float(np.clip(length * rng.uniform(0.6, 1.0), w_lo, w_hi))  # near-round
    elif class_name == "missing_fastener":
        width = length  # a drilled hole is round
    depth = float(np.exp(rng.uniform(np.log(d_lo), np.log(d_hi)))) if d_hi > 0 else 0.0
    if class_name in ("dent", "bump"):
        depth = min(depth, 0.08 * width)  # a 3 mm dent is not 1 mm deep: keep slopes physical
    angle = rng.uniform(0, np.pi)
    normal = _unit(np.asarray(normal, float), "normal")
    tangent = _unit(np.asarray(tangent, float) - normal * float(np.asarray(tangent) @ normal), "tangent")
    bitangent = np.cross(normal, tangent)
    direction = np.cos(angle) * tangent + np.sin(angle) * bitangent
    albedo, gloss, wander = (1.0, 1.0, 1.0), 1.0, ()
    if class_name == "stain":
        tint = rng.uniform(0.45, 0.85)
        albedo = (tint * rng.uniform(0.9, 1.05), tint * rng.uniform(0.85, 1.0), tint * rng.uniform(0.7, 0.95))
        gloss = rng.uniform(0.3, 0.8)
    elif class_name == "paint_loss":
        albedo, gloss = PRIMER_RGB, rng.uniform(0.2, 0.5)
    elif class_name == "missing_fastener":  # the shadowed inside of the hole: dark, matt, slightly warm (primer)
        shade = rng.uniform(0.04, 0.15)
        albedo, gloss = (shade * 1.05, shade, shade * 0.9), 0.1
    elif class_name == "crack":
        wander = tuple(
            (float(rng.uniform(0.1, 0.4) * width * 4), float(rng.uniform(200, 900)), float(rng.uniform(0, 2 * np.pi)))
            for _ in range(3)
        )
    return Defect(
        id=defect_id, class_name=class_name, center=tuple(float(v) for v in center),
        normal=tuple(float(v) for v in normal), tangent=tuple(float(v) for v in direction),
        length_m=length, width_m=width, depth_m=depth, albedo_rgb=albedo, gloss_factor=gloss, wander=wander,
    )


def total_height(defects: list[Defect], points: np.ndarray) -> np.ndarray:
    """Sum of every geometric defect's height at ``points`` (part frame)."""
    height = np.zeros(len(points))
    for defect in defects:
        if defect.is_geometric:
            height += defect.height_at(points)
    return height

