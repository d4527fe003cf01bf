"""Pinhole camera with plumb_bob (Brown-Conrady) distortion, posed in the part frame.

Rendering at another resolution scales the intrinsics, so a 640x360 test image and a 1920x1080
dataset image see the same field of view and distortion. Pixel centres are at integer coordinates
(OpenCV / ROS convention).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from inspection.cell import CellConfig

_UNDISTORT_ITERATIONS = 12


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, float, float, float, float]  # k1, k2, p1, p2, k3
    part_from_camera: np.ndarray  # 4x4: optical frame (z forward, x right, y down) in the part frame

    @staticmethod
    def from_cell(cell: CellConfig, width: int | None = None, height: int | None = None) -> "Camera":
        c = cell.camera
        pose = np.linalg.inv(cell.part_to_world()) @ cell.camera_to_world()
        camera = Camera(c.width, c.height, c.fx, c.fy, c.cx, c.cy, tuple(c.distortion), pose)  # type: ignore[arg-type]
        return camera.scaled(width or c.width, height or c.height)

    def scaled(self, width: int, height: int) -> "Camera":
        """Same lens at another resolution (pixel-centre convention preserved)."""
        sx, sy = width / self.width, height / self.height
        return replace(self, width=width, height=height, fx=self.fx * sx, fy=self.fy * sy,
                       cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5)

    def with_pose(self, part_from_camera: np.ndarray) -> "Camera":
        return replace(self, part_from_camera=np.asarray(part_from_camera, float))

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k1, k2, p1, p2, k3 = self.distortion
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)

    def project(self, points_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and optical-axis depth (N,) of part-frame points."""
        camera_from_part = np.linalg.inv(self.part_from_camera)
        p = np.asarray(points_part, float) @ camera_from_part[:3, :3].T + camera_from_part[:3, 3]
        z = p[:, 2]
        safe = np.where(z > 1e-9, z, 1e-9)
        xd, yd = self._distort(p[:, 0] / safe, p[:, 1] / safe)
        return np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], 1), z

    def ray_directions(self, x0: int = 0, y0: int = 0, w: int | None = None, h: int | None = None) -> np.ndarray:
        """Unit ray directions (h, w, 3) in the part frame for a pixel window (whole image by default)."""
        w, h = w or self.width, h or self.height
        local = _undistorted_rays(self.fx, self.fy, self.cx, self.cy, self.distortion, x0, y0, w, h)
        return local @ self.part_from_camera[:3, :3].T.astype(np.float32)

    @property
    def centre(self) -> np.ndarray:
        return self.part_from_camera[:3, 3].copy()

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy, "cx": self.cx,
                "cy": self.cy, "distortion": list(self.distortion),
                "part_from_camera": [[float(v) for v in row] for row in self.part_from_camera]}

    @staticmethod
    def from_json(record: dict[str, Any]) -> "Camera":
        return Camera(int(record["width"]), int(record["height"]), float(record["fx"]), float(record["fy"]),
                      float(record["cx"]), float(record["cy"]), tuple(record["distortion"]),  # type: ignore[arg-type]
                      np.asarray(record["part_from_camera"], float))


@lru_cache(maxsize=8)
def _undistorted_rays(fx: float, fy: float, cx: float, cy: float, distortion: tuple[float, ...],
                      x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Camera-frame unit rays for each pixel, inverting the distortion by fixed-point iteration (cached)."""
    k1, k2, p1, p2, k3 = distortion
    px, py = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float64), np.arange(y0, y0 + h, dtype=np.float64))
    xd, yd = (px - cx) / fx, (py - cy) / fy
    x, y = xd.copy(), yd.copy()
    for _ in range(_UNDISTORT_ITERATIONS):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        x = (xd - 2 * p1 * x * y - p2 * (r2 + 2 * x * x)) / radial
        y = (yd - p1 * (r2 + 2 * y * y) - 2 * p2 * x * y) / radial
    rays = np.stack([x, y, np.ones_like(x)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    rays = rays.astype(np.float32)
    rays.setflags(write=False)
    return rays


def look_at(eye: np.ndarray, target: np.ndarray, up_hint: np.ndarray) -> np.ndarray:
    """Optical-frame pose at ``eye`` looking at ``target``; image x roughly along ``up_hint`` x view."""
    z = np.asarray(target, float) - np.asarray(eye, float)
    z /= np.linalg.norm(z)
    x = np.cross(np.asarray(up_hint, float), z)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross([0.0, 1.0, 0.0], z) if abs(z[1]) < 0.9 else np.cross([1.0, 0.0, 0.0], z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, np.cross(z, x), z, eye
    return pose
