"""The part surface as every stage sees it: a checked triangle mesh in the part frame (metres) with
outward vertex normals and fast ray casts and closest-point queries (open3d, in C++).

Stage I casts camera rays on it, the planner puts presses on its closest points, the simulator renders
and presses it. Every query returns the point on the triangles and the normal interpolated from the
vertex normals there (smooth on tessellated curved parts), not a face normal: a coarse mesh of a smooth
part still gives smooth normals.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from inspection.errors import InputError

# A part bigger than this was almost certainly exported in millimetres.
MAX_PART_EXTENT_M = 20.0
MIN_PART_EXTENT_M = 1e-3
PART_X, PART_Y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


class MeshError(InputError):
    """The part mesh cannot be used; the message names the file or the problem."""


@dataclass(frozen=True)
class SurfaceHit:
    """Closest points on the surface for a batch of queries."""

    points: np.ndarray  # (N, 3) on the triangles
    normals: np.ndarray  # (N, 3) unit, interpolated vertex normals, outward
    triangles: np.ndarray  # (N,) triangle index
    distances: np.ndarray  # (N,) |query - point|


def tangent_frame(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit tangent axes (x, y) at unit ``normals`` (N, 3) or (3,), with (x, y, normal) right-handed.

    x is the part's x axis laid into the tangent plane (the part's y near x-facing surfaces, where x
    would vanish), so neighbouring frames on a smooth surface agree: the planner's footprint width
    direction and the simulator's defect orientation.
    """
    normals = np.atleast_2d(np.asarray(normals, dtype=float))
    reference = np.where(np.abs(normals @ PART_X)[:, None] > 0.9, PART_Y, PART_X)
    x_axis = reference - np.sum(reference * normals, axis=1, keepdims=True) * normals
    x_axis /= np.linalg.norm(x_axis, axis=1, keepdims=True)
    return x_axis, np.cross(normals, x_axis)


@dataclass(frozen=True, eq=False)
class PartSurface:
    """A triangle mesh in the part frame (metres) with outward unit vertex normals.

    Built by ``PartSurface.from_arrays`` (or ``inspection.geometry.mesh_io.load_mesh`` for a file),
    which checks the mesh; the simulator's parametric parts give their exact normals instead. The open3d
    scene is built on the first query and shared by every later one (renders, presses, casts).
    """

    vertices: np.ndarray  # (N, 3) float64
    triangles: np.ndarray  # (M, 3) int64, counter-clockwise seen from outside
    vertex_normals: np.ndarray  # (N, 3) unit, outward
    name: str = "mesh"  # the file or the part kind, for messages

    @staticmethod
    def from_arrays(vertices: np.ndarray, triangles: np.ndarray, name: str = "mesh") -> "PartSurface":
        """Check the arrays, drop zero-area triangles, and take area-weighted vertex normals from the winding.

        NaN, out-of-range indices, all-degenerate meshes, millimetres or kilometres are refused naming ``name``.
        """
        vertices = np.asarray(vertices, dtype=float)
        triangles = np.asarray(triangles)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 3:
            raise MeshError(f"{name}: expected (N, 3) vertices, got shape {vertices.shape}")
        if triangles.ndim != 2 or triangles.shape[1] != 3 or len(triangles) == 0:
            raise MeshError(f"{name}: expected (M, 3) triangles, got shape {triangles.shape}; is it a point cloud?")
        if not np.all(np.isfinite(vertices)):
            raise MeshError(f"{name}: {int((~np.isfinite(vertices)).any(axis=1).sum())} vertices are NaN or infinite")
        triangles = triangles.astype(np.int64)
        if triangles.min() < 0 or triangles.max() >= len(vertices):
            raise MeshError(f"{name}: triangle indices outside 0..{len(vertices) - 1}")
        face_normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                                vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
        areas = np.linalg.norm(face_normals, axis=1) / 2
        keep = areas > 1e-14
        if not keep.any():
            raise MeshError(f"{name}: every triangle is degenerate (zero area)")
        triangles = triangles[keep]
        extent = float(np.ptp(vertices[np.unique(triangles)], axis=0).max())
        if extent > MAX_PART_EXTENT_M:
            raise MeshError(f"{name}: the part is {extent:.1f} m across; were millimetres given? (metres expected; "
                            "a mesh file in millimetres loads with units='mm', --units mm)")
        if extent < MIN_PART_EXTENT_M:
            raise MeshError(f"{name}: the part is {extent * 1000:.3f} mm across; were kilometres given?")
        normals = np.zeros_like(vertices)
        for corner in range(3):  # face normals are area-weighted because they are not normalised yet
            np.add.at(normals, triangles[:, corner], face_normals[keep])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
        return PartSurface(vertices, triangles, normals, name)

    def _face_cross(self) -> np.ndarray:
        corners = self.vertices[self.triangles]
        return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])

    @property
    def face_normals(self) -> np.ndarray:
        """Unit normal of each triangle, from its winding."""
        cross = self._face_cross()
        return cross / np.linalg.norm(cross, axis=1, keepdims=True)

    @property
    def face_areas(self) -> np.ndarray:
        return np.linalg.norm(self._face_cross(), axis=1) / 2

    @property
    def area(self) -> float:
        return float(self.face_areas.sum())

    @cached_property
    def scene(self):
        """The open3d RaycastingScene (built once): closest points, distances and ray casts in C++."""
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)),
                            o3d.core.Tensor(self.triangles.astype(np.uint32)))
        return scene

    def _interpolated_normals(self, triangle_ids: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Unit normals at barycentric ``uv`` of ``triangle_ids``, from the vertex normals.

        Where the vertex normals cancel out (a knife edge) the triangle's own normal is used.
        """
        weights = np.column_stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]])
        normals = np.einsum("nk,nkd->nd", weights, self.vertex_normals[self.triangles[triangle_ids]])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = normals / np.maximum(length, 1e-12)
        flat = length[:, 0] <= 1e-9
        if flat.any():
            corners = self.vertices[self.triangles[triangle_ids[flat]]]
            face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            normals[flat] = face / np.linalg.norm(face, axis=1, keepdims=True)
        return normals

    def first_hits(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance along each ray (unit ``directions``) to the first triangle it meets (inf on a miss),
        and that triangle's index (-1 on a miss)."""
        import open3d as o3d

        origins, directions = np.broadcast_arrays(np.atleast_2d(origins), np.atleast_2d(directions))
        rays = np.hstack([origins, directions]).astype(np.float32)
        result = self.scene.cast_rays(o3d.core.Tensor(rays))
        distances = result["t_hit"].numpy().astype(np.float64)
        triangle_ids = np.where(np.isfinite(distances), result["primitive_ids"].numpy().astype(np.int64), -1)
        return distances, triangle_ids

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hit points, smooth unit normals facing the ray origin, and a hit mask, for each ray (NaN on a miss).

        The normals face the ray whatever the winding: a camera sees the side it looks at.
        """
        import open3d as o3d

        origins = np.asarray(origins, dtype=np.float64)
        directions = np.asarray(directions, dtype=np.float64)
        result = self.scene.cast_rays(o3d.core.Tensor(np.hstack([origins, directions]).astype(np.float32)))
        t_hit = result["t_hit"].numpy().astype(np.float64)
        hit = np.isfinite(t_hit)
        points = np.full_like(directions, np.nan)
        points[hit] = origins[hit] + directions[hit] * t_hit[hit, None]
        smooth = self._interpolated_normals(result["primitive_ids"].numpy()[hit].astype(np.int64),
                                            result["primitive_uvs"].numpy()[hit].astype(np.float64))
        smooth[(smooth * directions[hit]).sum(axis=1) > 0] *= -1.0
        normals = np.full_like(directions, np.nan)
        normals[hit] = smooth
        return points, normals, hit

    def closest(self, queries: np.ndarray) -> SurfaceHit:
        """Closest surface points of ``queries`` (N, 3) with the interpolated outward normal there."""
        import open3d as o3d

        queries = np.atleast_2d(np.asarray(queries, dtype=float))
        result = self.scene.compute_closest_points(o3d.core.Tensor(queries.astype(np.float32)))
        triangle_ids = result["primitive_ids"].numpy().astype(np.int64)
        uv = result["primitive_uvs"].numpy().astype(float)
        weights = np.column_stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]])
        # Recompute the point in float64 from the barycentric weights (open3d works in float32).
        points = np.einsum("nk,nkd->nd", weights, self.vertices[self.triangles[triangle_ids]])
        normals = self._interpolated_normals(triangle_ids, uv)
        return SurfaceHit(points, normals, triangle_ids, np.linalg.norm(queries - points, axis=1))

    def distance(self, queries: np.ndarray) -> np.ndarray:
        """Unsigned distance of each query point to the surface."""
        import open3d as o3d

        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        return self.scene.compute_distance(o3d.core.Tensor(queries)).numpy().astype(float)

    def sample_points(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` points uniform by area on the triangles, and the triangle each lies on."""
        areas = self.face_areas
        faces = rng.choice(len(areas), size=count, p=areas / areas.sum())
        u, v = rng.random(count), rng.random(count)
        flip = u + v > 1  # fold the far half of the parallelogram back into the triangle
        u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
        corners = self.vertices[self.triangles[faces]]
        edge_u, edge_v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        return corners[:, 0] + u[:, None] * edge_u + v[:, None] * edge_v, faces

    def _edge_uses(self) -> tuple[np.ndarray, np.ndarray]:
        """Each edge (vertex pair, sorted) once, and how many triangles use it."""
        edges = np.sort(self.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        return np.unique(edges, axis=0, return_counts=True)

    def boundary_edges(self) -> np.ndarray:
        """Edges used by one triangle only: the part's outer border and the rims of holes."""
        edges, uses = self._edge_uses()
        return edges[uses == 1]

    def non_manifold_edges(self) -> np.ndarray:
        """Edges shared by more than two triangles (a fin, a T-junction): no single outside there."""
        edges, uses = self._edge_uses()
        return edges[uses > 2]

    @cached_property
    def is_closed(self) -> bool:
        """No border: a closed part (touched from outside only) rather than a sheet (either side)."""
        return len(self.boundary_edges()) == 0
