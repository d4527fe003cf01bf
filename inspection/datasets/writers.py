"""Writers to YOLO (Ultralytics layout) and COCO. Each builds the whole output in a hidden folder
beside ``out`` and renames it into place at the end, so a crash never leaves half a dataset that
looks complete (the json and yaml files are also written atomically; label files are plain writes
inside the staging folder). Images are hard-linked (copied when the file system refuses a link).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from inspection.atomic import staged_folder, write_json_atomic, write_text_atomic
from inspection.datasets.types import Dataset, DatasetError, ImageRecord

DEFAULT_SPLIT = "train"


def reproducible_order(images: list[ImageRecord], root: Path, seed: int) -> list[ImageRecord]:
    """The same pseudo-random order on every run and machine (hash of the seed and the path under
    ``root``), so splits and subsets drawn from it are reproducible."""
    def key(image: ImageRecord) -> str:
        return hashlib.sha256(f"{seed}:{image.path.relative_to(root).as_posix()}".encode()).hexdigest()

    return sorted(images, key=key)


def assign_splits(dataset: Dataset, val_fraction: float, seed: int = 0) -> Dataset:
    """A copy with a fresh train/val split: the same images go to val on every run (hash of the path)."""
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val fraction {val_fraction}: expected 0 <= fraction < 1")

    ranked = reproducible_order(dataset.images, dataset.root, seed)
    n_val = round(len(ranked) * val_fraction)
    val = {id(image) for image in ranked[:n_val]}
    images = [replace(image, split="val" if id(image) in val else "train") for image in dataset.images]
    return Dataset(dataset.root, dataset.format, list(dataset.class_names), images, list(dataset.skipped))


@contextmanager
def _staging(out: Path, root: Path, dataset_images: int) -> Iterator[Path]:
    """A hidden folder beside ``out`` that becomes ``out`` when the block finishes without error."""
    out = out.expanduser().absolute()
    if not dataset_images:
        raise DatasetError(f"{root}: nothing to write, the dataset has no usable images")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: output folder exists and is not empty")
    if out.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"{out}: output folder must not be inside the dataset {root}")
    with staged_folder(out) as staging:
        yield staging


def _link(source: Path, target: Path, copy: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.link(source, target)
            return
        except OSError:  # another file system, or links not allowed: copy instead
            pass
    shutil.copyfile(source, target)


def as_utf8(text: str) -> str:
    """``text`` with the bytes of a file name that are not UTF-8 (Python keeps them as lone surrogates)
    shown as U+FFFD: JSON and YAML readers refuse lone surrogates, so they never reach an output."""
    return os.fsencode(text).decode("utf-8", errors="replace")


def _place_images(dataset: Dataset, staging: Path, copy: bool) -> list[tuple[ImageRecord, str, Path]]:
    """Each image linked (or copied) to ``images/<split>/`` under a UTF-8 name; returns (image, split, path
    relative to out)."""
    placed = []
    taken: set[str] = set()
    for image in dataset.images:
        split = image.split or DEFAULT_SPLIT
        stem, suffix = as_utf8(image.path.stem), as_utf8(image.path.suffix)
        name, count = stem + suffix, 1
        while f"{split}/{name}".lower() in taken:  # same name in two source folders
            count += 1
            name = f"{stem}_{count}{suffix}"
        taken.add(f"{split}/{name}".lower())
        relative = Path("images", split, name)
        _link(image.path, staging / relative, copy)
        placed.append((image, split, relative))
    return placed


def _class_ids(dataset: Dataset) -> dict[str, int]:
    ids = {name: i for i, name in enumerate(dataset.class_names)}
    for image in dataset.images:
        for box in image.boxes:
            if box.class_name not in ids:
                msg = f"{image.path}: class {box.class_name!r} is not in the class list {dataset.class_names}"
                raise DatasetError(msg)
    return ids


def write_yolo(dataset: Dataset, out: Path, copy_images: bool = False) -> None:
    """Ultralytics layout: images/<split>/, labels/<split>/*.txt, data.yaml with names as {id: name}."""
    import yaml

    ids = _class_ids(dataset)
    with _staging(Path(out), dataset.root, len(dataset.images)) as staging:
        placed = _place_images(dataset, staging, copy_images)
        for image, _, relative in placed:
            lines = []
            for box in image.boxes:
                cx, cy = (box.x1 + box.x2) / 2 / image.width, (box.y1 + box.y2) / 2 / image.height
                w, h = box.width / image.width, box.height / image.height
                lines.append(f"{ids[box.class_name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
            label = staging / "labels" / relative.relative_to("images").with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(lines), encoding="utf-8")
        splits = sorted({split for _, split, _ in placed}) or [DEFAULT_SPLIT]
        # No 'path' key: Ultralytics then resolves the folders from the yaml's own folder, wherever it is moved.
        data = {"train": f"images/{DEFAULT_SPLIT}" if DEFAULT_SPLIT in splits else f"images/{splits[0]}"}
        data["val"] = "images/val" if "val" in splits else data["train"]
        if "test" in splits:
            data["test"] = "images/test"
        data["names"] = {i: name for name, i in ids.items()}
        source = f"{dataset.format.upper()} {as_utf8(str(dataset.root))}"
        header = f"# Written by `inspection data convert` from {source}\n"
        if "val" not in splits:
            header += "# No val images: val points at train (use --val-fraction to hold some out).\n"
        write_text_atomic(staging / "data.yaml", header + yaml.safe_dump(data, sort_keys=False))


def write_coco(dataset: Dataset, out: Path, copy_images: bool = False) -> None:
    """images/<split>/ and annotations/instances_<split>.json; category ids from 1, as COCO numbers them."""
    ids = _class_ids(dataset)
    with _staging(Path(out), dataset.root, len(dataset.images)) as staging:
        placed = _place_images(dataset, staging, copy_images)
        categories = [{"id": i + 1, "name": name, "supercategory": "defect"} for name, i in ids.items()]
        for split in sorted({split for _, split, _ in placed}):
            images, annotations = [], []
            for image, image_split, relative in placed:
                if image_split != split:
                    continue
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": relative.as_posix(),
                               "width": image.width, "height": image.height})
                for box in image.boxes:
                    annotations.append({
                        "id": len(annotations) + 1, "image_id": image_id, "category_id": ids[box.class_name] + 1,
                        "bbox": [round(box.x1, 4), round(box.y1, 4), round(box.width, 4), round(box.height, 4)],
                        "area": round(box.width * box.height, 4), "iscrowd": 0,
                    })
            source = f"{dataset.format.upper()} {as_utf8(str(dataset.root))}"
            document = {"info": {"description": f"converted from {source}"},
                        "images": images, "annotations": annotations, "categories": categories}
            write_json_atomic(staging / "annotations" / f"instances_{split}.json", document)
