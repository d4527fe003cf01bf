"""Fault injection, ROS-free: which fault hits the n-th message of a topic, and what it does to an image.

``tests/fault_relay_node.py`` applies these between a real publisher and a real subscriber, so the
nodes under test see exactly what a flaky sensor or a lossy network would give them.
"""
from __future__ import annotations

from dataclasses import dataclass

# pass: forward unchanged; drop: lose it (DDS loss, a silent sensor); the rest damage an image.
FAULTS = ("pass", "drop", "wrong_size", "wrong_step", "wrong_encoding", "empty")


@dataclass(frozen=True)
class FaultSchedule:
    """``first[n]`` hits message n; every later message gets ``then`` (drop: the publisher falls silent)."""

    first: tuple[str, ...] = ()
    then: str = "pass"

    def __post_init__(self) -> None:
        unknown = sorted((set(self.first) | {self.then}) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; expected some of {list(FAULTS)}")

    def fault(self, index: int) -> str:
        return self.first[index] if index < len(self.first) else self.then


@dataclass(frozen=True)
class ImageFields:
    """The sensor_msgs/Image fields a fault may change."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes


def damage_image(image: ImageFields, fault: str) -> ImageFields:
    """The image as ``fault`` leaves it: each one breaks a different field a reader must check."""
    if fault == "wrong_size":  # claims more rows than the data holds
        return ImageFields(image.height * 2, image.width, image.encoding, image.step, image.data)
    if fault == "wrong_step":  # rows shorter than width * channels
        return ImageFields(image.height, image.width, image.encoding, image.width, image.data)
    if fault == "wrong_encoding":
        return ImageFields(image.height, image.width, "yuv422_yuy2", image.step, image.data)
    if fault == "empty":  # the header survives, the pixels do not
        return ImageFields(image.height, image.width, image.encoding, image.step, b"")
    if fault == "pass":
        return image
    raise ValueError(f"fault {fault!r} does not damage an image")
