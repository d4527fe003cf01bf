"""sensor_msgs/Image conversions: every supported encoding, and bad messages named precisely."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.nodes.image_probe_node import numbered_pattern, read_sequence
from inspection.nodes.ros_convert import ImageConversionError, image_to_numpy, image_to_rgb8, numpy_to_image

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
