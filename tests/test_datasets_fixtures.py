"""Builders for small datasets on disk, shared by the tests_datasets_* files (no tests here)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, width: int = 200, height: int = 120, seed: int = 0) -> Path:
    """A real, decodable image of the given size (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def voc_xml(filename: str | None, objects: list[tuple[str, float, float, float, float]],
            size: tuple[int, int] | None = (200, 120)) -> str:
    parts = ["<annotation>", "<folder>x</folder>"]
    if filename is not None:
        parts.append(f"<filename>{filename}</filename>")
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, x1, y1, x2, y2 in objects:
        parts.append(f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin>"
                     f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    parts.append("</annotation>")
    return "\n".join(parts)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def coco_document(images: list[dict], annotations: list[dict], names: list[str]) -> dict:
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}


def write_json(path: Path, document: object) -> Path:
    return write_text(path, json.dumps(document))


def boxes_of(dataset) -> dict[str, list[tuple]]:
    """{image file name: sorted [(class, x1, y1, x2, y2)]} for comparing datasets across formats."""
    return {r.path.name: sorted((b.class_name, b.x1, b.y1, b.x2, b.y2) for b in r.boxes) for r in dataset.images}


def reasons(dataset) -> list[str]:
    return [f"{s.file}: {s.reason}" for s in dataset.skipped]


# YOLO keeps 6 decimals of a normalised coordinate: at most 0.5e-6 * 200 px = 1e-4 px per write.
TOLERANCE_PX = 1e-3


def assert_same_boxes(a: dict, b: dict) -> None:
    """Every box of ``a`` has its own box in ``b`` with the same class and corners within tolerance
    (matched one to one, since sorting nearly equal boxes can order them differently)."""
    assert a.keys() == b.keys()
    for name in a:
        remaining = list(b[name])
        assert len(a[name]) == len(remaining), name
        for box in a[name]:
            match = next((other for other in remaining if other[0] == box[0]
                          and max(abs(p - q) for p, q in zip(box[1:], other[1:])) <= TOLERANCE_PX), None)
            assert match is not None, f"{name}: {box} not in {remaining}"
            remaining.remove(match)
