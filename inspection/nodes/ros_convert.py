"""Conversions between standard ROS 2 messages and the core's types. Only the nodes import this."""
from __future__ import annotations

import json
import re
import sys
from typing import Sequence, TypeVar

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from inspection.cell import CameraConfig
from inspection.json_codec import JsonRecord, read_side_channel

R = TypeVar("R", bound=JsonRecord)

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[type, int]] = {
    "mono8": (np.uint8, 1),
    "8UC1": (np.uint8, 1),
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4),
    "bgra8": (np.uint8, 4),
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
    "rgb16": (np.uint16, 3),
    "bgr16": (np.uint16, 3),
    "32FC1": (np.float32, 1),  # measurements (heightmaps in mm), never colour
}


class ImageConversionError(ValueError):
    """An Image message cannot be read; the message says which field is wrong."""


def image_to_numpy(msg: Image) -> np.ndarray:
    """View an Image as an (H, W) or (H, W, C) array in its own encoding (no colour conversion)."""
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ImageConversionError(f"encoding '{msg.encoding}' is not supported; use one of {sorted(IMAGE_ENCODINGS)}")
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    pixels = _unpack_pixels(msg, dtype, channels)
    return pixels.reshape(msg.height, msg.width) if channels == 1 else pixels


def _unpack_pixels(msg: Image, dtype: type, channels: int) -> np.ndarray:
    """The (H, W, channels) pixels of ``msg`` read as ``dtype``; the layout fields are checked against its data."""
    itemsize = np.dtype(dtype).itemsize
    if msg.height == 0 or msg.width == 0:
        raise ImageConversionError(f"empty image ({msg.width}x{msg.height})")
    row_bytes = msg.width * channels * itemsize
    if msg.step < row_bytes:
        raise ImageConversionError(f"step {msg.step} is smaller than width*channels*bytes = {row_bytes}")
    if len(msg.data) < msg.step * msg.height:
        raise ImageConversionError(f"data has {len(msg.data)} bytes, expected step*height = {msg.step * msg.height}")
    raw = np.frombuffer(bytes(msg.data[: msg.step * msg.height]), dtype=np.uint8).reshape(msg.height, msg.step)
    pixels = raw[:, :row_bytes].copy().view(dtype)
    if itemsize > 1 and bool(msg.is_bigendian) != (sys.byteorder == "big"):
        pixels = pixels.byteswap()
    return pixels.reshape(msg.height, msg.width, channels)


def numpy_to_image(array: np.ndarray, encoding: str, frame_id: str = "", stamp=None) -> Image:
    """Pack an array into an Image of ``encoding``; the array's shape and dtype must match it."""
    if encoding not in IMAGE_ENCODINGS:
        raise ImageConversionError(f"encoding '{encoding}' is not supported; use one of {sorted(IMAGE_ENCODINGS)}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels) or array.dtype != dtype:
        raise ImageConversionError(
            f"array {array.shape} {array.dtype} does not fit encoding '{encoding}' ({channels} x {np.dtype(dtype).name})"
        )
    return _pack_pixels(array, encoding, frame_id, stamp)


def _pack_pixels(array: np.ndarray, encoding: str, frame_id: str, stamp) -> Image:
    """An Image holding ``array`` row-major and little-endian, rows unpadded; the caller checked the encoding."""
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    contiguous = np.ascontiguousarray(array)
    msg.step = int(contiguous.strides[0])
    msg.data = contiguous.tobytes()
    return msg


# --- Photometric-stereo bursts -----------------------------------------------------------------------
# A burst (one grey 8-bit image per light of cell.yaml camera.photometric, in the rig's order) travels as
# ONE sensor_msgs/Image with the lights as channels: encoding 8UC<N>, the generic type name that
# sensor_msgs/image_encodings and cv_bridge read for any channel count. One message keeps the N images of
# one instant together under one stamp, and every ROS tool can record and replay it.

BURST_ENCODING = re.compile(r"8UC([1-9][0-9]*)")


def burst_encoding(lights: int) -> str:
    """The Image encoding of a burst of ``lights`` images: 8UC<lights>."""
    return f"8UC{lights}"


def burst_to_image(burst: np.ndarray, topic: str, frame_id: str = "", stamp=None) -> Image:
    """A (H, W, N) uint8 burst as an Image of encoding 8UC<N> (step = width*N); ImageConversionError names
    ``topic`` when the array is not a burst."""
    if burst.ndim != 3 or burst.dtype != np.uint8 or burst.size == 0:
        raise ImageConversionError(f"{topic}: a burst is (height, width, lights) uint8, got {burst.dtype} "
                                   f"{burst.shape}")
    return _pack_pixels(burst, burst_encoding(burst.shape[2]), frame_id, stamp)


def image_to_burst(msg: Image, topic: str) -> np.ndarray:
    """The (H, W, N) uint8 burst of an Image of encoding 8UC<N>; ImageConversionError names ``topic`` and
    the field that is wrong (encoding, size, step, data)."""
    match = BURST_ENCODING.fullmatch(msg.encoding)
    if match is None:
        raise ImageConversionError(f"{topic}: encoding '{msg.encoding}' is not a burst; expected 8UC<lights>, "
                                   "one 8-bit channel per light (e.g. 8UC4)")
    try:
        return _unpack_pixels(msg, np.uint8, int(match.group(1)))
    except ImageConversionError as exc:
        raise ImageConversionError(f"{topic}: {exc}") from None


def image_to_rgb8(msg: Image) -> np.ndarray:
    """Any supported encoding as an (H, W, 3) uint8 RGB array, for detectors trained on RGB."""
    pixels = image_to_numpy(msg)
    if pixels.dtype.kind == "f":
        raise ImageConversionError(f"encoding '{msg.encoding}' holds measurements, not a colour image")
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if msg.encoding.startswith("bgr"):
        pixels = pixels[:, :, 2::-1] if pixels.shape[2] == 4 else pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels[:, :, :3])


# --- Poses, regions and hypotheses --------------------------------------------------------------
# Layout: a geometry_msgs/PoseArray carries one pose per record (position = centre, orientation =
# rotation taking +z onto the outward surface normal) and a std_msgs/String on `<topic>/json` with
# the same header stamp carries the full records as {"stamp": ..., "frame_id": ..., "records": [...]}
# (inspection.records JSON, schema-versioned). RViz shows the PoseArray; programs read the JSON.


def quaternion_from_z_to(direction: tuple[float, float, float]) -> Quaternion:
    """Shortest rotation taking +z onto ``direction`` (unit)."""
    z = np.array([0.0, 0.0, 1.0])
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    axis = np.cross(z, d)
    s = np.linalg.norm(axis)
    c = float(z @ d)
    if s < 1e-12:
        return Quaternion(x=0.0, y=0.0, z=0.0, w=1.0) if c > 0 else Quaternion(x=1.0, y=0.0, z=0.0, w=0.0)
    angle = np.arctan2(s, c)
    axis = axis / s * np.sin(angle / 2)
    return Quaternion(x=float(axis[0]), y=float(axis[1]), z=float(axis[2]), w=float(np.cos(angle / 2)))


def z_axis_of(q: Quaternion) -> tuple[float, float, float]:
    x, y, z, w = q.x, q.y, q.z, q.w
    return (2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y))


def pose_at(position: tuple[float, float, float], normal: tuple[float, float, float]) -> Pose:
    pose = Pose()
    pose.position = Point(x=float(position[0]), y=float(position[1]), z=float(position[2]))
    pose.orientation = quaternion_from_z_to(normal)
    return pose


def records_to_messages(records: Sequence[JsonRecord], frame_id: str, stamp) -> tuple[PoseArray, String]:
    """Regions or hypotheses as a PoseArray plus their JSON side channel (same stamp)."""
    poses = PoseArray()
    poses.header.frame_id, poses.header.stamp = frame_id, stamp
    for record in records:
        position = getattr(record, "center", None) or getattr(record, "position")
        poses.poses.append(pose_at(position, record.normal))
    payload = {"stamp": {"sec": stamp.sec, "nanosec": stamp.nanosec}, "frame_id": frame_id,
               "records": [r.to_json() for r in records]}
    return poses, String(data=json.dumps(payload))


def records_from_json(message: String, record_type: type[R]) -> tuple[str, list[R]]:
    """Parse the JSON side channel of a String message; raises SchemaError naming the bad record and field."""
    return read_side_channel(message.data, record_type)


# --- Rigid transforms (camera poses) -------------------------------------------------------------


def stamp_to_ns(stamp) -> int:
    """A builtin_interfaces/Time in integer nanoseconds (the key that pairs a frame with its pose)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def pose_from_matrix(transform: np.ndarray) -> Pose:
    """A 4x4 rigid transform as a Pose (unit quaternion, w >= 0)."""
    t = np.asarray(transform, float)
    r = t[:3, :3]
    trace = float(np.trace(r))
    if trace > 0:  # Shepperd: divide by the largest of the four candidates, never a small one
        s = 2.0 * np.sqrt(trace + 1.0)
        q = np.array([(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 1e-300))
        q = np.empty(4)
        q[i], q[j], q[k], q[3] = s / 4, (r[j, i] + r[i, j]) / s, (r[k, i] + r[i, k]) / s, (r[k, j] - r[j, k]) / s
    q = q / np.linalg.norm(q) * (1.0 if q[3] >= 0 else -1.0)
    pose = Pose()
    pose.position = Point(x=float(t[0, 3]), y=float(t[1, 3]), z=float(t[2, 3]))
    pose.orientation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    return pose


def matrix_from_pose(pose: Pose, field: str = "pose") -> np.ndarray:
    """A Pose as a 4x4 rigid transform; raises ValueError naming ``field`` for NaN or a non-unit quaternion."""
    q = np.array([pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w], float)
    p = np.array([pose.position.x, pose.position.y, pose.position.z], float)
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(p))):
        raise ValueError(f"{field}: position and orientation must be finite")
    if abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise ValueError(f"{field}.orientation: quaternion norm {np.linalg.norm(q):.4f}, expected 1")
    x, y, z, w = q / np.linalg.norm(q)
    transform = np.eye(4)
    transform[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    transform[:3, 3] = p
    return transform


def pose_stamped(transform: np.ndarray, frame_id: str, stamp) -> PoseStamped:
    """A camera's (optical frame's) pose in ``frame_id`` at ``stamp``, as on camera/pose."""
    message = PoseStamped()
    message.header.frame_id, message.header.stamp = frame_id, stamp
    message.pose = pose_from_matrix(transform)
    return message


def pose_stamped_to_matrix(message: PoseStamped, topic: str, frame_id: str) -> tuple[int, np.ndarray]:
    """(stamp in ns, 4x4 pose) of a PoseStamped that must be in ``frame_id``; ValueError names topic and field."""
    if message.header.frame_id != frame_id:
        raise ValueError(f"{topic}: header.frame_id '{message.header.frame_id}', expected '{frame_id}'")
    return stamp_to_ns(message.header.stamp), matrix_from_pose(message.pose, f"{topic}: pose")


def poses_message(transforms: Sequence[np.ndarray], frame_id: str, stamp=None) -> PoseArray:
    """4x4 transforms as a PoseArray (e.g. the camera view plan: one optical-frame pose per view)."""
    message = PoseArray()
    message.header.frame_id = frame_id
    if stamp is not None:
        message.header.stamp = stamp
    message.poses = [pose_from_matrix(t) for t in transforms]
    return message


def poses_to_matrices(message: PoseArray, topic: str, frame_id: str) -> list[np.ndarray]:
    """The transforms of a PoseArray that must be in ``frame_id``; ValueError names topic and pose index."""
    if message.header.frame_id != frame_id:
        raise ValueError(f"{topic}: header.frame_id '{message.header.frame_id}', expected '{frame_id}'")
    return [matrix_from_pose(p, f"{topic}: poses[{i}]") for i, p in enumerate(message.poses)]


# --- Camera ----------------------------------------------------------------------------------------


def camera_info_from_config(camera: CameraConfig, stamp=None) -> CameraInfo:
    info = CameraInfo()
    if stamp is not None:
        info.header.stamp = stamp
    info.header.frame_id = camera.frame
    info.width, info.height = camera.width, camera.height
    info.distortion_model = camera.distortion_model
    info.d = [float(v) for v in camera.distortion]
    info.k = [float(v) for v in camera.intrinsic_matrix().ravel()]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def intrinsics_from_camera_info(info: CameraInfo) -> tuple[np.ndarray, np.ndarray]:
    """(K 3x3, distortion) from CameraInfo; raises ValueError naming the field when unusable."""
    k = np.asarray(info.k, float).reshape(3, 3)
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError("camera_info.k: focal lengths must be positive")
    if info.distortion_model not in ("plumb_bob", "rational_polynomial", ""):
        raise ValueError(f"camera_info.distortion_model: '{info.distortion_model}' is not supported")
    return k, np.asarray(info.d, float)


# --- Trajectories ----------------------------------------------------------------------------------


def joint_trajectory(joint_names: Sequence[str], positions: np.ndarray, times_s: Sequence[float],
                     frame_id: str = "", stamp=None) -> JointTrajectory:
    """Plain arrays (N x joints, N times) as a JointTrajectory."""
    positions = np.asarray(positions, float)
    if positions.ndim != 2 or positions.shape[1] != len(joint_names) or len(times_s) != len(positions):
        raise ValueError(f"trajectory: positions {positions.shape} do not match {len(joint_names)} joints "
                         f"and {len(times_s)} times")
    message = JointTrajectory()
    message.header.frame_id = frame_id
    if stamp is not None:
        message.header.stamp = stamp
    message.joint_names = list(joint_names)
    for row, t in zip(positions, times_s):
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in row]
        point.time_from_start = Duration(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)) % 1_000_000_000)
        message.points.append(point)
    return message


def trajectory_arrays(message: JointTrajectory) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(joint names, N x joints positions, N times in s) from a JointTrajectory."""
    positions = np.array([list(p.positions) for p in message.points], float).reshape(len(message.points), -1)
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in message.points])
    if positions.shape[1] != len(message.joint_names):
        raise ValueError("trajectory: point sizes do not match joint_names")
    return list(message.joint_names), positions, times
