"""The Stage I defect detector: one interface over the Ultralytics (``.pt``) and ONNX Runtime
(``.onnx``) backends, with sliced inference for small defects in large frames.

>>> detector = DefectDetector.load("models/defect_detector.onnx", DetectorSettings(tile_size=320))
>>> detections = detector.detect(image_rgb)          # list[Detection2D], pixels of image_rgb

The class names and input size come from the metadata sidecar next to the model
(``defect_detector.json``, as anomalib's metadata.json), so a model and the names it was trained
with cannot drift apart. A model trained with other names (a user's own fine-tune) is renamed with
``class_map`` ("theirs=ours,..."); the pipeline refuses one whose classes are not all ours
(``require_defect_classes``) at start, rather than dropping every frame whose detections it cannot record.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from inspection import paths
from inspection.class_map import parse_class_map
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES, Detection2D, LatentEvidence
from inspection.vision.backends import Backend, OnnxBackend, UltralyticsBackend
from inspection.vision.slicing import cut_flags, merge_detections, tile_grid

METADATA_VERSION = 1


def metadata_path(model_path: str | Path) -> Path:
    """The sidecar shared by ``name.pt`` and ``name.onnx``: ``name.json``."""
    return Path(model_path).with_suffix(".json")


def read_metadata(model_path: str | Path) -> dict[str, Any]:
    """The sidecar of ``model_path``; InputError naming the file when it is missing or incomplete."""
    path = metadata_path(model_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: metadata sidecar missing (class names and input size of {Path(model_path).name}); "
                         "models written by `inspection train vision` have one") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable metadata sidecar ({exc})") from exc
    names, imgsz = data.get("class_names"), data.get("imgsz")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: 'class_names' must be a non-empty list of strings")
    if not isinstance(imgsz, int) or imgsz < 32 or imgsz % 32:
        raise InputError(f"{path}: 'imgsz' must be a multiple of 32, got {imgsz!r}")
    return data


def resolve_model_path(model: str | Path) -> Path:
    """A path as given, or a bare name looked up in the package's models/ folder."""
    path = Path(model).expanduser()
    if not path.is_absolute() and not path.exists() and len(path.parts) == 1:
        path = paths.model_file(path.name)
    if not path.is_file():
        raise InputError(f"{model}: model file not found")
    if path.suffix not in (".pt", ".onnx"):
        raise InputError(f"{model}: expected a .pt (Ultralytics) or .onnx model")
    return path


def model_class_names(model_path: str | Path, class_map: str = "") -> list[str]:
    """The model's class names (from its sidecar) after ``class_map``; a mapped name the model lacks is
    an InputError, as a typo there would otherwise leave the class unmapped."""
    names = read_metadata(model_path)["class_names"]
    mapping = parse_class_map(class_map, "vision_node.class_map", leave_out=False)
    strangers = [name for name in mapping if name not in names]
    if strangers:
        raise InputError(f"vision_node.class_map: {strangers} are not classes of {Path(model_path).name} "
                         f"(its classes: {names})")
    return [mapping.get(name, name) for name in names]


def require_defect_classes(class_names: list[str], model_path: str | Path) -> None:
    """Refuse a detector with a class that is not one of the pipeline's defect classes, naming it."""
    unknown = [name for name in class_names if name not in DEFECT_CLASSES]
    if unknown:
        raise InputError(f"{model_path}: detector classes {unknown} are not defect classes of this pipeline "
                         f"{list(DEFECT_CLASSES)}; rename them with vision_node.class_map "
                         f"(e.g. '{unknown[0]}={DEFECT_CLASSES[0]}'), or use a model trained on these classes")


def check_pipeline_model(params: Mapping[str, Any]) -> None:
    """The vision_node's model exists and, after its class_map, detects only our classes: checked from
    the sidecar alone (no model load), so `inspection demo` and `inspection run` refuse before any node starts."""
    path = resolve_model_path(params["model"])
    require_defect_classes(model_class_names(path, params["class_map"]), path)


@dataclass(frozen=True)
class DetectorSettings:
    """What the vision node runs with (``vision_node`` in config/pipeline.yaml); tile_size 0 = no slicing."""

    confidence: float = 0.25
    iou: float = 0.5
    tile_size: int = 320
    tile_overlap: float = 0.2
    full_frame_pass: bool = True
    tile_batch: int = 16
    max_detections: int = 300
    device: str = "cpu"
    class_map: str = ""  # "theirs=ours,...": the model's class names as the pipeline calls them

    @staticmethod
    def from_params(params: Mapping[str, Any]) -> "DetectorSettings":
        return DetectorSettings(
            confidence=params["confidence"], iou=params["iou"], tile_size=params["tile_size"],
            tile_overlap=params["tile_overlap"], full_frame_pass=params["full_frame_pass"],
            tile_batch=params["tile_batch"], max_detections=params["max_detections"], device=params["device"],
            class_map=params["class_map"])


def as_rgb(image: np.ndarray, where: str = "image") -> np.ndarray:
    """An HxWx3 uint8 RGB view of ``image`` (grey is expanded); InputError otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InputError(f"{where}: expected a uint8 numpy image, got {type(image).__name__} "
                         f"{getattr(image, 'dtype', '')}")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 8:
        raise InputError(f"{where}: expected HxWx3 RGB of at least 8x8 pixels, got shape {image.shape}")
    return image[..., :3]


class DefectDetector:
    """Finds defects in RGB frames; slices large frames into tiles and merges what the tiles find.

    A backend may append columns after the six of a row: (latent id, activation) pairs of the
    explainer (inspection.explain), which travel with their box through the tile merge and become the
    detection's ``explanation``, named by ``latent_labels`` (latent id -> atlas label)."""

    def __init__(self, backend: Backend, class_names: list[str], settings: DetectorSettings,
                 latent_labels: Mapping[int, str] | None = None):
        self.backend, self.class_names, self.settings = backend, list(class_names), settings
        self.latent_labels = dict(latent_labels or {})

    @staticmethod
    def load(model: str | Path, settings: DetectorSettings | None = None) -> "DefectDetector":
        """Pick the backend by file type; names (after ``settings.class_map``) and input size come from the sidecar."""
        settings = settings or DetectorSettings()
        path = resolve_model_path(model)
        metadata = read_metadata(path)
        class_names = model_class_names(path, settings.class_map)
        backend_type = OnnxBackend if path.suffix == ".onnx" else UltralyticsBackend
        backend = backend_type(path, metadata["imgsz"], settings.confidence, settings.iou,
                               settings.max_detections, settings.device)
        return DefectDetector(backend, class_names, settings)

    def detect(self, image_rgb: np.ndarray, view_id: str = "") -> list[Detection2D]:
        return self.detect_batch([image_rgb], [view_id])[0]

    def detect_batch(self, images_rgb: list[np.ndarray], view_ids: list[str] | None = None) -> list[list[Detection2D]]:
        """Detections per image; all tiles of all images go through the model in shared batches."""
        view_ids = view_ids or [""] * len(images_rgb)
        if len(view_ids) != len(images_rgb):
            raise InputError(f"view_ids: {len(view_ids)} ids for {len(images_rgb)} images")
        return [self.to_detections(rows, view_id) for rows, view_id in zip(self.detect_arrays(images_rgb), view_ids)]

    def to_detections(self, rows: np.ndarray, view_id: str = "") -> list[Detection2D]:
        detections = []
        for row in rows.tolist():
            x1, y1, x2, y2, conf, cls = row[:6]
            if x2 - x1 > 1e-3 and y2 - y1 > 1e-3:
                detections.append(Detection2D(x1, y1, x2, y2, self.class_names[int(cls)],
                                              min(1.0, max(0.0, conf)), view_id, self._explanation(row[6:])))
        return detections

    def _explanation(self, pairs: list[float]) -> tuple[LatentEvidence, ...]:
        """The (latent id, activation) pairs after a row's six columns; id -1 marks an empty slot."""
        return tuple(LatentEvidence(int(latent), round(float(activation), 4), self.latent_labels.get(int(latent), ""))
                     for latent, activation in zip(pairs[0::2], pairs[1::2]) if latent >= 0)

    def detect_arrays(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        """Per image an (N, 6) array x1, y1, x2, y2, confidence, class index, in that image's pixels."""
        images = [as_rgb(image, f"images[{i}]") for i, image in enumerate(images_rgb)]
        s = self.settings
        if s.tile_size <= 0:
            return self._batched(images)
        crops, owners, tiles = [], [], []
        for index, image in enumerate(images):
            height, width = image.shape[:2]
            for tile in tile_grid(width, height, s.tile_size, s.tile_overlap):
                crops.append(image[tile.y0:tile.y1, tile.x0:tile.x1])
                owners.append(index)
                tiles.append(tile)
        found = self._batched(crops)
        per_image: list[list[np.ndarray]] = [[] for _ in images]
        per_image_cut: list[list[np.ndarray]] = [[] for _ in images]
        for rows, owner, tile in zip(found, owners, tiles):
            rows = rows.copy()
            rows[:, [0, 2]] += tile.x0
            rows[:, [1, 3]] += tile.y0
            per_image[owner].append(rows)
            per_image_cut[owner].append(cut_flags(rows, tile))
        if s.full_frame_pass:
            # Whole-frame view, shrunk to the model input: catches defects larger than a tile.
            multi_tile = [i for i, image in enumerate(images) if max(image.shape[:2]) > s.tile_size]
            for i, rows in zip(multi_tile, self._batched([images[i] for i in multi_tile])):
                per_image[i].append(rows)
                per_image_cut[i].append(np.zeros(len(rows), dtype=bool))
        return [merge_detections(np.concatenate(rows), np.concatenate(cut), s.iou, max_det=s.max_detections)
                for rows, cut in zip(per_image, per_image_cut)]

    def _batched(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Run the backend over ``images`` in batches of images of the same shape."""
        results: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(i)
        batch = max(1, self.settings.tile_batch)
        for indices in by_shape.values():
            for start in range(0, len(indices), batch):
                chunk = indices[start:start + batch]
                for i, rows in zip(chunk, self.backend.infer([images[i] for i in chunk])):
                    results[i] = rows
        return [r if r is not None else np.zeros((0, 6), np.float32) for r in results]
