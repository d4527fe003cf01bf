"""Difference from the background frame, made independent of where on the gel a pixel is.

Every LED lights its own side of the gel more, so both the background and the contact shading vary over
the frame. Dividing the difference by the (smoothed) per-channel background brightness, relative to
its mean, leaves a colour change that depends on the surface slope only; one lookup table then serves
the whole gel. Markers are found in the background as dark dots and masked out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.tactile.order_statistics import channel_medians, percentile


def check_frame(frame: np.ndarray, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame, or InputError naming ``name``."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{name}: expected an RGB frame (H, W, 3), got shape {frame.shape}")
    if shape is not None and frame.shape[:2] != shape:
        raise InputError(f"{name}: frame is {frame.shape[1]}x{frame.shape[0]}, background is {shape[1]}x{shape[0]}")
    return frame


@dataclass(frozen=True)
class BackgroundModel:
    """What a reconstruction needs from the no-contact frame, computed once per sensor session."""

    mean: np.ndarray          # (H, W, 3) float32 smoothed background
    inverse_gain: np.ndarray  # (H, W, 3) float32: 1 / (relative brightness per channel)
    markers: np.ndarray       # (H, W) bool, marker dots (dilated)

    @cached_property
    def unmarked_sample(self) -> np.ndarray:
        """(H/3, W/3) bool: every third pixel of every third row that is not a marker dot (where the
        difference's drift is estimated, :func:`normalized_difference`)."""
        return ~self.markers[::3, ::3]

    @staticmethod
    def from_frame(background: np.ndarray, smooth_sigma_px: float = 2.0) -> "BackgroundModel":
        bg = check_frame(background, "background").astype(np.float32)
        grey = bg.mean(axis=2)
        local = cv2.GaussianBlur(grey, (0, 0), 6.0)
        markers = grey < 0.8 * local
        if markers.any():
            markers = cv2.dilate(markers.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            weight = (~markers).astype(np.float32)
            num = cv2.GaussianBlur(bg * weight[..., None], (0, 0), 4.0)
            den = cv2.GaussianBlur(weight, (0, 0), 4.0)[..., None]
            bg = np.where(markers[..., None], num / np.maximum(den, 1e-3), bg)
        mean = cv2.GaussianBlur(bg, (0, 0), smooth_sigma_px)
        # Contact shading scales with the light reaching a pixel; the large-scale background measures it.
        light = cv2.GaussianBlur(bg, (0, 0), 8.0)
        relative = light / np.maximum(light.reshape(-1, 3).mean(axis=0), 1.0)
        inverse_gain = (1.0 / np.maximum(relative, 0.2)).astype(np.float32)
        return BackgroundModel(mean=mean.astype(np.float32), inverse_gain=inverse_gain, markers=markers)


def normalized_difference(frame: np.ndarray, model: BackgroundModel, drift_correction: bool = True) -> np.ndarray:
    """(frame - background) / relative brightness, float32 (H, W, 3); per-channel drift removed.

    Lighting drift between the background and the press shifts every pixel's colour; the median of the
    difference over pixels that did not change much estimates that shift.
    """
    frame = check_frame(frame, "frame", model.mean.shape[:2])
    diff = frame.astype(np.float32)  # then in place: the same numbers, two 1 MB temporaries fewer
    np.subtract(diff, model.mean, out=diff)
    np.multiply(diff, model.inverse_gain, out=diff)
    if drift_correction:
        sample = np.ascontiguousarray(diff[::3, ::3])  # every ninth pixel estimates the shift as well and 9x faster
        quiet = channel_sum(np.abs(sample)) < 25.0
        quiet &= model.unmarked_sample
        if np.count_nonzero(quiet) > 0.1 * quiet.size:
            # np.compress: a boolean index that picks whole pixels of three values was 10x slower.
            shift = channel_medians(np.compress(quiet.ravel(), sample.reshape(-1, 3), axis=0))
            # In place, by OpenCV: numpy broadcasting over an axis of three took half a millisecond.
            cv2.subtract(diff, (*map(float, shift), 0.0), dst=diff)
    return diff


_ONES_ROW = np.ones((1, 3), np.float32)


def channel_sum(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 sum of the channels of an (H, W, 3) float32 image: OpenCV's transform is about
    20x faster than numpy's reduction over an axis of three."""
    return cv2.transform(np.ascontiguousarray(image, np.float32), _ONES_ROW)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region the border cannot reach through unmasked pixels (4-connected) filled,
    as scipy.ndimage.binary_fill_holes does, by one OpenCV flood fill (about 30x faster)."""
    flood = cv2.copyMakeBorder((mask == 0).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    cv2.floodFill(flood, None, (0, 0), 2, flags=4)
    return flood[1:-1, 1:-1] != 2


@dataclass(frozen=True)
class ContactCandidates:
    """What a contact mask is made from: the thresholded and closed colour change ((H, W) uint8, 0 or 1) and
    the least area (px) of a component that counts as contact.

    Whether there is any contact is all a press needs in order to go on (``Reconstruction.contact_found``);
    :meth:`any` answers that without the labelling, small-component removal and hole filling that
    :meth:`mask` does, which took a third of the contact detection (bench/tactile.py, docs/tactile.md speed).
    """

    closed: np.ndarray
    min_area_px: int

    def _components_areas(self) -> tuple[int, np.ndarray, np.ndarray]:
        # Block-based labelling (BBDT): the same components, twice as fast as the default algorithm here.
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(self.closed, 8, cv2.CV_16U,
                                                                                cv2.CCL_BBDT)
        return count, labels, stats[1:, cv2.CC_STAT_AREA]

    def any(self) -> bool:
        """Whether :meth:`mask` has any pixel set: whether some component has at least ``min_area_px`` pixels
        (hole filling only adds to a contact). A solid square of that many pixels, which most contacts
        hold, answers without labelling; fewer pixels in all than that answer no."""
        side = math.isqrt(max(self.min_area_px, 1) - 1) + 1  # the least square side with side^2 >= min_area_px
        square = cv2.erode(self.closed, np.ones((side, side), np.uint8), borderType=cv2.BORDER_CONSTANT,
                           borderValue=0)
        if cv2.countNonZero(square):
            return True
        if cv2.countNonZero(self.closed) < self.min_area_px:
            return False
        return bool((self._components_areas()[2] >= self.min_area_px).any())

    def mask(self) -> np.ndarray:
        """(H, W) bool contact mask: the components of at least ``min_area_px`` pixels, holes filled."""
        count, labels, areas = self._components_areas()
        keep = np.zeros(max(count, 256), np.uint8)
        keep[1:count] = areas >= self.min_area_px
        mask = self.closed
        if not keep[1:count].all():
            # Small components dropped by a table lookup per pixel: OpenCV's on 8-bit labels (2.5x faster than
            # np.take on 32-bit ones) while there are at most 256 labels, as there nearly always are.
            mask = cv2.LUT(labels.astype(np.uint8), keep) if count <= 256 else np.take(keep, labels)
        # Fill holes: what the border cannot reach through non-contact pixels is inside a contact.
        return fill_holes(mask)


def contact_candidates(diff: np.ndarray, threshold: float = 5.0, min_area_px: int = 60) -> ContactCandidates:
    """Where the smoothed colour change stands above the noise, gaps closed (see :func:`detect_contact`).

    The threshold rises above ``threshold`` when the frame's typical change is larger (a background
    that was estimated rather than recorded leaves a residue everywhere).
    """
    smoothed = cv2.GaussianBlur(diff, (0, 0), 1.5)
    magnitude = channel_sum(np.abs(smoothed, out=smoothed))
    quiet_level = percentile(magnitude[::3, ::3], 25)  # contacts rarely cover three quarters of the gel
    mask = (magnitude > max(threshold, 3.0 * quiet_level)).astype(np.uint8)
    return ContactCandidates(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)), min_area_px)


def detect_contact(diff: np.ndarray, threshold: float = 5.0, min_area_px: int = 60) -> np.ndarray:
    """Contact mask: where the smoothed colour change stands above the noise (:func:`contact_candidates`),
    components smaller than ``min_area_px`` dropped, holes filled."""
    return contact_candidates(diff, threshold, min_area_px).mask()


def estimate_background(frame: np.ndarray, degree: int = 3, iterations: int = 3) -> np.ndarray:
    """A no-contact frame guessed from a contact frame: a smooth polynomial per channel fitted to the
    pixels without texture, for real recordings that come without a background frame."""
    image = check_frame(frame, "frame").astype(np.float32)
    h, w = image.shape[:2]
    smooth = cv2.GaussianBlur(image, (0, 0), 1.5)
    texture = sum(np.abs(cv2.Sobel(smooth[..., c], cv2.CV_32F, 1, 0))
                  + np.abs(cv2.Sobel(smooth[..., c], cv2.CV_32F, 0, 1)) for c in range(3))
    keep = texture < np.percentile(texture, 50)
    keep = cv2.erode(keep.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = (xs / (w - 1) * 2 - 1).ravel(), (ys / (h - 1) * 2 - 1).ravel()
    basis = np.stack([u**i * v**j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)
    pixels = image.reshape(-1, 3)
    fitted = np.empty_like(pixels)
    keep = keep.ravel()
    for _ in range(iterations):
        coeffs, *_ = np.linalg.lstsq(basis[keep], pixels[keep], rcond=None)
        fitted = basis @ coeffs
        residual = np.abs(pixels - fitted).sum(axis=1)
        keep &= residual < 3.0 * np.median(residual[keep]) + 3.0
    return np.clip(np.rint(fitted.reshape(h, w, 3)), 0, 255).astype(np.uint8)
