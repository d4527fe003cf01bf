"""Parametric curved aerospace parts as triangle meshes with a surface parameterisation.

Every part is a swept cross-section: a curve along ``u`` (part x axis) of constant signed curvature
``k_u`` and, at each ``u``, a cross-section along ``v`` (towards part +y) whose signed curvature may
vary with ``v`` (a leading edge: tight nose, flat-ish sides). Positive curvature is convex (falls away
from the +z normal). ``v`` is the exact arc length across; ``u`` is the arc length along the centre
line (v = 0). Part frame: origin at the centre of the top surface, +z out of it, metres throughout.

Keeping the analytic surface beside the mesh lets the renderer shade with exact normals (the mesh
only decides which surface a ray hits) and gives every defect a (u, v) address. The mesh side (ray
casts, closest points, sampling, export) is ``inspection.geometry``'s ``PartSurface``, which ``Part``
builds on, so the simulator presses and renders the same surface that Stage I and the planner use; a
customer's mesh file is read by ``inspection.geometry.mesh_io`` (``load_mesh_part``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import InputError
from inspection.geometry.mesh_io import load_mesh
from inspection.geometry.surface import PartSurface, tangent_frame

PART_KINDS = ("cylinder_panel", "dome", "saddle", "leading_edge")
_PROFILE_STEP_M = 5e-5  # cross-section integration step: far below a camera pixel (0.2 mm)


@dataclass(frozen=True)
class CrossSection:
    """The ``v`` curve tabulated by integrating its curvature: angle, drop along the normal, sideways."""

    v: np.ndarray
    angle: np.ndarray
    drop: np.ndarray
    side: np.ndarray

    @staticmethod
    def from_curvature(half_width_m: float, curvature) -> "CrossSection":
        n = int(np.ceil(half_width_m / _PROFILE_STEP_M))
        v = np.linspace(-half_width_m, half_width_m, 2 * n + 1)
        kappa = curvature(v)
        step = v[1] - v[0]
        angle = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * step)])
        angle -= angle[n]  # zero angle at v = 0
        drop = np.concatenate([[0.0], np.cumsum(0.5 * (-np.sin(angle[1:]) - np.sin(angle[:-1])) * step)])
        side = np.concatenate([[0.0], np.cumsum(0.5 * (np.cos(angle[1:]) + np.cos(angle[:-1])) * step)])
        return CrossSection(v, angle, drop - drop[n], side - side[n])

    def at(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Angle (linear) and position (cubic Hermite, whose slope is the tabulated direction) at ``v``."""
        v = np.clip(v, self.v[0], self.v[-1])
        step = self.v[1] - self.v[0]
        i = np.clip(((v - self.v[0]) / step).astype(np.int64), 0, len(self.v) - 2)
        x = (v - self.v[i]) / step
        h00, h10 = (1 + 2 * x) * (1 - x) ** 2, x * (1 - x) ** 2
        h01, h11 = x * x * (3 - 2 * x), x * x * (x - 1)
        a0, a1 = self.angle[i], self.angle[i + 1]

        def hermite(values: np.ndarray, slope0: np.ndarray, slope1: np.ndarray) -> np.ndarray:
            return h00 * values[i] + h10 * step * slope0 + h01 * values[i + 1] + h11 * step * slope1

        return (a0 + x * (a1 - a0), hermite(self.drop, -np.sin(a0), -np.sin(a1)),
                hermite(self.side, np.cos(a0), np.cos(a1)))


def _cross_section(kind: str, params: dict[str, Any]) -> CrossSection:
    half = params["width_m"] / 2
    if kind == "cylinder_panel":
        return CrossSection.from_curvature(half, lambda v: np.full_like(v, 1.0 / params["radius_m"]))
    if kind == "dome":
        return CrossSection.from_curvature(half, lambda v: np.full_like(v, 1.0 / params["radius_v_m"]))
    if kind == "saddle":
        return CrossSection.from_curvature(half, lambda v: np.full_like(v, -1.0 / params["radius_v_m"]))
    # Leading edge: nose of radius r over |v| < nose_half_arc, cosine blend over blend_m into sides of radius R.
    nose_k, side_k = 1.0 / params["nose_radius_m"], 1.0 / params["side_radius_m"]
    nose_half, blend = params["nose_half_arc_m"], params["blend_m"]

    def curvature(v: np.ndarray) -> np.ndarray:
        x = np.clip((np.abs(v) - nose_half) / blend, 0.0, 1.0)
        return side_k + (nose_k - side_k) * 0.5 * (1.0 + np.cos(np.pi * x))

    return CrossSection.from_curvature(half, curvature)


@dataclass(frozen=True, eq=False)
class Part(PartSurface):
    """A part mesh plus, for parametric parts, its analytic surface (whose exact normals are the mesh's
    vertex normals). ``params`` rebuilds it (JSON-able)."""

    params: dict[str, Any] = field(kw_only=True)
    vertex_uv: np.ndarray | None = field(default=None, kw_only=True)  # (N, 2) surface coordinates (m); None: loaded
    section: CrossSection | None = field(default=None, repr=False, kw_only=True)

    @property
    def kind(self) -> str:
        return str(self.params["kind"])

    @property
    def uv_extent(self) -> tuple[float, float]:
        """(length along u, width along v) in metres."""
        return float(self.params["length_m"]), float(self.params["width_m"])

    def surface(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points, outward unit normals and unit u-tangents at surface coordinates (u, v)."""
        if self.section is None:
            raise InputError(f"part {self.kind!r}: a loaded mesh has no surface parameterisation")
        u, v = np.asarray(u, float), np.asarray(v, float)
        k_u = float(self.params["curvature_u"])
        sin_t, cos_t = np.sin(k_u * u), np.cos(k_u * u)
        zeros = np.zeros_like(u)
        if k_u == 0.0:
            centre = np.stack([u, zeros, zeros], -1)
        else:
            centre = np.stack([sin_t / k_u, zeros, (cos_t - 1.0) / k_u], -1)
        n_u = np.stack([sin_t, zeros, cos_t], -1)  # normal of the u-curve
        tangent = np.stack([cos_t, zeros, -sin_t], -1)
        angle, drop, side = self.section.at(v)
        e_y = np.array([0.0, 1.0, 0.0])
        points = centre + drop[..., None] * n_u + side[..., None] * e_y
        normals = np.cos(angle)[..., None] * n_u + np.sin(angle)[..., None] * e_y
        return points, normals, tangent

    def area_weight(self, v: np.ndarray) -> np.ndarray:
        """Area element per du dv: the u direction stretches by 1 + drop * k_u away from the centre line."""
        _, drop, _ = self.section.at(np.asarray(v, float))  # type: ignore[union-attr]
        return 1.0 + drop * float(self.params["curvature_u"])

    def sample_uv(self, rng: np.random.Generator, count: int, margin_m: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``count`` surface coordinates uniform by area, at least ``margin_m`` from the edges."""
        length, width = self.uv_extent
        weight_max = float(np.max(self.area_weight(self.section.v)))  # type: ignore[union-attr]
        u_out, v_out = [], []
        while sum(len(u) for u in u_out) < count:  # rejection sampling on the area element
            u = rng.uniform(-length / 2 + margin_m, length / 2 - margin_m, 2 * count)
            v = rng.uniform(-width / 2 + margin_m, width / 2 - margin_m, 2 * count)
            keep = rng.uniform(0.0, weight_max, 2 * count) < self.area_weight(v)
            u_out.append(u[keep])
            v_out.append(v[keep])
        return np.concatenate(u_out)[:count], np.concatenate(v_out)[:count]

    def sample_surface(self, rng: np.random.Generator, count: int = 1,
                       margin_m: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` (point, normal, tangent) uniformly by area, at least ``margin_m`` from the edges."""
        if self.section is None:  # a loaded mesh: the face's normal, and the tangent plane's part-x direction
            points, faces = self.sample_points(rng, count)
            normals = self.face_normals[faces]
            return points, normals, tangent_frame(normals)[0]
        return self.surface(*self.sample_uv(rng, count, margin_m))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k != "curvature_u"}


def load_mesh_part(path: str | Path, units: str = "m") -> Part:
    """A customer's mesh file (STL/OBJ/PLY, in ``units``) as a part; refusals name the file (see ``load_mesh``)."""
    surface = load_mesh(path, units)
    return Part(surface.vertices, surface.triangles, surface.vertex_normals, surface.name,
                params={"kind": "mesh", "source": str(path), "units": units})


def _grid(extent: float, step: float) -> np.ndarray:
    return np.linspace(-extent / 2, extent / 2, max(2, int(np.ceil(extent / step)) + 1))


def build_part(params: dict[str, Any]) -> Part:
    """Mesh a parametric part on a (u, v) grid fine enough that facets stay within 0.1 mm of the surface."""
    kind = str(params.get("kind"))
    if kind not in PART_KINDS:
        raise InputError(f"part kind {kind!r}: expected one of {list(PART_KINDS)}")
    params = dict(params)
    if kind == "cylinder_panel":
        params["width_m"] = params["arc_length_m"]
    params["curvature_u"] = 1.0 / params["radius_u_m"] if kind in ("dome", "saddle") else 0.0
    section = _cross_section(kind, params)
    tightest = float(min(params.get("nose_radius_m", 1e9), params.get("radius_m", 1e9), params.get("radius_v_m", 1e9)))
    v_step = float(np.clip(np.sqrt(8 * tightest * 1e-4), 0.002, 0.01))  # sagitta <= 0.1 mm
    u_step = 0.01
    if params["curvature_u"] != 0.0:
        u_step = float(np.clip(np.sqrt(8e-4 / params["curvature_u"]), 0.002, 0.01))
    u_grid, v_grid = _grid(params["length_m"], u_step), _grid(params["width_m"], v_step)
    uu, vv = np.meshgrid(u_grid, v_grid, indexing="ij")
    uv = np.stack([uu.ravel(), vv.ravel()], 1)
    analytic = Part(np.empty((0, 3)), np.empty((0, 3), np.int64), np.empty((0, 3)), kind, params=params,
                    vertex_uv=uv, section=section)
    points, normals, _ = analytic.surface(uv[:, 0], uv[:, 1])
    index = np.arange(len(uv)).reshape(len(u_grid), len(v_grid))
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    triangles = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int64)
    return Part(points, triangles, normals, kind, params=params, vertex_uv=uv, section=section)


def random_part(rng: np.random.Generator, kind: str | None = None) -> Part:
    """A random part of ``kind`` (any if None), 0.3-0.6 m long, so it fits the cell camera's view."""
    kind = kind or str(rng.choice(PART_KINDS))
    length = float(rng.uniform(0.3, 0.6))
    if kind == "cylinder_panel":
        params = {"kind": kind, "radius_m": float(rng.uniform(0.5, 2.5)),
                  "arc_length_m": float(rng.uniform(0.25, 0.45)), "length_m": length}
    elif kind in ("dome", "saddle"):
        params = {"kind": kind, "radius_u_m": float(rng.uniform(0.8, 3.0)), "radius_v_m": float(rng.uniform(0.6, 2.5)),
                  "width_m": float(rng.uniform(0.25, 0.45)), "length_m": length}
    elif kind == "leading_edge":
        params = _random_leading_edge(rng, length)
    else:
        raise InputError(f"part kind {kind!r}: expected one of {list(PART_KINDS)}")
    return build_part(params)


def _random_leading_edge(rng: np.random.Generator, length: float) -> dict[str, Any]:
    """Nose radius 20-60 mm; the nose arc is chosen so each side ends 50-75 degrees from the top,
    as on a wing or fin leading edge seen from above (steeper sides would face away from the camera)."""
    nose, side, width = float(rng.uniform(0.02, 0.06)), float(rng.uniform(0.6, 2.0)), float(rng.uniform(0.2, 0.3))
    turn = float(rng.uniform(np.radians(50), np.radians(75)))
    blend = min(float(rng.uniform(0.02, 0.05)), 0.8 * turn * nose)  # the blend turns about blend / (2 * nose)
    half = width / 2
    nose_k, side_k = 1.0 / nose, 1.0 / side
    nose_half = (turn - blend * (nose_k + side_k) / 2 - side_k * (half - blend)) / (nose_k - side_k)
    return {"kind": "leading_edge", "nose_radius_m": nose, "nose_half_arc_m": float(max(nose_half, 0.0)),
            "blend_m": blend, "side_radius_m": side, "width_m": width, "length_m": length}
