"""YOLO reader, following Ultralytics: a data.yaml (``path``, ``train``/``val``/``test`` as folders,
image-list .txt files or lists of them, ``names`` as a list or an {id: name} dict), or a bare tree
with ``images/`` and ``labels/`` folders. The label of ``.../images/a/b.jpg`` is ``.../labels/a/b.txt``;
an image without one is a background image. Lines are ``class cx cy w h`` normalised to [0, 1];
polygon lines (``class x1 y1 x2 y2 ...``) give their bounding box, as Ultralytics does.
"""
from __future__ import annotations

import re
from pathlib import Path

from inspection.datasets.context import RawBox, ReadContext
from inspection.datasets.files import IMAGE_SUFFIXES, UnsafePath, confined, exists, is_file, read_annotation
from inspection.datasets.types import DatasetError, ImageRecord, split_from_words
from inspection.yaml_safe import safe_load

YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")


def find_data_yaml(root: Path) -> list[Path]:
    """YAML files at the top of the dataset that declare ``names`` (the Ultralytics dataset file)."""
    found = []
    for path in sorted(root.glob("*.y*ml")):
        try:
            if path.is_file() and re.search(rb"(?m)^names\s*:", read_annotation(path)):
                found.append(path)
        except (OSError, ValueError):
            continue
    preferred = [p for p in found if p.name.lower() in YAML_NAMES]
    return preferred[:1] or found


def has_yolo_tree(root: Path, images: list[Path]) -> bool:
    """A bare tree: some image sits under an ``images`` folder whose ``labels`` twin exists."""
    return any(_label_path(root, image) is not None for image in images)


def _label_path(root: Path, image: Path) -> Path | None:
    """Ultralytics' rule: the last ``images`` folder becomes ``labels`` and the suffix ``.txt``."""
    parts = image.relative_to(root).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images" and root.joinpath(*parts[:i], "labels").is_dir():
            return root.joinpath(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
    return None


_SCALARS = (str, int, float)  # YAML aliases can nest lists exponentially; only scalars are turned into text


def _names_from_yaml(value: object, yaml_path: Path) -> dict[int, str]:
    if isinstance(value, list):
        pairs = list(enumerate(value))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        kind = type(value).__name__
        raise DatasetError(f"{yaml_path}: names: expected a list or an {{id: name}} mapping, got {kind}")
    if not all(isinstance(k, _SCALARS) and isinstance(v, _SCALARS) for k, v in pairs):
        raise DatasetError(f"{yaml_path}: names: class names must be plain text")
    try:
        return {int(k): str(v) for k, v in pairs}
    except (TypeError, ValueError, OverflowError):
        raise DatasetError(f"{yaml_path}: names: keys must be class ids, got {[k for k, _ in pairs][:5]}") from None


def _classes_txt(ctx: ReadContext) -> dict[int, str]:
    """LabelImg and many exporters write the class list to classes.txt next to the labels."""
    for path in (ctx.root / "classes.txt", ctx.root / "labels" / "classes.txt"):
        if path.is_file():
            try:
                lines = read_annotation(path, ctx.limits).decode("utf-8", errors="replace").splitlines()
            except (OSError, ValueError) as exc:
                ctx.skip(path, str(exc))
                continue
            return {i: line.strip() for i, line in enumerate(n for n in lines if n.strip())}
    return {}


def _parse_line(tokens: list[str]) -> tuple[int, tuple[float, float, float, float]] | str:
    """(class id, normalised corners) from one label line, or the reason it is not a label."""
    if len(tokens) != 5 and (len(tokens) < 7 or len(tokens) % 2 == 0):
        return f"expected 'class cx cy w h' or a polygon, got {len(tokens)} values"
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        return "not numbers"
    class_id = numbers[0]
    if not class_id.is_integer() or class_id < 0:
        return f"class id {tokens[0][:20]!r} is not a non-negative integer"
    if len(numbers) == 5:
        cx, cy, w, h = numbers[1:]
        return int(class_id), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    xs, ys = numbers[1::2], numbers[2::2]
    return int(class_id), (min(xs), min(ys), max(xs), max(ys))


def _read_labels(ctx: ReadContext, label: Path, names: dict[int, str], size: tuple[int, int]) -> list[RawBox] | None:
    """Boxes in pixels from one label file; None (and skipped) when the file itself is unusable."""
    try:
        text = read_annotation(label, ctx.limits).decode("utf-8")
    except UnicodeDecodeError:
        ctx.skip(label, "label file is not UTF-8 text")
        return None
    except (OSError, ValueError) as exc:
        ctx.skip(label, str(exc))
        return None
    width, height = size
    raw: list[RawBox] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = _parse_line(line.split())
        if isinstance(parsed, str):
            ctx.skip(label, f"line {number}: {parsed}")
            continue
        class_id, (x1, y1, x2, y2) = parsed
        if names and class_id not in names:
            ctx.skip(label, f"line {number}: unknown class id {class_id} (names has {len(names)})")
            continue
        raw.append((number, names.get(class_id, str(class_id)), (x1 * width, y1 * height, x2 * width, y2 * height)))
    return raw


def _images_of(ctx: ReadContext, yaml_path: Path, base: Path, entry: object) -> list[Path]:
    """Images named by one train/val/test entry: folders, image-list files, or lists of both."""
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        if not isinstance(item, _SCALARS):
            ctx.skip(yaml_path, "split entry: expected a folder or an image-list path")
            continue
        text = str(item)
        # Roboflow exports say '../train/images' from a data.yaml that sits in the root; Ultralytics
        # then drops the '../', and so do we.
        attempts = [text, text[3:]] if text.startswith("../") else [text]
        target, refusal = None, ""
        for attempt in attempts:
            try:
                candidate = confined(ctx.root, base, attempt)
            except UnsafePath as exc:
                refusal = str(exc)
                continue
            if exists(candidate):
                target = candidate
                break
        if target is None:
            why = refusal or "no such folder or image list under the dataset root"
            ctx.skip(yaml_path, f"split entry {text!r}: {why}")
            continue
        if target.is_dir():
            images.extend(p for p in ctx.index.images() if p.is_relative_to(target))
        elif target.suffix.lower() == ".txt":
            images.extend(_image_list(ctx, target))
        else:
            ctx.skip(yaml_path, f"split entry {text!r}: not a folder or a .txt image list")
    return images


def _image_list(ctx: ReadContext, list_file: Path) -> list[Path]:
    try:
        lines = read_annotation(list_file, ctx.limits).decode("utf-8", errors="replace").splitlines()
    except (OSError, ValueError) as exc:
        ctx.skip(list_file, str(exc))
        return []
    images = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                images.append(confined(ctx.root, list_file.parent, line.strip()))
            except UnsafePath as exc:
                ctx.skip(list_file, f"line {number}: {exc}")
    return images


def _split_entries(value: object) -> list[str]:
    """The paths one train/val/test value names, for comparing splits: only its scalar entries count
    (others are skipped as unusable), so no comparison walks a nested structure however it was built."""
    entries = value if isinstance(value, list) else [value]
    return [str(item) for item in entries if isinstance(item, _SCALARS) and item != ""]


def _yaml_splits(ctx: ReadContext, yaml_path: Path) -> tuple[list[tuple[Path, str]], dict[int, str]]:
    import yaml

    try:
        data = safe_load(read_annotation(yaml_path, ctx.limits))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first_line = (str(exc).splitlines() or [""])[0][:160]
        raise DatasetError(f"{yaml_path}: not a readable YOLO dataset file ({first_line})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{yaml_path}: expected a mapping with path/train/val/names")
    names = _names_from_yaml(data.get("names"), yaml_path)
    base = ctx.root
    if data.get("path"):
        written = Path(str(data["path"])).expanduser()
        try:
            base = confined(ctx.root, yaml_path.parent, str(data["path"]))
        except UnsafePath:
            inside = written.is_absolute() and exists(written) and written.resolve().is_relative_to(ctx.root)
            base = written.resolve() if inside else yaml_path.parent  # else: a path on the machine that wrote it
        if not base.is_dir():
            base = yaml_path.parent
    pairs: list[tuple[Path, str]] = []
    train = _split_entries(data.get("train"))
    for key in ("train", "val", "test"):
        if key != "train" and train and _split_entries(data.get(key)) == train:
            continue  # 'val: images/train' when a dataset has no val images: the same images, listed once
        if data.get(key):
            pairs.extend((image, key) for image in _images_of(ctx, yaml_path, base, data[key]))
    if not any(data.get(k) for k in ("train", "val", "test")):
        raise DatasetError(f"{yaml_path}: none of train/val/test is set")
    return pairs, names


def read_yolo(ctx: ReadContext, yaml_path: Path | None) -> tuple[list[ImageRecord], list[str]]:
    """Images with their boxes, and the declared class names (yaml ``names`` or classes.txt)."""
    if yaml_path is not None:
        pairs, names = _yaml_splits(ctx, yaml_path)
    else:
        names = _classes_txt(ctx)
        pairs = [(p, split_from_words(list(Path(ctx.rel(p)).parent.parts)))
                 for p in ctx.index.images() if _label_path(ctx.root, p) is not None]
    if ctx.resolver.target is not None and not names:
        names = dict(enumerate(ctx.resolver.target))  # bare ids: the caller's list says what they mean
    used_labels: set[Path] = set()
    images: list[ImageRecord] = []
    for image, split in pairs:
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            ctx.skip(image, "not an image file")
            continue
        label = _label_path(ctx.root, image) or image.with_suffix(".txt")
        info = ctx.image_info(image, label)
        if info is None:
            continue
        used_labels.add(label)
        raw = _read_labels(ctx, label, names, (info.width, info.height)) if is_file(label) else []
        if raw is not None:
            images.append(ctx.record(image, info, ctx.boxes(label, "", raw, info.width, info.height, "line"), split))
    for label in ctx.index.with_suffix(".txt"):
        if "labels" in Path(ctx.rel(label)).parts[:-1] and label not in used_labels and label.name != "classes.txt":
            ctx.skip(label, "label file without an image")
    declared = [names[i] for i in sorted(names)] if names else sorted(
        {b.class_name for r in images for b in r.boxes}, key=lambda n: (len(n), n))
    return images, declared
