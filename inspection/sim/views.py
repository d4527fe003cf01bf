"""Camera poses that cover a part, and how much of its surface they really cover.

A part larger than one camera footprint is inspected from a view plan (``view_plan``): the fixed cell
camera alone, or normal views on a grid at the cell camera's stand-off, so that every defect is in some
image. All poses here are in the part frame (``Camera.part_from_camera``).

A view looks along the inward surface normal from a working distance, image x along the part's u
direction, on a (u, v) grid whose step leaves overlap between neighbouring images. Coverage counts
the surface area (area-uniform samples) seen by at least one view unoccluded, within ``max_angle``
of the normal and at ``max_mm_per_px`` or finer: what a quality engineer needs to know before
trusting that "no defect found" means no defect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.sim.camera import Camera, look_at
from inspection.sim.parts import Part

VIEW_PLANS = ("grid", "fixed")
DEFAULT_MAX_ANGLE = np.radians(60.0)
DEFAULT_MAX_MM_PER_PX = 0.5


@dataclass(frozen=True)
class Coverage:
    fraction: float  # of the surface area
    samples: int
    per_view: list[float]  # fraction of the surface each view alone covers


def _footprint(camera: Camera, distance: float) -> tuple[float, float]:
    return camera.width / camera.fx * distance, camera.height / camera.fy * distance


def normal_view(part: Part, camera: Camera, u: float, v: float, distance: float, tilt: float = 0.0,
                tilt_azimuth: float = 0.0, roll: float = 0.0) -> Camera:
    """The camera ``distance`` from surface point (u, v) along its normal, optionally tilted and rolled."""
    point, normal, tangent = (a[0] for a in part.surface(np.array([u]), np.array([v])))
    bitangent = np.cross(normal, tangent)
    sideways = np.cos(tilt_azimuth) * tangent + np.sin(tilt_azimuth) * bitangent
    direction = np.cos(tilt) * normal + np.sin(tilt) * sideways
    up = np.cos(roll) * bitangent + np.sin(roll) * tangent  # image x ends up along ``tangent`` at roll 0
    return camera.with_pose(look_at(point + distance * direction, point, -up))


def grid_views(part: Part, camera: Camera, distance: float = 0.5, overlap: float = 0.2) -> list[Camera]:
    """Normal views on a (u, v) grid; a loaded mesh (no parameterisation) keeps the given camera."""
    if part.vertex_uv is None:
        return [camera]
    length, width = part.uv_extent
    along, across = (1.0 - overlap) * np.array(_footprint(camera, distance))
    nu, nv = max(1, int(np.ceil(length / along))), max(1, int(np.ceil(width / across)))
    us = (np.arange(nu) + 0.5) / nu * length - length / 2
    vs = (np.arange(nv) + 0.5) / nv * width - width / 2
    return [normal_view(part, camera, float(u), float(v), distance) for u in us for v in vs]


def standoff_m(camera: Camera) -> float:
    """The camera's distance from the part frame's origin (the centre of the part's top surface)."""
    return float(np.linalg.norm(camera.centre))


def view_plan(kind: str, part: Part, camera: Camera, overlap: float = 0.2) -> list[Camera]:
    """``fixed``: the given (cell) camera only; ``grid``: normal views at its stand-off covering the part,
    neighbouring images sharing ``overlap`` of their footprint."""
    if kind == "fixed":
        return [camera]
    if kind == "grid":
        return grid_views(part, camera, standoff_m(camera), overlap)
    raise ValueError(f"view plan '{kind}': expected one of {list(VIEW_PLANS)}")


def random_view(rng: np.random.Generator, part: Part, camera: Camera) -> Camera:
    """Domain-randomised view: the cell camera (40%) or a jittered normal view at 0.4-0.6 m."""
    if part.vertex_uv is None or rng.uniform() < 0.4:
        return camera
    length, width = part.uv_extent
    u, v = rng.uniform(-0.35, 0.35) * length, rng.uniform(-0.4, 0.4) * width
    return normal_view(part, camera, u, v, float(rng.uniform(0.4, 0.6)), tilt=float(rng.uniform(0, np.radians(15))),
                       tilt_azimuth=float(rng.uniform(0, 2 * np.pi)), roll=float(rng.choice([0.0, np.pi / 2, np.pi])
                                                                                 + rng.normal(0, 0.1)))


def coverage(part: Part, cameras: list[Camera], samples: int = 20000, seed: int = 0,
             max_angle: float = DEFAULT_MAX_ANGLE, max_mm_per_px: float = DEFAULT_MAX_MM_PER_PX) -> Coverage:
    """Fraction of the surface area seen adequately by at least one camera."""
    points, normals, _ = part.sample_surface(np.random.default_rng(seed), samples)
    seen_any = np.zeros(samples, bool)
    per_view = []
    for camera in cameras:
        pixels, depth = camera.project(points)
        inside = (depth > 0) & (pixels[:, 0] >= -0.5) & (pixels[:, 0] < camera.width - 0.5) & (
            pixels[:, 1] >= -0.5) & (pixels[:, 1] < camera.height - 0.5)
        to_point = points - camera.centre
        distance = np.linalg.norm(to_point, axis=1)
        direction = to_point / distance[:, None]
        cos_angle = -np.einsum("ij,ij->i", direction, normals)
        mm_per_px = 1000 * distance / min(camera.fx, camera.fy) / np.clip(cos_angle, 1e-3, None)
        t_hit = part.first_hits(camera.centre, direction)[0]
        unoccluded = t_hit > distance - 2e-4  # the first surface the ray meets is this point
        seen = inside & unoccluded & (cos_angle > np.cos(max_angle)) & (mm_per_px <= max_mm_per_px)
        per_view.append(float(seen.mean()))
        seen_any |= seen
    return Coverage(float(seen_any.mean()), samples, per_view)
