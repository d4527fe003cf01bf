"""Dataset records shared by the readers, the writers and the evaluation code.

Boxes are in pixels of the image as stored (x right, y down), corner form. Every reader turns its own
convention (YOLO normalised centre/size, COCO x/y/w/h, VOC corners) into this one, so the rest of the
project never sees a format.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from inspection.errors import InputError

FORMATS: tuple[str, ...] = ("yolo", "coco", "voc")
# Folder and file-name words that say which split an image belongs to, and the name we use for each.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}
# Real annotation files are far smaller: the COCO 2017 train json is 450 MB, a VOC xml a few kB.
DEFAULT_MAX_ANNOTATION_BYTES: dict[str, int] = {
    ".json": 1 << 30, ".xml": 16 << 20, ".txt": 16 << 20, ".yaml": 1 << 20, ".yml": 1 << 20,
}
# Annotation tools round or use 1-based corners, so a box may overhang the image by up to a pixel;
# such a box is clipped. Anything further out is a wrong box and is skipped.
EDGE_TOLERANCE_PX = 1.0


class DatasetError(InputError):
    """The dataset as a whole cannot be read (no or ambiguous format, bad option); names the path."""


@dataclass(frozen=True)
class Box:
    """One labelled defect in pixels: x1 < x2 and y1 < y2, inside the image."""

    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        coords = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(c) for c in coords) or self.x2 <= self.x1 or self.y2 <= self.y1:
            raise DatasetError(f"box {self.class_name!r}: corners must be finite with x2 > x1, y2 > y1, got {coords}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(frozen=True)
class ImageRecord:
    """One image and its boxes; ``split`` is empty unless the dataset says train/val/test."""

    path: Path
    width: int
    height: int
    boxes: tuple[Box, ...]
    split: str = ""


@dataclass(frozen=True)
class Skipped:
    """An item left out of the dataset, so the user can see exactly what was lost and why."""

    file: str
    reason: str


@dataclass
class Dataset:
    root: Path
    format: str
    class_names: list[str]
    images: list[ImageRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def normalise_class_name(name: str) -> str:
    """'Rolled-in Scale', 'rolled_in_scale' and 'ROLLED-IN_SCALE' are the same class."""
    return re.sub(r"[\s\-_]+", "_", name.strip().lower())


class ClassResolver:
    """Maps a class name as written in a dataset to the name we report, or None when it is unknown.

    ``mapping`` (old -> new) renames first, e.g. NEU-DET 'scratches' -> 'scratch'. When
    ``class_names`` is given only those classes are kept, in that spelling; otherwise every class is
    kept, spelled as first seen. Both lookups ignore case and '-'/'_'/space differences.
    """

    def __init__(self, class_names: list[str] | None = None, mapping: dict[str, str] | None = None):
        self.mapping = {normalise_class_name(k): v for k, v in (mapping or {}).items()}
        self.target = list(class_names) if class_names is not None else None
        self._canonical: dict[str, str] = {}
        if self.target is not None:
            for name in self.target:
                key = normalise_class_name(name)
                if not key or key in self._canonical:
                    raise DatasetError(f"class names: empty or repeated name {name!r} in {self.target}")
                self._canonical[key] = name

    def resolve(self, raw_name: str) -> str | None:
        renamed = self.mapping.get(normalise_class_name(raw_name), raw_name).strip()
        key = normalise_class_name(renamed)
        if not key:
            return None
        if self.target is None:
            return self._canonical.setdefault(key, renamed)
        return self._canonical.get(key)

    def final_names(self, declared: list[str]) -> list[str]:
        """The dataset's class list: the requested one, else the declared names after renaming."""
        if self.target is not None:
            return list(self.target)
        names: list[str] = []
        for raw in declared:
            name = self.resolve(raw)
            if name is not None and name not in names:
                names.append(name)
        return names


def check_box(class_name: str, index: int, corners: tuple[float, float, float, float],
              width: int, height: int, item: str = "box") -> Box | str:
    """A Box clipped by at most EDGE_TOLERANCE_PX, or the reason it is not a valid box in this image."""
    label = f"{item} {index} ({class_name})"
    x1, y1, x2, y2 = corners
    if not all(math.isfinite(c) for c in corners):
        return f"{label} has a non-finite coordinate {list(corners)}"
    if x2 <= x1 or y2 <= y1:
        return f"{label} has non-positive size {x2 - x1:g}x{y2 - y1:g}"
    for name, value, low, high in (("x1", x1, 0, width), ("y1", y1, 0, height),
                                   ("x2", x2, 0, width), ("y2", y2, 0, height)):
        if value < low - EDGE_TOLERANCE_PX or value > high + EDGE_TOLERANCE_PX:
            return f"{label} outside the image {width}x{height}: {name}={value:g}"
    x1, x2 = max(x1, 0.0), min(x2, float(width))
    y1, y2 = max(y1, 0.0), min(y2, float(height))
    if x2 <= x1 or y2 <= y1:
        return f"{label} lies on the image border with no area inside"
    return Box(class_name, float(x1), float(y1), float(x2), float(y2))


def split_from_words(words: list[str]) -> str:
    """The split named by the last folder/file word that is one (``.../valid/images/x.jpg`` -> 'val')."""
    for word in reversed(words):
        for token in re.split(r"[^a-z]+", word.lower()):
            if token in SPLIT_ALIASES:
                return SPLIT_ALIASES[token]
    return ""
