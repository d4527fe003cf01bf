"""Stage I end to end, as the vision node and the coordinator call it: frames from one or more camera
poses in, detections, merged 3D defect hypotheses and tactile scan regions out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.records import DEFECT_CLASSES, OPTICAL_CLASSES, DefectHypothesis, Detection2D, ScanRegion
from inspection.vision.detector import DefectDetector, DetectorSettings, as_rgb, check_pipeline_model
from inspection.vision.localize import CameraView, Localizer, merge_hypotheses, scan_regions
from inspection.vision.shape import ShapeSettings, check_burst, find_shape_defects
from inspection.vision.spots import SpotSettings, find_burst_spots, find_spots
from inspection.vision.texture import plain_frame


@dataclass
class StageOneResult:
    detections: list[Detection2D] = field(default_factory=list)
    hypotheses: list[DefectHypothesis] = field(default_factory=list)
    regions: list[ScanRegion] = field(default_factory=list)
    off_part: list[Detection2D] = field(default_factory=list)  # boxes whose rays miss the part mesh
    bad_bursts: list[str] = field(default_factory=list)  # why a view's burst was not read (its frame still was)


class StageOne:
    """Detector (and the hand-written finders: spots ``vision.spots``, photometric-stereo shape ``vision.shape``)
    + localiser with the ``vision_node`` parameters.

    With ``detexture``, a frame whose finish repeats (a composite's weave, a machined skin's grooves) has that
    texture taken out (``vision.texture``) and the detector takes a second look at the plain frame: it finds
    there what it misses under a weave. The hand-written finders keep reading the frames and bursts as they
    came: their local-contrast tests are tuned against texture, and on a plain frame they fire on what the
    filter leaves (on tuning part 5152-0, 89 spots of which 2 were defects)."""

    def __init__(self, detector: DefectDetector, surface: PartSurface, merge_distance_m: float,
                 region_margin_m: float, spots: SpotSettings | None = None, shape: ShapeSettings | None = None,
                 light_directions: np.ndarray | None = None, detexture: bool = False):
        self.detector, self.localizer = detector, Localizer(surface)
        self.detexture = detexture
        self.merge_distance_m, self.region_margin_m = merge_distance_m, region_margin_m
        # The hand-written finders' findings are hypotheses like any other: below the hand-over threshold (the
        # paper's 0.25) they are not made.
        self.spots = spots if spots is not None and spots.confidence >= detector.settings.confidence else None
        if shape is not None and light_directions is None:
            raise InputError("vision_node.shape_detector: the camera has no photometric lights (cell.yaml "
                             "camera.photometric); turn the shape finder off or describe the lights")
        self.shape = shape if shape is not None and shape.confidence >= detector.settings.confidence else None
        self.light_directions = light_directions

    @staticmethod
    def from_params(params: Mapping[str, Any], surface: PartSurface, detector: DefectDetector | None = None,
                    light_directions: np.ndarray | None = None) -> "StageOne":
        """The vision_node's Stage I; a detector with classes that are not ours (after ``class_map``) is
        refused here, naming them, not at every frame whose detections cannot be recorded. ``detector``
        replaces the one ``params`` name (the node passes the explaining one when vision_node.explain);
        ``light_directions`` are the photometric lights' (cell.yaml ``camera.photometric``), if any."""
        check_pipeline_model(params)
        detector = detector or DefectDetector.load(params["model"], DetectorSettings.from_params(params))
        return StageOne(detector, surface, params["merge_distance_m"], params["region_margin_m"],
                        SpotSettings.from_params(params), ShapeSettings.from_params(params), light_directions,
                        params["detexture"])

    @property
    def classes_never_detected(self) -> tuple[str, ...]:
        """Our defect classes the detector has no output for: it was trained before they were added."""
        return tuple(name for name in DEFECT_CLASSES if name not in self.detector.class_names)

    def inspect(self, frames: list[np.ndarray], views: list[CameraView],
                bursts: list[np.ndarray | None] | None = None) -> StageOneResult:
        """Detect in every frame (tiles of all frames batched together), localise, merge across views.
        ``bursts`` (one per frame, None where a view has none) feed the shape finder when it is on."""
        result = StageOneResult()
        per_frame = self.detector.detect_batch(frames, [view.view_id for view in views])
        if self.detexture:
            # (grey frames too: the detector takes them, expanded to RGB, and so does the second look)
            plain = {index: frame for index, frame in enumerate(plain_frame(as_rgb(f)) for f in frames)
                     if frame is not None}
            if plain:
                second_look = self.detector.detect_batch(list(plain.values()), [views[i].view_id for i in plain])
                for index, detections in zip(plain, second_look):
                    per_frame[index] = per_frame[index] + detections
        found: list[DefectHypothesis] = []
        for index, (frame, detections, view) in enumerate(zip(frames, per_frame, views)):
            learned = detections
            if self.spots is not None:
                detections = detections + find_spots(frame, self.spots, view.view_id, covered=learned)
            burst = bursts[index] if bursts is not None else None
            if self.shape is not None and burst is not None:
                try:
                    check_burst(burst, self.light_directions, f"view {view.view_id} burst", frame.shape[:2])
                    # A stain's or a paint loss's box does not explain a change of shape under it.
                    geometric = [box for box in learned if box.class_name not in OPTICAL_CLASSES]
                    detections = detections + find_shape_defects(burst, self.light_directions, self.shape,
                                                                 view.view_id, covered=geometric)
                    if self.spots is not None and self.spots.on_burst:
                        # A shape finding's speck at the same place is a pit too: the two merge as hypotheses.
                        ring_lit = [box for box in detections if box.finder != "shape"]
                        detections = detections + find_burst_spots(burst, self.spots, view.view_id, covered=ring_lit)
                except InputError as exc:
                    result.bad_bursts.append(str(exc))
            result.detections += detections
            hypotheses, off_part = self.localizer.localize(detections, view)
            found += hypotheses
            result.off_part += off_part
        result.hypotheses = merge_hypotheses(found, self.merge_distance_m)
        result.regions = scan_regions(result.hypotheses, self.region_margin_m)
        return result
