"""Clearance of the arm from the part: the URDF's collision geometry, sampled, against the part mesh.

Each link's collision meshes (or boxes, cylinders, spheres) are sampled densely once and one point
per voxel is kept; at a configuration the samples are moved by FK and their distance to the part
mesh is queried (open3d). Cheap passes over bounding spheres (whole links, then chunks of 24
samples) come first, so only the parts of links near the part cost a full query. Between samples the link surface can come nearer than the
samples; how much is measured per link when it is loaded (the largest distance from a dense second
sample of its surface to the kept samples) and added to the required clearance.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.planning.kinematics import RobotKinematics
from inspection.robot_description import package_dirs

SAMPLE_SPACING_M = 0.012  # voxel size of the kept samples
DENSE_SPACING_M = 0.003  # the dense samples they are chosen from, and the margin is measured with
CHUNK_POINTS = 24


@dataclass(frozen=True)
class LinkSamples:
    """A link's surface samples in its frame, in chunks of nearby points, each with a bounding sphere."""

    name: str
    frame_id: int
    chunks: tuple[np.ndarray, ...]  # (n_i, 3) each, in the link frame
    centers: np.ndarray  # (C, 3) chunk bounding-sphere centres
    radii: np.ndarray  # (C,)
    margin: float  # no point of the link's surface is farther than this from a sample
    center: np.ndarray  # the whole link's bounding sphere
    radius: float


def _chunked(name: str, frame_id: int, points: np.ndarray, margin: float) -> LinkSamples:
    """Split along the link's longest extent so each chunk is compact and its sphere tight."""
    axis = int(np.argmax(np.ptp(points, axis=0)))
    ordered = points[np.argsort(points[:, axis], kind="stable")]
    chunks = tuple(np.array_split(ordered, max(1, int(math.ceil(len(ordered) / CHUNK_POINTS)))))
    centers = np.array([(c.min(axis=0) + c.max(axis=0)) / 2 for c in chunks])
    radii = np.array([float(np.linalg.norm(c - m, axis=1).max()) for c, m in zip(chunks, centers)])
    center = (points.min(axis=0) + points.max(axis=0)) / 2
    radius = float(np.linalg.norm(points - center, axis=1).max())
    return LinkSamples(name, frame_id, chunks, centers, radii, margin, center, radius)


def _resolve_mesh(uri: str, urdf: Path) -> Path:
    """A collision mesh path from ``package://pkg/rest``, ``file://`` or a path relative to the URDF."""
    if uri.startswith("package://"):
        package, _, rest = uri[len("package://"):].partition("/")
        folders = [Path(folder) for folder in package_dirs(urdf)]
        candidates = [f / package / rest for f in folders] + [f / rest for f in folders if f.name == package]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    path = Path(uri[len("file://"):]) if uri.startswith("file://") else urdf.parent / uri
    if path.is_file():
        return path
    raise InputError(f"robot.urdf: collision mesh {uri} of {urdf} not found")


def _geometry(element: ET.Element, urdf: Path):
    """The collision geometry as a trimesh mesh, or None for a kind we do not model."""
    import trimesh

    shape = element.find("geometry/*")
    if shape is None:
        return None
    if shape.tag == "mesh":
        mesh = trimesh.load(_resolve_mesh(shape.get("filename", ""), urdf), force="mesh")
        scale = [float(v) for v in shape.get("scale", "1 1 1").split()]
        mesh.apply_scale(scale if len(scale) == 3 else scale[0])
        return mesh
    if shape.tag == "box":
        return trimesh.creation.box(extents=[float(v) for v in shape.get("size", "0 0 0").split()])
    if shape.tag == "cylinder":
        return trimesh.creation.cylinder(radius=float(shape.get("radius")), height=float(shape.get("length")))
    if shape.tag == "sphere":
        return trimesh.creation.icosphere(radius=float(shape.get("radius")))
    return None


def _origin(element: ET.Element) -> np.ndarray:
    origin = element.find("origin")
    transform = np.eye(4)
    if origin is not None:
        rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
        transform[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
        transform[:3, 3] = [float(v) for v in origin.get("xyz", "0 0 0").split()]
    return transform


def _surface_points(mesh, spacing: float, seed: int) -> np.ndarray:
    import trimesh

    count = max(64, int(math.ceil(mesh.area / spacing ** 2)))
    return np.vstack([trimesh.sample.sample_surface(mesh, count, seed=seed)[0], mesh.vertices])


def load_link_samples(kinematics: RobotKinematics, spacing: float = SAMPLE_SPACING_M) -> list[LinkSamples]:
    """Points on every link's collision geometry that the model has a frame for."""
    links = [_chunked(name, kinematics.model.getFrameId(name), points, margin)
             for name, points, margin in _sampled_links(str(kinematics.urdf), spacing)
             if kinematics.model.existFrame(name)]
    if not links:
        raise InputError(f"robot.urdf: {kinematics.urdf} has no collision geometry to check clearance with")
    return links


@lru_cache(maxsize=4)
def _sampled_links(urdf_path: str, spacing: float) -> tuple[tuple[str, np.ndarray, float], ...]:
    """(link, one point per ``spacing`` voxel, measured margin) per link; once per URDF (deterministic seeds)."""
    from scipy.spatial import cKDTree

    urdf = Path(urdf_path)
    links = []
    for link in ET.parse(urdf).getroot().findall("link"):
        name = link.get("name", "")
        dense, check = [], []
        for collision in link.findall("collision"):
            mesh = _geometry(collision, urdf)
            if mesh is None or mesh.area <= 0:
                continue
            origin = _origin(collision)
            dense.append(_surface_points(mesh, DENSE_SPACING_M, seed=0) @ origin[:3, :3].T + origin[:3, 3])
            check.append(_surface_points(mesh, DENSE_SPACING_M, seed=1) @ origin[:3, :3].T + origin[:3, 3])
        if not dense:
            continue
        points = np.vstack(dense)
        _, first = np.unique(np.floor(points / spacing).astype(np.int64), axis=0, return_index=True)
        kept = points[np.sort(first)]
        margin = float(cKDTree(kept).query(np.vstack(check))[0].max()) + DENSE_SPACING_M
        links.append((name, kept, margin))
    return tuple(links)


@dataclass(frozen=True)
class ClearanceChecker:
    """Arm links must keep ``min_clearance_m`` from the part; the sensor body, a capsule of
    ``sensor_radius_m`` from tool0 ending at the gel, must keep ``sensor_clearance_m`` whenever the
    gel is meant to be off the part (stand-off poses, transits): transits stay out of the slow zone.
    """

    surface: PartSurface
    links: tuple[LinkSamples, ...]
    sensor_radius_m: float
    min_clearance_m: float
    sensor_clearance_m: float

    def check(self, kinematics: RobotKinematics, q: np.ndarray, sensor_free: bool) -> str:
        """Empty string when clear, else the reason naming the link and the distance."""
        return self.slack(kinematics, q, sensor_free)[1]

    def slack(self, kinematics: RobotKinematics, q: np.ndarray, sensor_free: bool) -> tuple[float, str]:
        """(how much nearer the arm could come before breaking a clearance, reason when it already has)."""
        placements = kinematics.frame_placements(q, [link.frame_id for link in self.links] + [kinematics.tool_id])
        # Spheres first (whole links, then chunks of near links); gaps count the sampling margin and clearance.
        link_centers = np.array([t[:3, :3] @ link.center + t[:3, 3] for t, link in zip(placements, self.links)])
        link_gap = self.surface.distance(link_centers) - np.array(
            [link.radius + link.margin for link in self.links]) - self.min_clearance_m
        near = [(link, t) for link, t, gap in zip(self.links, placements, link_gap) if gap < 0]
        slack = float(link_gap[link_gap >= 0].min(initial=np.inf))
        if near:
            centers = np.vstack([link.centers @ t[:3, :3].T + t[:3, 3] for link, t in near])
            needed = np.concatenate([link.radii + link.margin for link, _ in near]) + self.min_clearance_m
            chunk_gap = self.surface.distance(centers) - needed
            slack = min(slack, float(chunk_gap[chunk_gap >= 0].min(initial=np.inf)))
            names, samples, margins, k = [], [], [], 0
            for link, transform in near:
                for chunk in link.chunks:
                    if chunk_gap[k] < 0:  # this chunk's sphere is too near: look at its samples
                        samples.append(chunk @ transform[:3, :3].T + transform[:3, 3])
                        names += [link.name] * len(chunk)
                        margins.append(np.full(len(chunk), link.margin))
                    k += 1
        if near and samples:
            gap = self.surface.distance(np.vstack(samples)) - np.concatenate(margins) - self.min_clearance_m
            worst = int(np.argmin(gap))
            slack = min(slack, float(gap[worst]))
            if gap[worst] < 0:
                return slack, (f"collision: {names[worst]} {max(gap[worst] + self.min_clearance_m, 0.0) * 1000:.1f} "
                               f"mm from the part (needs {self.min_clearance_m * 1000:.0f} mm)")
        if sensor_free:
            tool = placements[-1]
            gel = (tool @ kinematics.tool_from_sensor)[:3, 3]
            length = np.linalg.norm(gel - tool[:3, 3])
            # A capsule whose round end is the gel: its axis stops one radius short of the gel.
            end = tool[:3, 3] + (gel - tool[:3, 3]) * max(length - self.sensor_radius_m, 0.0) / max(length, 1e-9)
            steps = np.linspace(0.0, 1.0, max(2, int(math.ceil(length / 0.01)) + 1))[:, None]
            axis = tool[:3, 3] + steps * (end - tool[:3, 3])
            gap = float((self.surface.distance(axis) - self.sensor_radius_m).min())
            slack = min(slack, gap - self.sensor_clearance_m)
            if gap < self.sensor_clearance_m:
                return slack, (f"collision: tactile sensor {max(gap, 0.0) * 1000:.1f} mm from the part "
                               f"(needs {self.sensor_clearance_m * 1000:.0f} mm off contact)")
        return slack, ""


def reach_bound(kinematics: RobotKinematics, links: tuple[LinkSamples, ...]) -> float:
    """An upper bound on how far any point of the arm or sensor is from any joint axis.

    The sum of the joint offsets along the chain, tool0's and the sensor's offsets and the largest link
    radius: a joint step of dq radians then moves no point more than reach * |dq|.
    """
    model = kinematics.model
    chain = sum(float(np.linalg.norm(model.jointPlacements[j].translation)) for j in range(1, model.njoints))
    tool = float(np.linalg.norm(model.frames[kinematics.tool_id].placement.translation))
    sensor = float(np.linalg.norm(kinematics.tool_from_sensor[:3, 3]))
    farthest = max(float((np.linalg.norm(link.centers, axis=1) + link.radii).max()) for link in links)
    return chain + tool + sensor + farthest
