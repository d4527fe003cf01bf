"""Format detection, ``load_dataset`` and ``dataset_stats``: the entry points the rest of the project uses."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from inspection.datasets.coco import is_coco_file, read_coco
from inspection.datasets.context import ReadContext
from inspection.datasets.files import FileIndex
from inspection.datasets.types import (
    DEFAULT_MAX_ANNOTATION_BYTES, FORMATS, SPLIT_ALIASES, ClassResolver, Dataset, DatasetError,
)
from inspection.datasets.voc import is_voc_file, read_voc
from inspection.datasets.yolo import find_data_yaml, has_yolo_tree, read_yolo


def _evidence(root: Path, index: FileIndex, given: Path | None) -> dict[str, list[Path]]:
    """For each format, the files that say the dataset is in it (empty when none)."""
    if given is not None:  # --dataset pointed at the dataset file itself
        if given.suffix.lower() in (".yaml", ".yml"):
            return {"yolo": [given], "coco": [], "voc": []}
        if given.suffix.lower() == ".json":
            return {"yolo": [], "coco": [given], "voc": []}
        raise DatasetError(f"{given}: give a dataset folder, a YOLO data.yaml or a COCO json")
    yolo = find_data_yaml(root)
    if not yolo and has_yolo_tree(root, index.images()):
        yolo = [root / "labels"] if (root / "labels").is_dir() else [root]
    return {
        "yolo": yolo,
        "coco": [p for p in index.with_suffix(".json") if is_coco_file(p)],
        "voc": [p for p in index.with_suffix(".xml") if is_voc_file(p)],
    }


def _choose_format(root: Path, evidence: dict[str, list[Path]], format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise DatasetError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
        if not evidence[format]:
            raise DatasetError(f"{root}: no {format.upper()} annotations found ({_WHAT[format]})")
        return format
    found = [f for f in FORMATS if evidence[f]]
    if not found:
        raise DatasetError(f"{root}: no annotations found; looked for " + "; ".join(
            f"{f.upper()} ({_WHAT[f]})" for f in FORMATS))
    if len(found) > 1:
        described = ", ".join(f"{f.upper()} ({len(evidence[f])} e.g. {evidence[f][0].name})" for f in found)
        raise DatasetError(f"{root}: ambiguous format, found {described}; choose one with --format")
    return found[0]


_WHAT = {
    "yolo": "a data.yaml with names, or images/ and labels/ folders",
    "coco": "*.json with images/annotations/categories",
    "voc": "*.xml with an <annotation> root",
}


def load_dataset(root: str | Path, format: str | None = None, class_names: list[str] | None = None,
                 split: str | None = None, *, class_map: dict[str, str] | None = None,
                 max_annotation_bytes: int | None = None) -> Dataset:
    """Read a YOLO, COCO or Pascal VOC dataset (detected when ``format`` is None).

    Args:
        root: dataset folder, or its data.yaml / COCO json.
        class_names: keep only these classes, in this spelling (case and '-'/'_' ignored when matching).
        split: keep only images of this split ("train", "val"/"valid", "test").
        class_map: rename classes first, e.g. {"scratches": "scratch"}.
        max_annotation_bytes: refuse annotation files larger than this (default: per-suffix limits).

    Returns:
        The dataset; bad items are left out and listed in ``skipped``.

    Raises:
        DatasetError: the root is missing, the format cannot be told or an option is invalid.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"{root}: no such dataset folder or file")
    path = path.resolve()
    given = path if path.is_file() else None
    base = path.parent if given else path
    wanted_split = None
    if split:
        wanted_split = SPLIT_ALIASES.get(split.lower())
        if wanted_split is None:
            raise DatasetError(f"split {split!r}: expected one of train, val, test")
    limits = dict(DEFAULT_MAX_ANNOTATION_BYTES)
    if max_annotation_bytes is not None:
        limits = {suffix: max_annotation_bytes for suffix in limits}
    index = FileIndex(base)
    evidence = _evidence(base, index, given)
    chosen = _choose_format(base, evidence, format)
    ctx = ReadContext(base, index, ClassResolver(class_names, class_map), limits)
    for link, reason in index.refused_links:
        ctx.skip(link, reason)
    if chosen == "yolo":
        yaml_path = evidence["yolo"][0] if evidence["yolo"][0].suffix.lower() in (".yaml", ".yml") else None
        images, declared = read_yolo(ctx, yaml_path)
    elif chosen == "coco":
        images, declared = read_coco(ctx, evidence["coco"])
    else:
        images, declared = read_voc(ctx)
    seen = sorted({box.class_name for image in images for box in image.boxes})
    names = ctx.resolver.final_names(declared)
    names += [name for name in seen if name not in names]
    if wanted_split is not None:
        images = [image for image in images if image.split == wanted_split]
    images.sort(key=lambda image: str(image.path))
    return Dataset(base, chosen, names, images, ctx.skipped)


def dataset_stats(dataset: Dataset) -> dict:
    """Counts a user checks before trusting a dataset: images, boxes per class, splits, what was skipped."""
    per_class = Counter(box.class_name for image in dataset.images for box in image.boxes)
    return {
        "root": str(dataset.root),
        "format": dataset.format,
        "images": len(dataset.images),
        "boxes": sum(per_class.values()),
        "classes": {name: per_class.get(name, 0) for name in dataset.class_names},
        "splits": dict(sorted(Counter(image.split or "none" for image in dataset.images).items())),
        "skipped": [{"file": s.file, "reason": s.reason} for s in dataset.skipped],
    }
