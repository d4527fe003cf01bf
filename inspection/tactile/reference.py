"""A reference of good presses: what a defect-free contact of one part on one sensor looks like,
learnt from a handful (4 to 10) of good frames in seconds on a CPU, and the operating threshold.

The model is a memory bank of patch descriptors (:mod:`inspection.tactile.anomaly`) of the good frames,
each also seen slightly rotated and scaled (a handful of presses taken in one place would otherwise teach
only that one pose of the part on the gel) and shifted in steps up to a quarter of the frame (what an
off-centre press cuts at the frame's border, at whatever phase of the texture it lands), projected on
their leading principal components (patch colour detail is strongly correlated; 12 axes keep
what separates patches and make the nearest-neighbour search cheap), thinned per frame by greedy k-centre
selection (PatchCore's coreset: it keeps rare good patches, which random thinning drops) and searched
exhaustively by faiss (``IndexFlatL2``): for the single nearest patch in 12 dimensions it runs a fused kernel
that computes |q|^2 + |p|^2 - 2 q.p and keeps the running minimum in registers, never writing the query x bank
matrix of distances that a matrix product has to write and read back; that made the search about 3x faster
than torch's blocked product and row minimum (docs/tactile.md, speed). In 12 dimensions a k-d tree prunes
little of a coreset that is spread to cover the patches: even that product search was twice as fast as a
k-d tree allowed a factor 2 of error.
A new frame's anomaly map is, per patch, the distance to the nearest good patch.

The threshold is chosen from good frames only: each good frame is scored against a bank of the others
(leave-one-out, the others seen with THRESHOLD_SHIFTS only), and the highest of those scores times
``margin`` is the threshold. A handful of frames under-samples how far new good presses stray, hence a
margin well above 1.

Files: ``NAME.npz`` (bank, projection, threshold) and ``NAME.json`` beside it (the fitted frames, the
threshold and how it was chosen), both written atomically.
"""
from __future__ import annotations

import hashlib

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import faiss
import numpy as np
import torch

from inspection.atomic import write_bytes_atomic, write_json_atomic
from inspection.errors import InputError
from inspection.tactile import anomaly
from inspection.tactile.anomaly import AnomalyMap
from inspection.tactile.npz_file import open_versioned_npz

FORMAT_VERSION = 1
PROJECTED_SIZE = 12
BANK_SIZE = 3000
DEFAULT_MARGIN = 2.0
MIN_FRAMES = 3
# faiss picks its search path by comparing (queries x dimensions) with this threshold: below it, one pair at a
# time (about 15x slower here); at or above it, the path whose nearest-neighbour case is the fused kernel.
# Every anomaly map (about 2,000 queries x 12) is to take the fused kernel.
FUSED_SEARCH_THRESHOLD = 0
# (rotation in degrees, scale) of each view of a good frame that goes into the bank: the pose of the part
# on the gel varies that much between presses. Rotated or scaled views keep only whole, in-frame patches.
AUGMENTED_POSES = ((0.0, 1.0), (-3.0, 1.0), (3.0, 1.0), (0.0, 0.95), (0.0, 1.05))
AUGMENTED_BORDER_CELLS = 3
# (down, right) shifts, as fractions of the frame's height and width, of further views of each good frame:
# a press a few millimetres off-centre puts a rivet head or a seam at the frame's border, cut there, and cuts
# a thread at another phase of its pitch; good presses taken near one place show one cut. Shifts come in
# SHIFT_STEPS even steps up to MAX_SHIFT each way, about half a patch cell apart on a 320x240 frame (3 px
# down, 4 px across), so the border cuts a texture at every phase and the cells sample it at every offset
# (steps of a whole cell left a press an eighth of a thread pitch along scoring like a defect at the border;
# with a quarter-frame shift alone the real sample's fault frames scored above the threshold at the
# contact's top edge, outside their nick, where the frame cut the thread at a phase no good frame showed).
MAX_SHIFT = 0.25
SHIFT_STEPS = 20
_SHIFT_FRACTIONS = tuple(sign * step * MAX_SHIFT / SHIFT_STEPS
                         for sign in (1, -1) for step in range(1, SHIFT_STEPS + 1))
AUGMENTED_SHIFTS = tuple((f, 0.0) for f in _SHIFT_FRACTIONS) + tuple((0.0, f) for f in _SHIFT_FRACTIONS)
# The leave-one-out banks that set the threshold hold fewer shifts: a quarter-frame each way. The threshold
# measures how far good presses stray from each other, and the fine steps explain a held-out good frame's
# borders so well that its score fell by half (rivet 18.0 -> 8.1); off-centre clean presses, which cut the
# part in ways no shift shows, then crossed that bar (validation, seed 5: 42 of 1000 rivet presses flagged).
THRESHOLD_SHIFTS = ((0.25, 0.0), (-0.25, 0.0), (0.0, 0.25), (0.0, -0.25))
# A shifted view adds only what its cut border changes: the cells within reach of the border through the
# descriptors' low-pass background (3 sigma); deeper in, it repeats the unshifted view's patches.
SHIFT_BAND_CELLS = int(np.ceil(3 * anomaly.BACKGROUND_SIGMA_PX / anomaly.GRID_STEP_PX))

# What the descriptors were built with: a reference from other settings would give meaningless distances.
DESCRIPTOR_SETTINGS = {"work_scale": anomaly.WORK_SCALE, "background_sigma_px": anomaly.BACKGROUND_SIGMA_PX,
                       "detail_sigma_px": anomaly.DETAIL_SIGMA_PX, "patch_step_px": anomaly.PATCH_STEP_PX,
                       "grid_step_px": anomaly.GRID_STEP_PX, "map_smoothing_cells": anomaly.MAP_SMOOTHING_CELLS,
                       "augmented_poses": [list(p) for p in AUGMENTED_POSES],
                       "augmented_shifts": [list(s) for s in AUGMENTED_SHIFTS], "shift_band_cells": SHIFT_BAND_CELLS,
                       "threshold_shifts": [list(s) for s in THRESHOLD_SHIFTS],
                       "projected_size": PROJECTED_SIZE}


def greedy_coreset(points: np.ndarray, size: int) -> np.ndarray:
    """Indices of ``size`` points chosen so that every point is close to one of them (k-centre, greedy).

    Squared distances to each new centre come from one matrix-vector product (|p|^2 - 2 p.c + |c|^2) in
    torch: three times faster than differencing every point, with tens of thousands of patches per good
    frame."""
    if len(points) <= size:
        return np.arange(len(points))
    points_t = torch.from_numpy(np.ascontiguousarray(points, np.float32))
    squared_norms = (points_t * points_t).sum(dim=1)
    chosen = np.empty(size, np.int64)
    chosen[0] = 0
    with torch.inference_mode():
        nearest = squared_norms - 2.0 * (points_t @ points_t[0]) + squared_norms[0]
        for k in range(1, size):
            centre = int(torch.argmax(nearest))
            chosen[k] = centre
            torch.minimum(nearest, squared_norms - 2.0 * (points_t @ points_t[centre]) + squared_norms[centre],
                          out=nearest)
    return chosen


def good_patches(frame: np.ndarray, bank_share: int,
                 shifts: Sequence[tuple[float, float]] | None = None) -> np.ndarray:
    """(N, 27) descriptors of ``frame`` in every pose of AUGMENTED_POSES and every shift of ``shifts``
    (default AUGMENTED_SHIFTS), thinned to ``bank_share`` patches."""
    h, w = frame.shape[:2]
    patches = []
    for angle, scale in AUGMENTED_POSES:
        if angle == 0.0 and scale == 1.0:
            patches.append(anomaly.patch_descriptors(frame).reshape(-1, anomaly.DESCRIPTOR_SIZE))
            continue
        turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
        view = cv2.warpAffine(frame, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        b = AUGMENTED_BORDER_CELLS
        patches.append(anomaly.patch_descriptors(view)[b:-b, b:-b].reshape(-1, anomaly.DESCRIPTOR_SIZE))
    for down, right in AUGMENTED_SHIFTS if shifts is None else shifts:
        patches.append(shifted_patches(frame, round(down * h), round(right * w)))
    every = np.concatenate(patches)
    return every[greedy_coreset(every, bank_share)]


def shifted_patches(frame: np.ndarray, down_px: int, right_px: int) -> np.ndarray:
    """(N, 27) descriptors of ``frame`` moved by (``down_px``, ``right_px``): only the band of
    SHIFT_BAND_CELLS cells along the border its content left by (cut there as a real frame cuts it); the
    side the border filling came in on is never kept."""
    h, w = frame.shape[:2]
    move = np.float32([[1.0, 0.0, right_px], [0.0, 1.0, down_px]])
    view = cv2.warpAffine(frame, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    cells = anomaly.patch_descriptors(view)
    band = SHIFT_BAND_CELLS
    if down_px:
        cells = cells[-band:] if down_px > 0 else cells[:band]
    if right_px:
        cells = cells[:, -band:] if right_px > 0 else cells[:, :band]
    return cells.reshape(-1, anomaly.DESCRIPTOR_SIZE)


@dataclass(frozen=True)
class PatchBank:
    """Good patches in a projected descriptor space, searchable by nearest neighbour."""

    mean: np.ndarray        # (27,) float32
    projection: np.ndarray  # (27, PROJECTED_SIZE) float32
    patches: np.ndarray     # (N, PROJECTED_SIZE) float32
    index: faiss.IndexFlatL2 = field(repr=False, compare=False)  # the patches, searched exhaustively

    @staticmethod
    def build(mean: np.ndarray, projection: np.ndarray, patches: np.ndarray) -> "PatchBank":
        patches = np.ascontiguousarray(patches, np.float32)
        index = faiss.IndexFlatL2(patches.shape[1])
        index.add(patches)
        return PatchBank(mean, projection, patches, index)

    @staticmethod
    def fit(patches_per_frame: Sequence[np.ndarray]) -> "PatchBank":
        """Bank of good patches (one (N, 27) array per good frame, from :func:`good_patches`)."""
        flat = np.concatenate(patches_per_frame).astype(np.float32)
        mean = flat.mean(axis=0)
        # Principal axes from the 27x27 covariance, formed by torch (numpy's BLAS would start threads of its
        # own on shared CPUs; an SVD of the whole bank took ten times longer there), largest first.
        centred = torch.from_numpy(flat - mean).double()
        _, axes = np.linalg.eigh((centred.T @ centred).numpy())
        projection = np.ascontiguousarray(axes[:, ::-1][:, :PROJECTED_SIZE], dtype=np.float32)
        return PatchBank.build(mean, projection, (flat - mean) @ projection)

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """(rows, cols) Euclidean distance of each patch to its nearest good patch (exact)."""
        rows, cols = descriptors.shape[:2]
        # numpy's BLAS would start threads of its own (20x slower on shared, busy CPUs): torch projects.
        query = torch.from_numpy(np.ascontiguousarray(descriptors.reshape(-1, anomaly.DESCRIPTOR_SIZE), np.float32))
        with torch.inference_mode():
            query = ((query - torch.from_numpy(self.mean)) @ torch.from_numpy(self.projection)).numpy()
        faiss.cvar.distance_compute_blas_threshold = FUSED_SEARCH_THRESHOLD
        # One thread, on whichever thread searches: faiss's OpenMP thread count is a setting of the calling
        # thread, so one made at start-up would not reach, say, a ROS executor's worker thread.
        faiss.omp_set_num_threads(1)
        squared, _ = self.index.search(query, 1)
        # Rounding can leave a query that equals a bank patch a hair below zero.
        return np.sqrt(np.maximum(squared, 0.0, out=squared), out=squared).reshape(rows, cols)

    def cells(self, descriptors: np.ndarray, scored: np.ndarray | None = None) -> np.ndarray:
        return anomaly.relative_cells(self.distances(descriptors), scored)


@dataclass(frozen=True)
class GoodReference:
    """Patch bank of good presses, the frame size it was fitted on, and the operating threshold."""

    bank: PatchBank
    frame_shape: tuple[int, int]
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def anomaly(self, frame: np.ndarray, beyond: np.ndarray | None = None) -> AnomalyMap:
        """Anomaly map, score and peak of one frame (same size as the reference frames); with ``beyond``
        (gel beyond the part's edge, ``footprint.beyond_part``) only the part is scored."""
        frame = np.asarray(frame)
        if frame.shape[:2] != self.frame_shape:
            raise InputError(f"tactile frame: {frame.shape[1]}x{frame.shape[0]}, but the reference was fitted on "
                             f"{self.frame_shape[1]}x{self.frame_shape[0]} frames")
        scored = None if beyond is None or not beyond.any() else anomaly.on_part_cells(beyond)
        return AnomalyMap(self.bank.cells(anomaly.patch_descriptors(frame), scored), self.frame_shape, self.threshold)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz) and its JSON sidecar, each atomically."""
        path = Path(path)
        buffer = io.BytesIO()
        np.savez(buffer, version=np.int64(FORMAT_VERSION), mean=self.bank.mean, projection=self.bank.projection,
                 patches=self.bank.patches, frame_shape=np.array(self.frame_shape, np.int64),
                 threshold=np.float64(self.threshold),
                 descriptor=np.frombuffer(json.dumps(DESCRIPTOR_SETTINGS, sort_keys=True).encode(), np.uint8))
        write_bytes_atomic(path, buffer.getvalue())
        write_json_atomic(path.with_suffix(".json"), {"format_version": FORMAT_VERSION, "threshold": self.threshold,
                                                      "frame_size": [self.frame_shape[1], self.frame_shape[0]],
                                                      "bank_patches": int(len(self.bank.patches)),
                                                      "descriptor": DESCRIPTOR_SETTINGS, **self.meta})
        return path

    @staticmethod
    def load(path: str | Path) -> "GoodReference":
        path = Path(path)
        with open_versioned_npz(path, "reference", "inspection tactile reference", FORMAT_VERSION) as data:
            settings = json.loads(bytes(data["descriptor"]).decode())
            if settings != json.loads(json.dumps(DESCRIPTOR_SETTINGS)):
                raise InputError(f"{path}: fitted with descriptor settings {settings}, this version uses "
                                 f"{DESCRIPTOR_SETTINGS}; fit the reference again")
            bank = PatchBank.build(data["mean"].astype(np.float32), data["projection"].astype(np.float32),
                                   data["patches"].astype(np.float32))
            shape = tuple(int(v) for v in data["frame_shape"])
            threshold = float(data["threshold"])
        if bank.projection.shape != (anomaly.DESCRIPTOR_SIZE, bank.patches.shape[1]) or len(shape) != 2:
            raise InputError(f"{path}: reference arrays have inconsistent shapes")
        if not np.isfinite(threshold) or threshold <= 0:
            raise InputError(f"{path}: threshold {threshold} is not a positive number")
        sidecar = path.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{sidecar}: unreadable reference metadata ({exc})") from exc
        return GoodReference(bank, (shape[0], shape[1]), threshold, meta)


def frame_digest(frame: np.ndarray) -> str:
    """Identifies a frame by its pixels, so an evaluation knows which frames fitted the reference
    whatever they are called (two folders may both hold a ``00.png``)."""
    return hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest()[:16]


def fit_reference(frames: Sequence[np.ndarray], names: Sequence[str], margin: float = DEFAULT_MARGIN) -> GoodReference:
    """Reference from good frames (``names`` label them in the sidecar); threshold from leave-one-out.

    Raises:
        InputError: fewer than MIN_FRAMES frames, frames of different sizes, or a margin below 1.
    """
    if len(frames) < MIN_FRAMES:
        raise InputError(f"reference: {len(frames)} good frame(s); need at least {MIN_FRAMES} (4 to 10 recommended)")
    if len(names) != len(frames):
        raise InputError(f"reference: {len(names)} names for {len(frames)} frames")
    if not np.isfinite(margin) or margin < 1.0:
        raise InputError(f"reference: margin {margin} must be a number >= 1")
    shapes = {np.asarray(f).shape[:2] for f in frames}
    if len(shapes) != 1:
        raise InputError(f"reference: good frames differ in size {sorted(shapes)}")
    frames = [anomaly.check_frame(f) for f in frames]
    share = -(-BANK_SIZE // len(frames))
    patches = [good_patches(f, share) for f in frames]
    calibration_patches = [good_patches(f, share, THRESHOLD_SHIFTS) for f in frames]
    loo_scores = []
    for held_out, frame in enumerate(frames):
        others = PatchBank.fit([p for i, p in enumerate(calibration_patches) if i != held_out])
        loo_scores.append(float(others.cells(anomaly.patch_descriptors(frame)).max()))
    threshold = max(loo_scores) * margin
    meta = {"frames": list(names), "frame_digests": [frame_digest(f) for f in frames], "threshold_rule": f"max of leave-one-out scores of the good frames x {margin}",
            "leave_one_out_scores": dict(zip(names, [round(s, 3) for s in loo_scores])), "margin": margin}
    return GoodReference(PatchBank.fit(patches), shapes.pop(), threshold, meta)
