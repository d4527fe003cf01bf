"""The part's own repeated features are not defects: flush rivet heads in a row, a fastener pattern.

The photometric-stereo finder (``vision.shape``) sees every rivet rim as strongly as a defect.
A defect is one of a kind in its frame; a rivet looks like its neighbours. So a candidate whose patch
(of the finder's own response) correlates with the patches of several other candidates of the same
frame is taken for a feature of the part. The cost: three alike defects in one frame would be missed
too, which the simulated parts never draw and which on a real part touch would still find by coverage.
"""
from __future__ import annotations

import numpy as np

LOOK_ALIKE_HALF_PX = 8  # the patch compared between candidates: a rivet head and its rim at the cell's scale
LOOK_ALIKE_CORRELATION = 0.7


def repeated_features(response: np.ndarray, centres: list[np.ndarray], max_look_alikes: int) -> list[bool]:
    """For each candidate centre (x, y) in pixels: does it look like more than ``max_look_alikes`` others?
    Compared by the normalised correlation of ``response`` around each centre."""
    if not centres:
        return []
    half = LOOK_ALIKE_HALF_PX
    padded = np.pad(response.astype(np.float32), half)
    patches = np.stack([padded[int(round(y)):int(round(y)) + 2 * half + 1,
                               int(round(x)):int(round(x)) + 2 * half + 1].ravel() for x, y in centres])
    patches -= patches.mean(axis=1, keepdims=True)
    patches /= np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-9)
    look_alikes = (patches @ patches.T > LOOK_ALIKE_CORRELATION).sum(axis=1) - 1
    return [bool(count > max_look_alikes) for count in look_alikes]
