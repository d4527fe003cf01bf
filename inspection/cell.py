"""The robot cell described by config/cell.yaml: robot, part, camera, tactile sensor and the hard
safety limits every trajectory is checked against (inspection.planning.safety).

All lengths are metres and all angles radians (REP-103). Poses are ``xyz`` plus ``rpy`` (roll about
x, pitch about y, yaw about z, fixed axes, as in URDF). The camera pose is that of its optical frame
(z forward, x right, y down).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from inspection import paths
from inspection.config import ConfigError, read_yaml
from inspection.json_codec import SchemaError, check_schema_version, from_dict

Vector3 = tuple[float, float, float]


@dataclass(frozen=True)
class Pose:
    xyz: Vector3 = (0.0, 0.0, 0.0)
    rpy: Vector3 = (0.0, 0.0, 0.0)

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform parent <- child."""
        transform = np.eye(4)
        transform[:3, :3] = Rotation.from_euler("xyz", self.rpy).as_matrix()
        transform[:3, 3] = self.xyz
        return transform

    @staticmethod
    def from_matrix(transform: np.ndarray) -> "Pose":
        rpy = Rotation.from_matrix(transform[:3, :3]).as_euler("xyz")
        return Pose(tuple(float(v) for v in transform[:3, 3]), tuple(float(v) for v in rpy))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RobotConfig:
    """``urdf`` is a file path (relative to the share folder) or ``example-robot-data:<path in its robots/>``."""

    urdf: str
    base_frame: str
    tool_frame: str
    joint_names: tuple[str, ...]
    home_positions: tuple[float, ...]
    base_pose: Pose = Pose()
    max_joint_velocity: float = 1.0  # rad/s, transit
    max_joint_acceleration: float = 2.0  # rad/s^2
    max_tool_speed_near_part: float = 0.02  # m/s within the approach stand-off

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(self.home_positions):
            raise SchemaError(
                f"robot.home_positions: {len(self.home_positions)} values for {len(self.joint_names)} joints"
            )
        for name in ("max_joint_velocity", "max_joint_acceleration", "max_tool_speed_near_part"):
            if getattr(self, name) <= 0:
                raise SchemaError(f"robot.{name}: must be positive")


@dataclass(frozen=True)
class PartConfig:
    """Part frame in the world: origin at the centre of the part's top surface, +z out of the surface."""

    frame: str
    pose: Pose


@dataclass(frozen=True)
class PhotometricRig:
    """Lights on the camera for photometric stereo: one flash per azimuth, fired one at a time, each at
    ``elevation_deg`` above the plane normal to the optical axis. Shading under lights from opposite sides
    differs by the slope of the surface, so a burst shows shape (dents, bumps, scratches, pits) that one
    ring-lit image hides in the paint's texture; four azimuths at 30-60 degrees is the industrial rule."""

    elevation_deg: float = 45.0
    azimuths_deg: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)  # optical frame, from +x (right) towards +y (down)
    flash_s: float = 0.04  # one exposure with its light, switching included: the burst's cycle-time cost
    working_distance_m: float = 0.5  # along the optical axis, where the lights stand at elevation_deg

    def __post_init__(self) -> None:
        if not 10.0 <= self.elevation_deg <= 80.0:
            raise SchemaError(f"camera.photometric.elevation_deg: {self.elevation_deg} is outside 10..80 degrees")
        if len(self.azimuths_deg) < 3:
            raise SchemaError(f"camera.photometric.azimuths_deg: {len(self.azimuths_deg)} lights; photometric "
                              "stereo needs at least 3 around the lens")
        if self.flash_s <= 0:
            raise SchemaError("camera.photometric.flash_s: must be positive (seconds)")
        if self.working_distance_m <= 0:
            raise SchemaError("camera.photometric.working_distance_m: must be positive (metres)")

    def light_directions(self) -> np.ndarray:
        """(N, 3) unit vectors from the viewed surface towards each light, in the camera's optical frame
        (z forward: a light beside the lens has a negative z component)."""
        elevation = math.radians(self.elevation_deg)
        azimuth = np.radians(np.asarray(self.azimuths_deg, float))
        return np.stack([math.cos(elevation) * np.cos(azimuth), math.cos(elevation) * np.sin(azimuth),
                         np.full(len(azimuth), -math.sin(elevation))], axis=1)

    def light_positions(self) -> np.ndarray:
        """(N, 3) positions of the lights in the optical frame (m): a ring in the lens plane whose radius
        puts them at ``elevation_deg`` seen from the axis at the working distance."""
        radius = self.working_distance_m / math.tan(math.radians(self.elevation_deg))
        azimuth = np.radians(np.asarray(self.azimuths_deg, float))
        return np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth), np.zeros(len(azimuth))], axis=1)


@dataclass(frozen=True)
class CameraConfig:
    frame: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    pose: Pose
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    photometric: PhotometricRig | None = None  # the lights for photometric stereo, when the camera has them

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise SchemaError(f"camera: resolution {self.width}x{self.height} is too small")
        if self.fx <= 0 or self.fy <= 0:
            raise SchemaError("camera.fx/fy: focal lengths must be positive (pixels)")
        if self.distortion_model != "plumb_bob" or len(self.distortion) != 5:
            raise SchemaError("camera.distortion: expected plumb_bob with 5 coefficients [k1, k2, p1, p2, k3]")

    def intrinsic_matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class TactileConfig:
    """GelSight-style sensor on the tool flange; its +z is the sensor axis, pointing out of the gel."""

    frame: str
    mount: Pose
    width_px: int = 320
    height_px: int = 240
    pixel_size_m: float = 5.8e-5
    press_depth_m: float = 0.0008
    max_press_depth_m: float = 0.002
    approach_standoff_m: float = 0.02

    def __post_init__(self) -> None:
        if not (0 < self.pixel_size_m < 1e-3):
            raise SchemaError(f"tactile.pixel_size_m: {self.pixel_size_m} m per pixel is implausible")
        if not (0 < self.press_depth_m <= self.max_press_depth_m):
            raise SchemaError("tactile.press_depth_m: must be positive and at most max_press_depth_m")

    @property
    def footprint_m(self) -> tuple[float, float]:
        """Imaged gel area (width, height) in metres."""
        return (self.width_px * self.pixel_size_m, self.height_px * self.pixel_size_m)


@dataclass(frozen=True)
class SafetyConfig:
    """Hard limits no trajectory may break (checked by inspection.planning.safety before a plan leaves
    the planner). The robot.* speeds are what the planner aims for; these are the bounds above them.
    """

    workspace_min: Vector3  # world frame, m: every moving link origin, tool0 and the gel stay inside the box
    workspace_max: Vector3
    max_joint_velocity: float  # rad/s, every joint (the URDF's own limits apply too)
    max_joint_acceleration: float  # rad/s^2
    slow_zone_m: float  # within this distance of the part the gel moves at most max_tool_speed_near_part
    max_tool_speed_near_part: float  # m/s
    max_press_depth_m: float  # how far the gel centre may go into the part surface
    contact_patch_radius_m: float  # the gel may be inside the surface only this close (laterally) to a press
    min_link_clearance_m: float  # arm links (not the sensor) never come nearer the part than this
    joint_limits: dict[str, tuple[float, float]] = field(default_factory=dict)  # rad, tighten the URDF's

    def __post_init__(self) -> None:
        for name in ("max_joint_velocity", "max_joint_acceleration", "slow_zone_m", "max_tool_speed_near_part",
                     "max_press_depth_m", "contact_patch_radius_m"):
            if not getattr(self, name) > 0:
                raise SchemaError(f"safety.{name}: {getattr(self, name)} must be positive")
        if self.min_link_clearance_m < 0:
            raise SchemaError(f"safety.min_link_clearance_m: {self.min_link_clearance_m} must not be negative")
        if not all(low < high for low, high in zip(self.workspace_min, self.workspace_max)):
            raise SchemaError(f"safety.workspace_min {list(self.workspace_min)} must be below workspace_max "
                              f"{list(self.workspace_max)} on every axis")
        for joint, (low, high) in self.joint_limits.items():
            if not low < high:
                raise SchemaError(f"safety.joint_limits.{joint}: lower {low} must be below upper {high}")


@dataclass(frozen=True)
class CellConfig:
    world_frame: str
    robot: RobotConfig
    part: PartConfig
    camera: CameraConfig
    tactile: TactileConfig
    safety: SafetyConfig
    schema_version: str = "1.0"

    def part_to_world(self) -> np.ndarray:
        return self.part.pose.matrix()

    def camera_to_world(self) -> np.ndarray:
        return self.camera.pose.matrix()


def load_cell(path: str | Path | None = None) -> CellConfig:
    """Read and validate cell.yaml; errors name the file and the field."""
    path = Path(path) if path is not None else paths.config_file("cell.yaml")
    document = read_yaml(path)
    try:
        check_schema_version(document, str(path))
        cell = from_dict(CellConfig, document, str(path))
    except SchemaError as exc:
        raise ConfigError(str(exc)) from exc
    for name, pose in (("robot.base_pose", cell.robot.base_pose), ("part.pose", cell.part.pose),
                       ("camera.pose", cell.camera.pose), ("tactile.mount", cell.tactile.mount)):
        if max(abs(v) for v in pose.xyz) > 20.0:
            raise ConfigError(f"{path}: {name}.xyz {list(pose.xyz)} is over 20 m away; were millimetres given?")
        if max(abs(v) for v in pose.rpy) > 2 * math.pi + 1e-6:
            raise ConfigError(f"{path}: {name}.rpy {list(pose.rpy)} exceeds 2*pi; were degrees given?")
    _check_safety(cell, path)
    return cell


def _check_safety(cell: CellConfig, path: Path) -> None:
    """The planning targets must sit inside the hard limits, else no plan could ever pass."""
    safety, robot, tactile = cell.safety, cell.robot, cell.tactile
    for target, value, limit in (
            ("robot.max_joint_velocity", robot.max_joint_velocity, "max_joint_velocity"),
            ("robot.max_joint_acceleration", robot.max_joint_acceleration, "max_joint_acceleration"),
            ("robot.max_tool_speed_near_part", robot.max_tool_speed_near_part, "max_tool_speed_near_part"),
            ("tactile.press_depth_m", tactile.press_depth_m, "max_press_depth_m")):
        if value > getattr(safety, limit):
            raise ConfigError(f"{path}: {target} {value} exceeds safety.{limit} {getattr(safety, limit)}")
    if safety.max_press_depth_m > tactile.max_press_depth_m:
        raise ConfigError(f"{path}: safety.max_press_depth_m {safety.max_press_depth_m} exceeds the gel's rated "
                          f"tactile.max_press_depth_m {tactile.max_press_depth_m}")
    if safety.slow_zone_m >= tactile.approach_standoff_m:
        raise ConfigError(f"{path}: safety.slow_zone_m {safety.slow_zone_m} must be below "
                          f"tactile.approach_standoff_m {tactile.approach_standoff_m} (transits end at the stand-off)")
    unknown = sorted(set(safety.joint_limits) - set(robot.joint_names))
    if unknown:
        raise ConfigError(f"{path}: safety.joint_limits: {unknown} are not in robot.joint_names {list(robot.joint_names)}")
    for joint, home in zip(robot.joint_names, robot.home_positions):
        low, high = safety.joint_limits.get(joint, (-math.inf, math.inf))
        if not low <= home <= high:
            raise ConfigError(f"{path}: robot.home_positions: {joint} at {home} is outside safety.joint_limits "
                              f"[{low}, {high}]")
    inside = np.all(np.array(safety.workspace_min) <= robot.base_pose.xyz) and np.all(
        np.array(robot.base_pose.xyz) <= safety.workspace_max)
    if not inside:
        raise ConfigError(f"{path}: robot.base_pose.xyz {list(robot.base_pose.xyz)} is outside the safety workspace "
                          f"{list(safety.workspace_min)}..{list(safety.workspace_max)}")
