"""Clearance of the arm from the part: the URDF's collision geometry, sampled, against the part mesh.

Each link's collision meshes (or boxes, cylinders, spheres) are sampled evenly on their surface
once; at a configuration the samples are moved by FK and their distance to the part mesh is queried
(open3d). A cheap first pass checks the bounding spheres of chunks of 24 samples, so only the parts
of links near the part cost a full query. Between samples the link surface can come up to one sample
spacing nearer, so that is added to the required clearance.
"""
from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from inspection.errors import InputError
from inspection.planning.kinematics import RobotKinematics
from inspection.robot_description import package_dirs

SAMPLE_SPACING_M = 0.015


CHUNK_POINTS = 24


@dataclass(frozen=True)
class LinkSamples:
    """A link's surface samples in its frame, in chunks of nearby points, each with a bounding sphere."""

    name: str
    frame_id: int
    chunks: tuple[np.ndarray, ...]  # (n_i, 3) each, in the link frame
    centers: np.ndarray  # (C, 3) chunk bounding-sphere centres
    radii: np.ndarray  # (C,)


def _chunked(name: str, frame_id: int, points: np.ndarray) -> LinkSamples:
    """Split along the link's longest extent so each chunk is compact and its sphere tight."""
    axis = int(np.argmax(np.ptp(points, axis=0)))
    ordered = points[np.argsort(points[:, axis], kind="stable")]
    chunks = tuple(np.array_split(ordered, max(1, int(math.ceil(len(ordered) / CHUNK_POINTS)))))
    centers = np.array([(c.min(axis=0) + c.max(axis=0)) / 2 for c in chunks])
    radii = np.array([float(np.linalg.norm(c - m, axis=1).max()) for c, m in zip(chunks, centers)])
    return LinkSamples(name, frame_id, chunks, centers, radii)


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


def load_link_samples(kinematics: RobotKinematics, spacing: float = SAMPLE_SPACING_M) -> list[LinkSamples]:
    """Evenly spaced points on every link's collision geometry (deterministic: fixed seed)."""
    import trimesh

    urdf = kinematics.urdf
    links = []
    quiet = logging.getLogger("trimesh")
    level, quiet.level = quiet.level, logging.ERROR  # "only got N samples" is expected: spacing wins over count
    try:
        for link in ET.parse(urdf).getroot().findall("link"):
            name = link.get("name", "")
            if not kinematics.model.existFrame(name):
                continue
            parts = []
            for collision in link.findall("collision"):
                mesh = _geometry(collision, urdf)
                if mesh is None or mesh.area <= 0:
                    continue
                count = max(8, int(math.ceil(mesh.area / spacing ** 2)))
                points, _ = trimesh.sample.sample_surface_even(mesh, count, radius=spacing, seed=0)
                points = np.vstack([points, mesh.bounds])  # keep the extremes too
                parts.append(points @ _origin(collision)[:3, :3].T + _origin(collision)[:3, 3])
            if parts:
                links.append(_chunked(name, kinematics.model.getFrameId(name), np.vstack(parts)))
    finally:
        quiet.level = level
    if not links:
        raise InputError(f"robot.urdf: {urdf} has no collision geometry to check clearance with")
    return links


@dataclass(frozen=True)
class ClearanceChecker:
    """Arm links must keep ``min_clearance_m`` from the part; the sensor body, a capsule of
    ``sensor_radius_m`` from tool0 ending at the gel, must keep ``sensor_clearance_m`` whenever the
    gel is meant to be off the part (stand-off poses, transits): transits stay out of the slow zone.
    """

    surface: object  # inspection.planning.surface.Surface
    links: tuple[LinkSamples, ...]
    sensor_radius_m: float
    min_clearance_m: float
    sensor_clearance_m: float
    spacing_m: float = SAMPLE_SPACING_M

    def check(self, kinematics: RobotKinematics, q: np.ndarray, sensor_free: bool) -> str:
        """Empty string when clear, else the reason naming the link and the distance."""
        return self.slack(kinematics, q, sensor_free)[1]

    def slack(self, kinematics: RobotKinematics, q: np.ndarray, sensor_free: bool) -> tuple[float, str]:
        """(how much nearer the arm could come before breaking a clearance, reason when it already has)."""
        placements = kinematics.frame_placements(q, [link.frame_id for link in self.links] + [kinematics.tool_id])
        needed = self.min_clearance_m + self.spacing_m
        centers = np.vstack([link.centers @ t[:3, :3].T + t[:3, 3] for t, link in zip(placements, self.links)])
        radii = np.concatenate([link.radii for link in self.links])
        sphere_gap = self.surface.distance(centers) - radii - needed
        slack = float(sphere_gap.min())
        names, samples, k = [], [], 0
        for link, transform in zip(self.links, placements):
            for chunk in link.chunks:
                if sphere_gap[k] < 0:  # this chunk's sphere is too near: look at its samples
                    samples.append(chunk @ transform[:3, :3].T + transform[:3, 3])
                    names += [link.name] * len(chunk)
                k += 1
        if samples:
            gap = self.surface.distance(np.vstack(samples)) - self.spacing_m - self.min_clearance_m
            worst = int(np.argmin(gap))
            slack = min(float(sphere_gap[sphere_gap >= 0].min(initial=np.inf)), float(gap[worst]))
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
