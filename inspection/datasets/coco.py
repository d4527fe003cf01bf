"""COCO detection reader: json files with ``images``, ``annotations`` and ``categories``; ``bbox`` is
[x, y, width, height] in pixels. Images are found from ``file_name`` relative to the json's folder,
the dataset root or an ``images/`` folder beside either, else by file name anywhere in the tree.
Crowd regions (``iscrowd: 1``) are not single defects and are skipped, named.
"""
from __future__ import annotations

import json
from pathlib import Path

from inspection.datasets.context import RawBox, ReadContext
from inspection.datasets.files import UnsafePath, read_annotation
from inspection.datasets.types import ImageRecord, split_from_words

# Detection reads only the start: a 450 MB COCO file still names "images" in its first megabyte.
_HEAD_BYTES = 1 << 20


def is_coco_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return False
    return b'"images"' in head or b'"annotations"' in head


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {str(value)[:40]!r}")
    return float(value)  # OverflowError for ints beyond float range is caught by the caller


def _identifier(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"id must be an integer or a string, got {str(value)[:40]!r}")
    return value


def _load(ctx: ReadContext, path: Path) -> dict | None:
    try:
        text = read_annotation(path, ctx.limits)
    except (OSError, ValueError) as exc:
        ctx.skip(path, str(exc))
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        ctx.skip(path, f"broken json: {str(exc)[:160]}")
        return None
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        ctx.skip(path, f"not a COCO detection file: no list {', '.join(repr(k) for k in missing)}")
        return None
    return data


def _categories(ctx: ReadContext, path: Path, entries: list) -> dict[int | str, str]:
    categories: dict[int | str, str] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValueError("needs an id and a name")
            category_id = _identifier(entry.get("id"))
            if category_id in categories:
                raise ValueError(f"repeats id {category_id}")
        except ValueError as exc:
            ctx.skip(path, f"category {number}: {exc}")
            continue
        categories[category_id] = entry["name"]
    return categories


def _image(ctx: ReadContext, path: Path, entry: object, seen: set) -> tuple[int | str, Path, tuple[int, int]] | str:
    """(id, image file, declared size or (0, 0)), or why the images entry is unusable."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
        return "needs an id and a file_name"
    image_id = _identifier(entry.get("id"))
    if image_id in seen:
        return f"repeats id {image_id}"
    seen.add(image_id)
    folder = path.parent
    try:
        located = ctx.locate(entry["file_name"], folder,
                             (folder, ctx.root, folder / "images", folder.parent / "images", ctx.root / "images"))
    except UnsafePath as exc:
        return f"file_name: {exc}"
    if isinstance(located, str):
        return located
    width, height = entry.get("width", 0), entry.get("height", 0)
    declared = all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height))
    size = (int(width), int(height)) if declared else (0, 0)
    return image_id, located, size


def _read_one(ctx: ReadContext, path: Path, class_names: list[str]) -> list[ImageRecord]:
    data = _load(ctx, path)
    if data is None:
        return []
    categories = _categories(ctx, path, data["categories"])
    class_names.extend(n for n in categories.values() if n not in class_names)
    seen: set = set()
    images: dict[int | str, tuple[Path, int, int]] = {}
    dropped: set = set()  # ids of images skipped for their own reason; their annotations go with them
    for number, entry in enumerate(data["images"], start=1):
        try:
            found = _image(ctx, path, entry, seen)
        except ValueError as exc:
            found = str(exc)
        if isinstance(found, str):
            label = entry.get("file_name") if isinstance(entry, dict) else None
            ctx.skip(path, f"image {number} ({label or '?'}): {found}")
            if isinstance(entry, dict) and isinstance(entry.get("id"), (int, str)):
                dropped.add(entry["id"])
            continue
        image_id, image_path, declared = found
        info = ctx.image_info(image_path, path)
        if info is None or (declared != (0, 0) and declared != (info.width, info.height)):
            if info is not None:
                ctx.skip(path, f"image {number} ({image_path.name}): size {declared[0]}x{declared[1]} differs "
                               f"from the image file {info.width}x{info.height}")
            dropped.add(image_id)
            continue
        images[image_id] = (image_path, info.width, info.height)
    dropped -= images.keys()  # a repeated id names the first image, which stays
    raw: dict[int | str, list[RawBox]] = {i: [] for i in images}
    for number, ann in enumerate(data["annotations"], start=1):
        ann_id = str(ann.get("id", number) if isinstance(ann, dict) else number)[:40]
        try:
            if not isinstance(ann, dict):
                raise ValueError("not an object")
            image_id = ann.get("image_id")
            if image_id in dropped:
                continue
            if isinstance(image_id, bool) or image_id not in images:
                raise ValueError(f"unknown image id {str(image_id)[:40]}")
            if ann.get("iscrowd") in (1, True):
                raise ValueError("crowd region (iscrowd=1), not a single defect")
            category = ann.get("category_id")
            if isinstance(category, bool) or category not in categories:
                raise ValueError(f"unknown category id {str(category)[:40]}")
            bbox = ann.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise ValueError("bbox must be [x, y, width, height]")
            x, y, w, h = (_number(v) for v in bbox)
        except (ValueError, TypeError, OverflowError) as exc:  # TypeError: unhashable ids such as lists
            ctx.skip(path, f"annotation {ann_id}: {exc}")
            continue
        raw[image_id].append((ann_id, categories[category], (x, y, x + w, y + h)))
    split = split_from_words([*Path(ctx.rel(path)).parent.parts, path.stem])
    records = []
    for image_id, (image_path, width, height) in images.items():
        boxes = ctx.boxes(path, f"image {image_path.name}: ", raw[image_id], width, height, "annotation")
        records.append(ImageRecord(image_path, width, height, boxes, split))
    return records


def read_coco(ctx: ReadContext, files: list[Path]) -> tuple[list[ImageRecord], list[str]]:
    """Images with their boxes from every COCO file, and the category names in file order."""
    class_names: list[str] = []
    images: list[ImageRecord] = []
    for path in files:
        images.extend(_read_one(ctx, path, class_names))
    return images, class_names
