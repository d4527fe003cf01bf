"""Pascal VOC reader. Real VOC-style datasets rarely keep the canonical Annotations/JPEGImages
folders, so xml files are taken from anywhere under the root and each image is found from the xml's
<filename> anywhere in the tree (nearest the xml when several files share the name).

Corner coordinates are used as written (no 1-pixel shift), like LabelImg and CVAT. A missing or zero
<size> is read from the image header; a <size> that disagrees with the image file skips the image,
because its boxes were drawn on a different picture.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from inspection.datasets.context import RawBox, ReadContext
from inspection.datasets.files import IMAGE_SUFFIXES, UnsafePath, confined, read_annotation
from inspection.datasets.types import ImageRecord, split_from_words


def is_voc_file(path: Path) -> bool:
    """Cheap detection: a VOC annotation's root element is <annotation>."""
    try:
        with path.open("rb") as handle:
            return re.search(rb"<annotation[\s>]", handle.read(4096)) is not None
    except OSError:
        return False


def _image_sets(ctx: ReadContext) -> dict[str, str]:
    """Image stem -> split from VOC ImageSets/Main/{train,val,test}.txt, when the dataset has them."""
    stems: dict[str, str] = {}
    for path in ctx.index.with_suffix(".txt"):
        in_image_sets = path.parent.name == "Main" and path.parent.parent.name == "ImageSets"
        if not in_image_sets or path.stem not in ("train", "val", "test"):
            continue
        try:
            lines = read_annotation(path, ctx.limits).decode("utf-8", errors="replace").splitlines()
        except (OSError, ValueError) as exc:
            ctx.skip(path, str(exc))
            continue
        for line in lines:
            if line.strip():
                stems[line.split()[0]] = path.stem
    return stems


def _number(element: ET.Element, tag: str) -> float:
    text = element.findtext(tag)
    if text is None or not text.strip():
        raise ValueError(f"<{tag}> missing")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"<{tag}> is not a number: {text.strip()[:40]!r}") from None


def _find_image(ctx: ReadContext, xml_path: Path, tree: ET.Element) -> Path | str:
    """The annotated image from <filename>; without one (or without an extension) by the stem."""
    filename = (tree.findtext("filename") or "").strip()
    bases = (xml_path.parent, ctx.root)
    if Path(filename.replace("\\", "/")).suffix.lower() in IMAGE_SUFFIXES:
        return ctx.locate(filename, xml_path.parent, bases)
    stem = filename or xml_path.stem
    if filename:
        confined(ctx.root, xml_path.parent, filename)  # refused as written, not as the first suffix tried
    for suffix in sorted(IMAGE_SUFFIXES):
        found = ctx.locate(stem + suffix, xml_path.parent, bases)
        if isinstance(found, Path):
            return found
    return f"no image for <filename> {filename!r}" if filename else f"no <filename> and no image named {stem}.*"


def _read_one(ctx: ReadContext, xml_path: Path, image_sets: dict[str, str]) -> ImageRecord | None:
    try:
        data = read_annotation(xml_path, ctx.limits)
    except (OSError, ValueError) as exc:
        ctx.skip(xml_path, str(exc))
        return None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        ctx.skip(xml_path, "xml with DOCTYPE/ENTITY declarations refused (VOC never needs them)")
        return None
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as exc:
        ctx.skip(xml_path, f"broken xml: {exc}")
        return None
    if tree.tag != "annotation":
        ctx.skip(xml_path, f"not a Pascal VOC annotation (root element <{tree.tag[:40]}>)")
        return None
    try:
        image_path = _find_image(ctx, xml_path, tree)
    except UnsafePath as exc:
        ctx.skip(xml_path, f"<filename>: {exc}")
        return None
    if isinstance(image_path, str):
        ctx.skip(xml_path, image_path)
        return None
    info = ctx.image_info(image_path, xml_path)
    if info is None:
        return None
    size = tree.find("size")
    if size is not None:
        try:
            declared = (int(_number(size, "width")), int(_number(size, "height")))
        except (ValueError, OverflowError):
            declared = (0, 0)  # unusable <size>: the image header decides
        if declared[0] > 0 and declared[1] > 0 and declared != (info.width, info.height):
            ctx.skip(xml_path, f"<size> {declared[0]}x{declared[1]} differs from the image file "
                               f"{info.width}x{info.height}")
            return None
    raw: list[RawBox] = []
    for number, obj in enumerate(tree.findall("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        try:
            if box is None:
                raise ValueError("no <bndbox>")
            x1, y1, x2, y2 = (_number(box, tag) for tag in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            ctx.skip(xml_path, f"box {number} ({name or '?'}): {exc}")
            continue
        raw.append((number, name, (x1, y1, x2, y2)))
    boxes = ctx.boxes(xml_path, "", raw, info.width, info.height)
    split = (image_sets.get(image_path.stem) or split_from_words(list(Path(ctx.rel(xml_path)).parent.parts))
             or split_from_words(list(Path(ctx.rel(image_path)).parent.parts)))
    return ctx.record(image_path, info, boxes, split)


def read_voc(ctx: ReadContext) -> tuple[list[ImageRecord], list[str]]:
    """Images with their boxes, and the declared class names: none, VOC has no class list."""
    image_sets = _image_sets(ctx)
    images = [r for r in (_read_one(ctx, p, image_sets) for p in ctx.index.with_suffix(".xml")) if r is not None]
    return images, []
