"""A part's periodic finish taken out of a frame (the weave of a composite, the grooves of a machined
skin), so that the detector can look again at what the finish hid.

A 2x2 twill of 2 mm tows repeats every few to a few tens of pixels in the cell's frames, as strongly as
a pit's or a crack's own shading: the learned detector, which sees far more plain paint than weave in
training, finds little on a composite part (52% of the defects on the tuning seed 5152's composite
parts, against 91-93% on bare and painted ones). A periodic pattern is a few sharp peaks in the
image's spectrum; a defect is not periodic and spreads its energy over many frequencies. Each tile of
the image (half-overlapping, Hann-windowed, so that the weave's period may drift with perspective and
the part's curvature from tile to tile) has the peaks that stand out of their spectral neighbourhood
taken out, and the tiles are added back. Broad shading (the part's curvature, the lights' fall-off,
dents, stains) lies at the lowest frequencies, which are kept. Fabric and machined-surface inspection
remove periodic texture this way (a notch filter in the Fourier domain). Finishes with no repeat
(orange peel, plain paint) have no peaks and pass unchanged. The detector then takes a second look at
the plain frame (``vision.stage``).

Hand-written with numpy's FFT and OpenCV: no maintained library here has a tiled spectral notch filter
(OpenCV's and scikit-image's filters are spatial).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TILE_PX = 128  # a few periods of the coarsest weave in a tile; small enough that perspective barely changes it
PEAK_RATIO = 4.0  # a frequency whose amplitude is this many times its neighbourhood's median is periodic
KEEP_RADIUS_BINS = 3  # frequencies this close to zero (periods over ~40 px) are shading, dents and stains: kept
NEIGHBOURHOOD_BINS = 5  # the spectral neighbourhood a peak must stand out of


@lru_cache(maxsize=2)
def _tile_constants(tile: int) -> tuple[np.ndarray, np.ndarray]:
    """The periodic Hann window (half-overlapping copies sum to one) and the mask of kept low frequencies
    in the layout of ``numpy.fft.rfft2``."""
    hann = np.sin(np.pi * np.arange(tile) / tile) ** 2
    window = np.outer(hann, hann).astype(np.float32)
    rows = np.fft.fftfreq(tile) * tile
    cols = np.fft.rfftfreq(tile) * tile
    low = (rows[:, None] ** 2 + cols[None, :] ** 2) <= KEEP_RADIUS_BINS ** 2
    window.setflags(write=False)
    low.setflags(write=False)
    return window, low


def remove_periodic_texture(image: np.ndarray, tile: int = TILE_PX, peak_ratio: float = PEAK_RATIO) -> np.ndarray:
    """``image`` (H, W) less its periodic part, float32, same mean level tile by tile.

    Every tile's spectrum is searched for amplitudes ``peak_ratio`` times the median of their
    neighbourhood (away from the lowest frequencies); those and their immediate neighbours (the window
    spreads a peak over adjacent bins) are zeroed, and the tiles are overlapped back."""
    source = np.asarray(image, np.float32)
    if source.ndim != 2:
        raise ValueError(f"remove_periodic_texture: expected a 2-D image, got shape {source.shape}")
    window, low = _tile_constants(tile)
    hop = tile // 2
    height, width = source.shape
    # Padded by half a tile on every side (and up to whole hops), so every pixel lies under two tiles per axis.
    pad_bottom = hop + (-(height + hop) % hop)
    pad_right = hop + (-(width + hop) % hop)
    padded = cv2.copyMakeBorder(source, hop, pad_bottom, hop, pad_right, cv2.BORDER_REFLECT_101)
    out = np.zeros_like(padded)
    kernel = np.ones((3, 3), np.uint8)
    for top in range(0, padded.shape[0] - tile + 1, hop):
        for left in range(0, padded.shape[1] - tile + 1, hop):
            patch = padded[top:top + tile, left:left + tile] * window
            spectrum = np.fft.rfft2(patch)
            level = np.log1p(np.abs(spectrum)).astype(np.float32)
            # The median of the neighbourhood on the spectrum laid out centred (rows wrap around zero).
            centred = np.fft.fftshift(level, axes=0)
            background = np.fft.ifftshift(cv2.medianBlur(centred, NEIGHBOURHOOD_BINS), axes=0)
            peaks = ((level > background + np.log(peak_ratio)) & ~low).astype(np.uint8)
            if peaks.any():
                peaks = cv2.dilate(peaks, kernel).astype(bool) & ~low
                spectrum[peaks] = 0
                patch = np.fft.irfft2(spectrum, s=(tile, tile)).astype(np.float32)
            out[top:top + tile, left:left + tile] += patch
    return out[hop:hop + height, hop:hop + width]


# The grey-level RMS that taking the periodic part out must remove for a frame to count as textured (a
# composite's weave, a machined skin's grooves). Below it (plain paint, orange peel) the detector takes no
# second look. Chosen on the tuning seeds' frames (docs/stage1-vision.md, "Texture").
TEXTURED_MIN_RMS = 3.0


def periodic_rms(frame: np.ndarray) -> float:
    """Grey levels (RMS) of periodic texture in an RGB ``frame``: what ``remove_periodic_texture`` takes out."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.sqrt(np.mean((grey - remove_periodic_texture(grey)) ** 2)))


def plain_frame(frame: np.ndarray, min_rms: float = TEXTURED_MIN_RMS) -> np.ndarray | None:
    """The RGB ``frame`` (H, W, 3 uint8) with its periodic texture taken out of each colour plane, or None
    when it has less than ``min_rms`` of it (only the grey frame is filtered to decide)."""
    if periodic_rms(frame) < min_rms:
        return None
    planes = [remove_periodic_texture(frame[..., channel]) for channel in range(frame.shape[2])]
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)
