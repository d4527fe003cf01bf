"""Tool-path planners: cover scan regions (or the whole part) with the tactile footprint.

Every press sits on the real surface (closest point, interpolated normal). Coverage is not assumed
from the grid: each planner samples the surface it must cover, checks every sample against the
footprints with a safety margin (3/4 of a sample step laterally, a quarter of the press depth in
height, so points between samples are covered too) and adds a press centred on any sample left over. So
curvature, mesh borders and holes cost extra presses instead of leaving gaps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspection.errors import InputError
from inspection.geometry.surface import PartSurface, tangent_frame
from inspection.records import ScanRegion
from inspection.planning.interfaces import Press, ToolPath, ToolPaths


class RegionError(InputError):
    """A scan region does not fit the mesh; the message names the region."""


@dataclass(frozen=True)
class Footprint:
    """The gel's imaged area (metres), the overlap between neighbouring presses, and the press depth."""

    width_m: float
    height_m: float
    overlap: float
    depth_m: float

    @property
    def pitch(self) -> tuple[float, float]:
        return self.width_m * (1 - self.overlap), self.height_m * (1 - self.overlap)

    @property
    def sample_step(self) -> float:
        return min(self.width_m, self.height_m) / 8


def covered_by(press: Press, points: np.ndarray, footprint: Footprint, margin_m: float = 0.0,
               depth_fraction: float = 1.0) -> np.ndarray:
    """Which surface points the gel touches: inside the footprint and within the press depth of the gel plane."""
    y_axis = press.y_axis
    offset = points - press.position
    x, y = offset @ press.x_axis, offset @ y_axis
    z = offset @ press.approach_axis
    return ((np.abs(x) <= footprint.width_m / 2 - margin_m) & (np.abs(y) <= footprint.height_m / 2 - margin_m)
            & (np.abs(z) <= footprint.depth_m * depth_fraction))


def _on_surface(queries: np.ndarray, surface: PartSurface, step: float):
    """Project queries; keep those whose projection is along the normal (not onto a border or hole rim)."""
    hit = surface.closest(queries)
    offset = queries - hit.points
    tangential = np.linalg.norm(offset - np.sum(offset * hit.normals, axis=1, keepdims=True) * hit.normals, axis=1)
    return hit, tangential <= 0.25 * step + 1e-5


def _plane_grid(center: np.ndarray, x_axis: np.ndarray, y_axis: np.ndarray, radius: float,
                step_x: float, step_y: float) -> np.ndarray:
    """Points of a centred grid in the tangent plane that lie inside the disc of ``radius``."""
    nx, ny = math.ceil(2 * radius / step_x), math.ceil(2 * radius / step_y)
    a = (np.arange(nx + 1) - nx / 2) * step_x
    b = (np.arange(ny + 1) - ny / 2) * step_y
    aa, bb = (m.ravel() for m in np.meshgrid(a, b, indexing="xy"))
    keep = aa * aa + bb * bb <= radius * radius
    return center + aa[keep, None] * x_axis + bb[keep, None] * y_axis


def _merge_groups(regions: list[ScanRegion], centers: np.ndarray) -> list[list[int]]:
    """Union-find over regions whose discs overlap: they are covered together, sharing presses."""
    parent = list(range(len(regions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            if np.linalg.norm(centers[i] - centers[j]) < regions[i].radius_m + regions[j].radius_m:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(regions)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _cover(samples: np.ndarray, labels: np.ndarray, candidates: list[Press], surface_normals: np.ndarray,
           footprint: Footprint, region_ids: list[str]) -> list[Press]:
    """Greedy set cover of the samples by the candidates, then a press on each sample still uncovered."""
    # Any surface point is within step/sqrt(2) of a sample, so this margin covers the points between samples.
    margin, depth_fraction = 0.75 * footprint.sample_step, 0.75
    matrix = np.array([covered_by(c, samples, footprint, margin, depth_fraction) for c in candidates]).reshape(
        len(candidates), len(samples))
    uncovered = np.ones(len(samples), dtype=bool)
    chosen: list[Press] = []
    while uncovered.any() and len(candidates):
        gains = (matrix & uncovered).sum(axis=1)
        best = int(np.argmax(gains))
        if gains[best] == 0:
            break
        chosen.append(candidates[best])
        uncovered &= ~matrix[best]
    while uncovered.any():
        index = int(np.flatnonzero(uncovered)[0])
        normal = surface_normals[index]
        press = Press((), samples[index], normal, tangent_frame(normal)[0][0])
        chosen.append(press)
        uncovered &= ~covered_by(press, samples, footprint, margin, depth_fraction)
    # Name each press by the regions whose samples it touches (first = the one it touches most).
    named = []
    for press in chosen:
        hits = labels[covered_by(press, samples, footprint)]
        ids, counts = np.unique(hits, return_counts=True)
        order = ids[np.argsort(-counts, kind="stable")]
        named.append(Press(tuple(region_ids[i] for i in order), press.position, press.normal, press.x_axis))
    return named


@dataclass(frozen=True)
class RegionCoveragePlanner:
    """Covers each scan region (merging overlapping ones) with presses on the surface."""

    regions: tuple[ScanRegion, ...]
    footprint: Footprint
    max_center_offset_m: float = 0.01

    def _anchor(self, surface: PartSurface, closed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each region's centre on the surface, the normal there, and the side (+1/-1) to touch it from.

        Regions off the mesh are errors.
        """
        centers = np.array([r.center for r in self.regions], dtype=float)
        hit = surface.closest(centers)
        sides = np.ones(len(self.regions))
        for i, region in enumerate(self.regions):
            if hit.distances[i] > self.max_center_offset_m:
                raise RegionError(f"region '{region.id}' (regions[{i}].center {list(region.center)}): "
                                  f"{hit.distances[i]:.3f} m from the mesh surface (allowed "
                                  f"{self.max_center_offset_m} m); wrong frame or units?")
            # An open sheet can be touched from either side: the region's normal picks the side.
            if not closed and hit.normals[i] @ np.asarray(region.normal) < 0:
                sides[i] = -1.0
        return hit.points, hit.normals * sides[:, None], sides

    def plan(self, surface: PartSurface) -> ToolPaths:
        if not self.regions:
            return ToolPaths()
        closed = surface.is_closed
        centers, normals, sides = self._anchor(surface, closed)
        step, (pitch_x, pitch_y) = self.footprint.sample_step, self.footprint.pitch
        paths, uncovered = [], []
        for group in _merge_groups(list(self.regions), centers):
            samples, sample_normals, labels, candidates = [], [], [], []
            for i in group:
                region, side = self.regions[i], sides[i]
                (x_axis,), (y_axis,) = tangent_frame(normals[i])
                # Samples reach one step past the rim: a rim point's nearest sample may lie outside the disc.
                grid = _plane_grid(centers[i], x_axis, y_axis, region.radius_m + step, step, step)
                hit, ok = _on_surface(grid, surface, step)
                ok &= np.linalg.norm(hit.points - centers[i], axis=1) <= region.radius_m + step
                region_normals = hit.normals[ok] * side
                samples.append(hit.points[ok])
                sample_normals.append(region_normals)
                labels.append(np.full(int(ok.sum()), i))
                # Candidates on a half-pitch grid: the greedy cover picks the few that fit the region best.
                reach = region.radius_m + min(pitch_x, pitch_y) / 2
                cells = _plane_grid(centers[i], x_axis, y_axis, reach, pitch_x / 2, pitch_y / 2)
                hit, ok = _on_surface(cells, surface, max(pitch_x, pitch_y))
                cell_normals = hit.normals[ok] * side
                candidates += [Press((), p, n, a) for p, n, a in zip(hit.points[ok], cell_normals,
                                                                      tangent_frame(cell_normals)[0])]
            points = np.concatenate(samples)
            if len(points) == 0:
                uncovered += [(self.regions[i].id, "no surface inside the region") for i in group]
                continue
            ids = [r.id for r in self.regions]
            presses = _cover(points, np.concatenate(labels), candidates, np.concatenate(sample_normals),
                             self.footprint, ids)
            paths.append(ToolPath(tuple(presses), tuple(ids[i] for i in group)))
        return ToolPaths(tuple(paths), tuple(uncovered))


def _area_samples(surface: PartSurface, step: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic area-uniform surface samples, about one per step^2."""
    count = max(int(math.ceil(surface.area / step ** 2)), len(surface.triangles))
    points, _ = surface.sample_points(np.random.default_rng(seed), count)
    hit = surface.closest(points)
    return hit.points, hit.normals


@dataclass(frozen=True)
class FullCoverageRasterPlanner:
    """Rasters the whole surface with the same footprint: the baseline that targeted scanning saves on.

    Faces are split into six charts by their dominant normal direction (so closed parts work), each
    chart is rastered in its projection plane at the pitch shrunk by the steepest slope in the chart,
    and the grid is dropped onto the surface by ray casting; coverage is then checked like regions.
    """

    footprint: Footprint

    def plan(self, surface: PartSurface) -> ToolPaths:
        from scipy.spatial import cKDTree

        normals = surface.face_normals
        dominant = np.argmax(np.abs(normals), axis=1)
        chart_of_face = dominant * 2 + (normals[np.arange(len(normals)), dominant] < 0)
        lo, hi = surface.vertices.min(axis=0), surface.vertices.max(axis=0)
        candidates: list[Press] = []
        for chart in np.unique(chart_of_face):
            axis_index, sign = divmod(int(chart), 2)
            axis = np.zeros(3)
            axis[axis_index] = -1.0 if sign else 1.0
            u_index, v_index = [k for k in range(3) if k != axis_index]
            faces = chart_of_face == chart
            slope = max(float(np.min(np.abs(normals[faces, axis_index]))), 0.5)
            pitch_u, pitch_v = (p * slope for p in self.footprint.pitch)
            us = np.arange(lo[u_index] + pitch_u / 2, hi[u_index] + pitch_u / 2, pitch_u)
            vs = np.arange(lo[v_index] + pitch_v / 2, hi[v_index] + pitch_v / 2, pitch_v)
            rows = []
            for row, v in enumerate(vs):  # serpentine: alternate direction every row
                line = us if row % 2 == 0 else us[::-1]
                origin = np.zeros((len(line), 3))
                origin[:, u_index], origin[:, v_index] = line, v
                origin[:, axis_index] = hi[axis_index] + 1.0 if not sign else lo[axis_index] - 1.0
                rows.append(origin)
            origins = np.concatenate(rows)
            distance, triangle = surface.first_hits(origins, -axis)
            hit_ok = np.isfinite(distance)
            hit_ok[hit_ok] &= chart_of_face[triangle[hit_ok]] == chart
            hits = surface.closest(origins[hit_ok] - axis * distance[hit_ok, None])
            for p, n, a in zip(hits.points, hits.normals, tangent_frame(hits.normals)[0]):
                candidates.append(Press(("full",), p, n, a))
        samples, sample_normals = _area_samples(surface, self.footprint.sample_step)
        uncovered = np.ones(len(samples), dtype=bool)
        tree = cKDTree(samples)
        reach = math.hypot(self.footprint.width_m, self.footprint.height_m) / 2
        margin = 0.75 * self.footprint.sample_step

        def mark(press: Press) -> None:
            near = np.asarray(tree.query_ball_point(press.position, reach), dtype=np.int64)
            if len(near):
                uncovered[near[covered_by(press, samples[near], self.footprint, margin, 0.75)]] = False

        for press in candidates:
            mark(press)
        while uncovered.any():  # parts the raster missed: under overhangs, steep chart edges
            index = int(np.flatnonzero(uncovered)[0])
            press = Press(("full",), samples[index], sample_normals[index], tangent_frame(sample_normals[index])[0][0])
            candidates.append(press)
            mark(press)
        return ToolPaths((ToolPath(tuple(candidates), ("full",)),))
