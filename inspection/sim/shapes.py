"""Reference part shapes (part frame: origin at the top-surface centre, +z out of it) for tests and benchmarks.

Analytic surfaces give an independent truth for normals and coverage; they are not the simulator's
random parts (inspection.sim.parts), just simple meshes every planner test can rebuild in milliseconds.
They live beside the simulator, not in planning, because the pipeline never plans on them.
"""
from __future__ import annotations

import numpy as np


def grid_triangles(rows: int, cols: int) -> np.ndarray:
    """Two triangles per grid cell, wound counter-clockwise seen from +z for an x-major grid."""
    index = np.arange(rows * cols).reshape(rows, cols)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    return np.vstack([np.column_stack([a, c, b]), np.column_stack([b, c, d])])


def cylinder_panel(radius: float = 1.0, arc_rad: float = np.pi / 3, length: float = 0.5,
                   resolution: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Convex-up cylindrical section, axis along y at z = -radius; the top line is the y axis."""
    angles = np.linspace(-arc_rad / 2, arc_rad / 2, max(3, int(round(radius * arc_rad / resolution)) + 1))
    ys = np.linspace(-length / 2, length / 2, max(3, int(round(length / resolution)) + 1))
    yy, aa = np.meshgrid(ys, angles, indexing="xy")  # rows: angle (x), cols: y
    vertices = np.column_stack([radius * np.sin(aa).ravel(), yy.ravel(), radius * (np.cos(aa).ravel() - 1.0)])
    return vertices, grid_triangles(len(angles), len(ys))


def cylinder_panel_normal(points: np.ndarray, radius: float = 1.0) -> np.ndarray:
    outward = points * np.array([1.0, 0.0, 1.0]) + np.array([0.0, 0.0, radius])
    return outward / np.linalg.norm(outward, axis=1, keepdims=True)


def height_field(kx: float, ky: float, size: float = 0.5, resolution: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """z = -(kx x^2 + ky y^2) / 2: a dome for kx, ky > 0, a saddle for opposite signs (curvatures 1/m)."""
    xs = np.linspace(-size / 2, size / 2, int(round(size / resolution)) + 1)
    xx, yy = np.meshgrid(xs, xs, indexing="ij")
    vertices = np.column_stack([xx.ravel(), yy.ravel(), -(kx * xx.ravel() ** 2 + ky * yy.ravel() ** 2) / 2])
    return vertices, grid_triangles(len(xs), len(xs))


def height_field_normal(points: np.ndarray, kx: float, ky: float) -> np.ndarray:
    normal = np.column_stack([kx * points[:, 0], ky * points[:, 1], np.ones(len(points))])
    return normal / np.linalg.norm(normal, axis=1, keepdims=True)


def sphere(radius: float = 0.15, subdivisions: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Closed icosphere centred at (0, 0, -radius) so the part origin is its top; its average normal is zero."""
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(mesh.vertices) - np.array([0.0, 0.0, radius]), np.asarray(mesh.faces)


def sphere_normal(points: np.ndarray, radius: float = 0.15) -> np.ndarray:
    outward = points + np.array([0.0, 0.0, radius])
    return outward / np.linalg.norm(outward, axis=1, keepdims=True)
