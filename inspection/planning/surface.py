"""The part surface as the planner sees it: a validated triangle mesh with fast closest-point queries.

Presses are placed on the real surface, so every query returns the closest point on the triangles
and the normal interpolated from the vertex normals there (smooth on tessellated curved parts),
not a face normal and not the region's normal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from inspection.errors import InputError

# A part bigger than this was almost certainly exported in millimetres.
MAX_PART_EXTENT_M = 20.0
MIN_PART_EXTENT_M = 1e-3


class MeshError(InputError):
    """The part mesh cannot be planned on; the message names the file or the problem."""


@dataclass(frozen=True)
class SurfaceHit:
    """Closest points on the surface for a batch of queries."""

    points: np.ndarray  # (N, 3) on the triangles
    normals: np.ndarray  # (N, 3) unit, interpolated vertex normals, outward
    triangles: np.ndarray  # (N,) triangle index
    distances: np.ndarray  # (N,) |query - point|


@dataclass
class Surface:
    """A triangle mesh in the part frame (metres) with outward vertex normals.

    Built through ``Surface.from_arrays`` which checks the mesh; the open3d scene is made lazily so
    that a Surface can be copied by mesh modifiers cheaply.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    vertex_normals: np.ndarray
    name: str = "mesh"
    _scene: object | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def from_arrays(vertices: np.ndarray, triangles: np.ndarray, name: str = "mesh") -> "Surface":
        """Check the arrays and compute area-weighted vertex normals from the triangle winding."""
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
            raise MeshError(f"{name}: the part is {extent:.1f} m across; were millimetres given? (metres expected)")
        if extent < MIN_PART_EXTENT_M:
            raise MeshError(f"{name}: the part is {extent * 1000:.3f} mm across; were kilometres given?")
        normals = np.zeros_like(vertices)
        for corner in range(3):  # face normals are area-weighted because they are not normalised yet
            np.add.at(normals, triangles[:, corner], face_normals[keep])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
        return Surface(vertices, triangles, normals, name)

    def _face_cross(self) -> np.ndarray:
        corners = self.vertices[self.triangles]
        return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])

    @property
    def face_normals(self) -> np.ndarray:
        cross = self._face_cross()
        return cross / np.linalg.norm(cross, axis=1, keepdims=True)

    @property
    def face_areas(self) -> np.ndarray:
        return np.linalg.norm(self._face_cross(), axis=1) / 2

    @property
    def area(self) -> float:
        return float(self.face_areas.sum())

    def scene(self):
        """The open3d RaycastingScene (built once): closest points, distances and ray casts in C++."""
        if self._scene is None:
            import open3d as o3d

            scene = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)),
                                o3d.core.Tensor(self.triangles.astype(np.uint32)))
            self._scene = scene
        return self._scene

    def closest(self, queries: np.ndarray) -> SurfaceHit:
        """Closest surface points of ``queries`` (N, 3) with the interpolated outward normal there."""
        import open3d as o3d

        queries = np.atleast_2d(np.asarray(queries, dtype=float))
        result = self.scene().compute_closest_points(o3d.core.Tensor(queries.astype(np.float32)))
        tri = result["primitive_ids"].numpy().astype(np.int64)
        uv = result["primitive_uvs"].numpy().astype(float)
        corners = self.triangles[tri]
        weights = np.column_stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]])
        # Recompute the point in float64 from the barycentric weights (open3d works in float32).
        points = np.einsum("nk,nkd->nd", weights, self.vertices[corners])
        normals = np.einsum("nk,nkd->nd", weights, self.vertex_normals[corners])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = normals / np.maximum(length, 1e-12)
        flat = length[:, 0] <= 1e-9  # vertex normals cancelled out (a knife edge): use the face's own
        if flat.any():
            corners_flat = self.vertices[self.triangles[tri[flat]]]
            face = np.cross(corners_flat[:, 1] - corners_flat[:, 0], corners_flat[:, 2] - corners_flat[:, 0])
            normals[flat] = face / np.linalg.norm(face, axis=1, keepdims=True)
        return SurfaceHit(points, normals, tri, np.linalg.norm(queries - points, axis=1))

    def distance(self, queries: np.ndarray) -> np.ndarray:
        """Unsigned distance of each query point to the surface."""
        import open3d as o3d

        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        return self.scene().compute_distance(o3d.core.Tensor(queries)).numpy().astype(float)

    def boundary_edges(self) -> np.ndarray:
        """Edges used by one triangle only: the part's outer border and the rims of holes."""
        edges = np.sort(self.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        unique, counts = np.unique(edges, axis=0, return_counts=True)
        return unique[counts == 1]

    @cached_property
    def is_closed(self) -> bool:
        """No border: a closed part (touched from outside only) rather than a sheet (either side)."""
        return len(self.boundary_edges()) == 0


def load_mesh(path: str | Path) -> Surface:
    """Read a mesh file (STL, OBJ, PLY) as a Surface; errors name the file."""
    from inspection.sim.mesh_io import read_mesh_arrays

    try:
        vertices, triangles = read_mesh_arrays(path)
    except InputError as exc:
        raise MeshError(str(exc)) from exc
    return Surface.from_arrays(vertices, triangles, name=str(path))
