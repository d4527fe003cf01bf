"""Message conversions: images in every supported encoding, regions, camera info, trajectories."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from hypothesis import given, settings
from hypothesis import strategies as st
from std_msgs.msg import String

from inspection.cell import load_cell
from inspection.records import DefectHypothesis, ScanRegion
from inspection.nodes.image_probe_node import numbered_pattern, read_sequence
from inspection.nodes.ros_convert import (
    ImageConversionError, camera_info_from_config, image_to_numpy, image_to_rgb8, intrinsics_from_camera_info,
    joint_trajectory, matrix_from_pose, numpy_to_image, pose_from_matrix, pose_stamped, pose_stamped_to_matrix,
    poses_message, poses_to_matrices, quaternion_from_z_to, records_from_json, records_to_messages, stamp_to_ns,
    trajectory_arrays, z_axis_of,
)
from inspection.json_codec import SchemaError

ARRAYS = {
    "mono8": np.arange(12, dtype=np.uint8).reshape(3, 4),
    "mono16": np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000,
    "rgb8": np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
    "bgr8": np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
    "16UC1": np.arange(12, dtype=np.uint16).reshape(3, 4),
}


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
def test_round_trip(encoding: str) -> None:
    array = ARRAYS[encoding]
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(array, encoding, "cam")), array)


def test_bgr_becomes_rgb_and_mono16_becomes_8_bit() -> None:
    rgb = image_to_rgb8(numpy_to_image(ARRAYS["bgr8"], "bgr8"))
    np.testing.assert_array_equal(rgb, ARRAYS["bgr8"][:, :, ::-1])
    mono = image_to_rgb8(numpy_to_image(np.full((2, 2), 0xAB00, np.uint16), "mono16"))
    assert mono.shape == (2, 2, 3) and (mono == 0xAB).all()


def test_padded_rows_and_big_endian() -> None:
    msg = numpy_to_image(ARRAYS["mono16"], "mono16")
    padded = bytearray()
    swapped = ARRAYS["mono16"].byteswap()
    for row in swapped:
        padded += row.tobytes() + b"\0\0"
    msg.data, msg.step, msg.is_bigendian = bytes(padded), msg.step + 2, 1
    np.testing.assert_array_equal(image_to_numpy(msg), ARRAYS["mono16"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "encoding 'yuv422' is not supported"),
        (lambda m: setattr(m, "step", 3), "step 3 is smaller"),
        (lambda m: setattr(m, "data", b"\0" * 5), "data has 5 bytes"),
        (lambda m: setattr(m, "height", 0), "empty image"),
    ],
)
def test_bad_messages_are_named(edit, message) -> None:
    msg = numpy_to_image(ARRAYS["rgb8"], "rgb8")
    edit(msg)
    with pytest.raises(ImageConversionError, match=message):
        image_to_numpy(msg)


def test_wrong_array_for_encoding() -> None:
    with pytest.raises(ImageConversionError, match="does not fit encoding 'rgb8'"):
        numpy_to_image(ARRAYS["mono8"], "rgb8")


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "mono16"])
def test_probe_pattern_carries_its_sequence(encoding: str) -> None:
    assert read_sequence(numbered_pattern(64, 8, encoding, 123456789)) == 123456789


# --- regions, camera info, trajectories -------------------------------------------------------------


unit = st.floats(-1, 1, allow_nan=False)


@settings(max_examples=200)
@given(st.tuples(unit, unit, unit).filter(lambda v: np.linalg.norm(v) > 1e-3))
def test_orientation_points_z_along_the_normal(direction) -> None:
    expected = np.asarray(direction) / np.linalg.norm(direction)
    np.testing.assert_allclose(z_axis_of(quaternion_from_z_to(tuple(expected))), expected, atol=1e-9)


def test_regions_round_trip_through_pose_array_and_side_channel() -> None:
    regions = [ScanRegion("r0", (0.1, 0.0, 0.0), (0, 0, 1), 0.02, ("h0",)),
               ScanRegion("r1", (-0.1, 0.05, -0.01), (0, 0.6, 0.8), 0.01)]
    poses, side = records_to_messages(regions, "part", Time(sec=5, nanosec=7))
    assert len(poses.poses) == 2 and poses.header.frame_id == "part"
    assert poses.poses[1].position.y == 0.05
    frame, back = records_from_json(side, ScanRegion)
    assert frame == "part" and back == regions
    with pytest.raises(SchemaError, match="kind"):
        records_from_json(side, DefectHypothesis)
    with pytest.raises(SchemaError, match="not valid JSON"):
        records_from_json(String(data="{oops"), ScanRegion)


def test_camera_info_matches_cell() -> None:
    camera = load_cell().camera
    info = camera_info_from_config(camera)
    k, d = intrinsics_from_camera_info(info)
    np.testing.assert_allclose(k, camera.intrinsic_matrix())
    assert list(d) == list(camera.distortion) and (info.width, info.height) == (camera.width, camera.height)
    info.k = [0.0] * 9
    with pytest.raises(ValueError, match="focal"):
        intrinsics_from_camera_info(info)


def test_trajectory_round_trip() -> None:
    names = [f"j{i}" for i in range(6)]
    positions = np.linspace(0, 1, 18).reshape(3, 6)
    times = [0.0, 0.5, 1.25]
    back_names, back_positions, back_times = trajectory_arrays(joint_trajectory(names, positions, times))
    assert back_names == names
    np.testing.assert_allclose(back_positions, positions)
    np.testing.assert_allclose(back_times, times, atol=1e-9)
    with pytest.raises(ValueError, match="do not match"):
        joint_trajectory(names[:5], positions, times)


def _random_transform(rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    transform = np.eye(4)
    transform[:3, :3] = q * np.sign(np.linalg.det(q))  # a rotation, not a reflection
    transform[:3, 3] = rng.uniform(-1, 1, 3)
    return transform


def test_rigid_transforms_round_trip_through_poses_including_half_turns() -> None:
    rng = np.random.default_rng(3)
    half_turns = [np.diag([1.0, -1.0, -1.0, 1.0]), np.diag([-1.0, 1.0, -1.0, 1.0]), np.diag([-1.0, -1.0, 1.0, 1.0])]
    for transform in [_random_transform(rng) for _ in range(200)] + half_turns + [np.eye(4)]:
        pose = pose_from_matrix(transform)
        assert pose.orientation.w >= 0
        assert np.allclose(matrix_from_pose(pose), transform, atol=1e-9)
    looking_down = np.diag([1.0, -1.0, -1.0, 1.0])  # the cell camera: optical z along world -z
    assert np.allclose(z_axis_of(pose_from_matrix(looking_down).orientation), (0, 0, -1))


def test_camera_pose_and_view_plan_messages_keep_stamp_frame_and_poses() -> None:
    rng = np.random.default_rng(4)
    transform = _random_transform(rng)
    message = pose_stamped(transform, "world", Time(sec=12, nanosec=345))
    stamp, back = pose_stamped_to_matrix(message, "camera/pose", "world")
    assert stamp == stamp_to_ns(Time(sec=12, nanosec=345)) == 12_000_000_345 and np.allclose(back, transform)
    with pytest.raises(ValueError, match="camera/pose: header.frame_id 'part', expected 'world'"):
        pose_stamped_to_matrix(pose_stamped(transform, "part", Time()), "camera/pose", "world")
    message.pose.orientation.w = 3.0
    with pytest.raises(ValueError, match="camera/pose: pose.orientation: quaternion norm"):
        pose_stamped_to_matrix(message, "camera/pose", "world")
    plan = [_random_transform(rng) for _ in range(3)]
    array = poses_message(plan, "world")
    assert len(array.poses) == 3 and all(np.allclose(a, b) for a, b in zip(poses_to_matrices(array, "t", "world"), plan))
    array.poses[2].position.x = float("nan")
    with pytest.raises(ValueError, match=r"camera/view_plan: poses\[2\]: position and orientation must be finite"):
        poses_to_matrices(array, "camera/view_plan", "world")
