"""From image boxes to defects on the part: each box is cast through the calibrated camera onto the
part mesh (``inspection.geometry``'s ``PartSurface``), giving a 3D centre, the surface normal and a
metric size in the part frame; the same defect seen from several views becomes one hypothesis; each
hypothesis becomes a scan region.

Box points are undistorted (plumb_bob, ``cv2.undistortPoints`` iterated to convergence) before they become rays, since
at the frame corners a few pixels of lens distortion are millimetres on the part. Normals are
interpolated from vertex normals, so a coarse mesh of a smooth part still gives smooth normals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.cell import CameraConfig, CellConfig
from inspection.geometry.surface import PartSurface
from inspection.records import GEOMETRIC_CLASSES, DefectHypothesis, Detection2D, ScanRegion

# Detector boxes use pixel edges (pixel i spans [i, i + 1), as Ultralytics and the simulator's labels do);
# the camera model puts pixel centres at integer coordinates (OpenCV, ROS CameraInfo).
EDGE_TO_CENTRE_PX = -0.5
MIN_HITS = 3  # fewer box samples than this on the part: the box is off the part, nothing to localise
MAX_REGION_RADIUS_M = 1.0


@dataclass(frozen=True)
class CameraView:
    """One image's camera: intrinsics and distortion from ``camera``, pose as part <- camera optical frame."""

    view_id: str
    camera: CameraConfig
    part_from_camera: np.ndarray

    @staticmethod
    def from_cell(cell: CellConfig, view_id: str = "camera", camera_to_world: np.ndarray | None = None) -> "CameraView":
        """The cell's fixed camera, or a camera moved to ``camera_to_world`` (e.g. carried by the robot)."""
        world_from_camera = cell.camera_to_world() if camera_to_world is None else np.asarray(camera_to_world)
        return CameraView(view_id, cell.camera, np.linalg.inv(cell.part_to_world()) @ world_from_camera)

    def rays(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Origins and unit directions, in the part frame, of the rays through distorted ``pixels`` (N, 2)."""
        import cv2

        cam = self.camera
        normalised = cv2.undistortPoints(
            np.asarray(pixels, np.float64).reshape(-1, 1, 2), cam.intrinsic_matrix(), np.asarray(cam.distortion),
            None, None, None, (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)).reshape(-1, 2)
        directions = np.column_stack([normalised, np.ones(len(normalised))])
        directions = directions @ self.part_from_camera[:3, :3].T
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        origins = np.broadcast_to(self.part_from_camera[:3, 3], directions.shape)
        return np.ascontiguousarray(origins), directions


class Localizer:
    """Casts detection boxes onto the part surface."""

    def __init__(self, surface: PartSurface, samples_per_side: int = 7):
        self.surface, self.samples = surface, max(3, samples_per_side)

    def localize(self, detections: list[Detection2D], view: CameraView,
                 ) -> tuple[list[DefectHypothesis], list[Detection2D]]:
        """Hypotheses for the boxes that land on the part, and the boxes that do not."""
        hypotheses, off_part = [], []
        steps = np.linspace(0.0, 1.0, self.samples)
        for index, det in enumerate(detections):
            gx, gy = np.meshgrid(det.x1 + steps * (det.x2 - det.x1), det.y1 + steps * (det.y2 - det.y1))
            pixels = np.vstack([[det.center], np.column_stack([gx.ravel(), gy.ravel()])]) + EDGE_TO_CENTRE_PX
            origins, directions = view.rays(pixels)
            points, normals, hit = self.surface.cast(origins, directions)
            # A hand-written finder's box must lie wholly on the part: one at its silhouette is a corner or a
            # segment of the outline (the filters answer it as they answer a pit or a crack), and a press
            # centred there would hang over the edge. The learned detector has seen outlines in training.
            if hit.sum() < MIN_HITS or (det.finder != "detector" and not hit.all()):
                off_part.append(det)
                continue
            centre, normal = (points[0], normals[0]) if hit[0] else (np.nanmean(points[1:], axis=0),
                                                                       np.nanmean(normals[1:], axis=0))
            normal = normal / np.linalg.norm(normal)
            # Box axes on the surface: the camera's x axis (image rows) laid into the tangent plane.
            along = view.part_from_camera[:3, 0] - normal * float(view.part_from_camera[:3, 0] @ normal)
            if np.linalg.norm(along) < 1e-6:  # looking along the surface: any tangent will do
                along = np.cross(normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
            along /= np.linalg.norm(along)
            across = np.cross(normal, along)
            offsets = points[1:][hit[1:]] - centre
            extent = sorted((float(np.ptp(offsets @ along)), float(np.ptp(offsets @ across))), reverse=True)
            hypotheses.append(DefectHypothesis(
                id=f"{view.view_id or 'view'}-{index}", class_name=det.class_name, confidence=det.confidence,
                position=tuple(float(v) for v in centre), normal=tuple(float(v) for v in normal),
                extent_m=(extent[0], extent[1]), view_ids=(view.view_id,) if view.view_id else (),
                explanation=det.explanation, finder=det.finder))
        return hypotheses, off_part


def merge_hypotheses(hypotheses: list[DefectHypothesis], distance_m: float) -> list[DefectHypothesis]:
    """One hypothesis per defect: same-class hypotheses whose centres lie within ``distance_m`` (or within
    half the larger one's extent, for big defects) of the most confident one join it."""
    order = sorted(hypotheses, key=lambda h: -h.confidence)
    used = [False] * len(order)
    merged = []
    for i, lead in enumerate(order):
        if used[i]:
            continue
        group = [lead]
        used[i] = True
        for j in range(i + 1, len(order)):
            other = order[j]
            reach = max(distance_m, max(lead.extent_m) / 2)
            if not used[j] and other.class_name == lead.class_name and \
                    np.linalg.norm(np.subtract(other.position, lead.position)) <= reach:
                group.append(other)
                used[j] = True
        weights = np.array([h.confidence for h in group]) + 1e-9
        position = np.average([h.position for h in group], axis=0, weights=weights)
        normal = np.average([h.normal for h in group], axis=0, weights=weights)
        extent = np.max([h.extent_m for h in group], axis=0)
        views = tuple(sorted({v for h in group for v in h.view_ids}))
        merged.append(DefectHypothesis(
            id=f"d{len(merged):03d}", class_name=lead.class_name, confidence=lead.confidence,
            position=tuple(float(v) for v in position), normal=tuple(float(v) for v in normal),
            extent_m=(float(extent[0]), float(extent[1])), view_ids=views, explanation=lead.explanation,
            finder=lead.finder))
    return merged


def scan_regions(hypotheses: list[DefectHypothesis], margin_m: float) -> list[ScanRegion]:
    """A region per geometric defect (radius: half its larger extent plus ``margin_m``); a region whose
    centre lies inside a larger one is folded into it, so two labels for one spot cost one tactile scan.
    Optical defects (stains, paint loss) get no region: touch cannot feel them, pressing costs time."""
    circles = sorted(
        ([np.asarray(h.position), np.asarray(h.normal), max(h.extent_m) / 2 + margin_m, [h.id], h.confidence, h.finder]
         for h in hypotheses if h.class_name in GEOMETRIC_CLASSES),
        key=lambda c: -c[2])
    kept: list[list] = []
    for centre, normal, radius, ids, confidence, finder in circles:
        for big in kept:
            gap = float(np.linalg.norm(centre - big[0]))
            if gap <= big[2]:
                big[2] = max(big[2], gap + radius)
                big[3] = big[3] + ids
                if confidence > big[4]:
                    big[4], big[5] = confidence, finder
                break
        else:
            kept.append([centre, normal, radius, ids, confidence, finder])
    return [ScanRegion(id=f"region-{i:03d}", center=tuple(float(v) for v in centre),
                       normal=tuple(float(v) for v in normal), radius_m=min(radius, MAX_REGION_RADIUS_M),
                       hypothesis_ids=tuple(ids), confidence=float(confidence), finder=finder)
            for i, (centre, normal, radius, ids, confidence, finder) in enumerate(kept)]
