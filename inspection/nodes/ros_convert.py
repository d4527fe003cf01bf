"""Conversions between standard ROS 2 messages and the core's types. Only the nodes import this."""
from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import Image

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
}


class ImageConversionError(ValueError):
    """An Image message cannot be read; the message says which field is wrong."""


def image_to_numpy(msg: Image) -> np.ndarray:
    """View an Image as an (H, W) or (H, W, C) array in its own encoding (no colour conversion)."""
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ImageConversionError(f"encoding '{msg.encoding}' is not supported; use one of {sorted(IMAGE_ENCODINGS)}")
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
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
    if channels == 1:
        return pixels.reshape(msg.height, msg.width)
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


def image_to_rgb8(msg: Image) -> np.ndarray:
    """Any supported encoding as an (H, W, 3) uint8 RGB array, for detectors trained on RGB."""
    pixels = image_to_numpy(msg)
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if msg.encoding.startswith("bgr"):
        pixels = pixels[:, :, 2::-1] if pixels.shape[2] == 4 else pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels[:, :, :3])
