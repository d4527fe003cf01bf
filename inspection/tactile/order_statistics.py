"""Percentiles and medians of finite values as numpy computes them (linear interpolation between the two
neighbouring order statistics), for the per-frame statistics of Stage II.

``np.percentile`` partitions around four positions (the two neighbours plus the first and last element,
to find NaNs) and ``np.median`` over an axis of an (N, 3) array partitions strided columns; both cost
0.2-0.7 ms on a frame's worth of values. Partitioning once around the lower neighbour and taking the
minimum of what lies above it gives the same two order statistics in a tenth of the time, and the same
interpolation then gives the same number.
"""
from __future__ import annotations

import numpy as np


def _at_and_above(values: np.ndarray, index: int) -> tuple[np.generic, np.generic]:
    """The order statistics at ``index`` and ``index + 1`` (the same one at the end) of 1-D ``values``."""
    ordered = np.partition(values, index)
    above = ordered[index] if index + 1 >= len(values) else ordered[index + 1:].min()
    return ordered[index], above


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear method) of finite ``values`` of any shape, as a float; the
    interpolation runs in the values' own precision, as numpy's does for a scalar ``q``."""
    flat = np.ravel(values)
    if flat.size == 0:
        raise ValueError("percentile of no values")
    position = (flat.size - 1) * (np.float64(q) / 100.0)
    index = int(np.floor(position))
    low, high = _at_and_above(flat, index)
    weight = float(position - index)
    gap = high - low
    # numpy interpolates from the nearer neighbour, so that a weight of 1 gives ``high`` exactly
    return float(high - gap * (1.0 - weight)) if weight >= 0.5 else float(low + gap * weight)


def median(values: np.ndarray) -> float:
    """``np.median(values)`` of finite ``values`` of any shape, as a float (the mean of the two middle
    values for an even count, in the values' own precision, as numpy's)."""
    flat = np.ravel(values)
    if flat.size == 0:
        raise ValueError("median of no values")
    middle = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, middle)[middle])
    low, high = _at_and_above(flat, middle - 1)
    return float((low + high) / 2)


def channel_medians(pixels: np.ndarray) -> np.ndarray:
    """``np.median(pixels, axis=0)`` of an (N, C) array of finite values, as float32 (C,)."""
    columns = np.ascontiguousarray(np.asarray(pixels).T)
    return np.array([median(column) for column in columns], np.float32)
