"""Detection datasets of rendered parts (YOLO or COCO), domain-randomised, one new part per render.

Render ``i`` draws everything (part, finish, defects, view, lights, exposure, noise) from
``default_rng([seed, i])``, so the output depends only on the seed and the image count, never on
``workers``; renders are consumed in index order until ``images`` images are written. With
``tile`` the full frame is cut into native-resolution crops around the visible defects, which is
how small defects reach the detector at full resolution, plus defect-free crops: the most
structured one (rivet rows, part edges, glints: the look-alikes a detector must learn to leave
alone) and a random one.
Splits are by render (= by part), so no part appears in both train and val.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from inspection.atomic import staged_folder, write_json_atomic, write_text_atomic
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES

MAX_DEFECT_TILES = 4
TILE_MARGIN = 48  # px: a defect whose centre is this far inside a tile is not given its own tile
_BACKGROUND_TRIES = 30
STRUCTURE_CLIP = 40.0  # grey levels per pixel of Sobel magnitude


@dataclass(frozen=True)
class DatasetOptions:
    out: Path
    images: int
    format: str = "yolo"
    seed: int = 0
    tile: int = 0  # 0: whole frames
    width: int = 1920
    height: int = 1080
    val_fraction: float = 0.2
    workers: int = 1
    image_format: str = "jpg"
    cell: Path | None = None
    part: Path | None = None  # a customer's mesh (part frame: origin at the top centre, +z out); None: random parts
    units: str = "m"

    def check(self) -> None:
        if self.images < 1:
            raise InputError(f"--images {self.images}: need at least one image")
        if self.format not in ("yolo", "coco"):
            raise InputError(f"--format {self.format!r}: expected yolo or coco")
        if self.image_format not in ("jpg", "png"):
            raise InputError(f"--image-format {self.image_format!r}: expected jpg or png")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"--val-fraction {self.val_fraction}: expected 0 <= fraction < 1")
        if self.width < 16 or self.height < 16:
            raise InputError(f"--width/--height {self.width}x{self.height}: too small")
        if self.tile and (self.tile < 32 or self.tile > min(self.width, self.height)):
            raise InputError(f"--tile {self.tile}: must be 32..{min(self.width, self.height)} (the frame's short side)")
        if self.workers < 1:
            raise InputError(f"--workers {self.workers}: need at least one")


@dataclass(frozen=True)
class Sample:
    """One output image with its labels (pixel boxes inside it) and localisation metadata."""

    name: str
    split: str
    encoded: bytes
    width: int
    height: int
    boxes: list[tuple[str, tuple[int, int, int, int]]]
    meta: dict[str, Any]


@dataclass(frozen=True)
class RenderResult:
    index: int
    scene_json: dict[str, Any]
    samples: list[Sample]
    defect_views: list[dict[str, Any]]


def is_val(index: int, fraction: float) -> bool:
    """Exactly ``fraction`` of renders, spread evenly: render i is val when floor((i+1)f) > floor(i f)."""
    return int((index + 1) * fraction) > int(index * fraction)


def _tiles(rng: np.random.Generator, labels: list[tuple[str, tuple[int, int, int, int]]], all_boxes: list,
           size: int, width: int, height: int, structure: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Tile origins: one around each not-yet-covered visible defect, then up to two defect-free ones.

    ``structure`` is the summed-area table of an edge-strength map of the frame (``structure_table``);
    the defect-free candidate with the most edge energy becomes a hard negative. Without it, or when
    no candidate is free of defects, only the random one is kept."""
    origins: list[tuple[int, int]] = []
    covered = [False] * len(labels)
    for k, (_, (x1, y1, x2, y2)) in enumerate(labels):
        if covered[k] or len(origins) >= MAX_DEFECT_TILES:
            continue
        lo_x, hi_x = max(0, x2 - size), min(width - size, x1)
        lo_y, hi_y = max(0, y2 - size), min(height - size, y1)
        # A random placement that keeps the box inside; a box bigger than the tile is centred.
        x0 = int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else int(np.clip((x1 + x2 - size) // 2, 0, width - size))
        y0 = int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else int(np.clip((y1 + y2 - size) // 2, 0,
                                                                                 height - size))
        origins.append((x0, y0))
        inner = (x0 + TILE_MARGIN, y0 + TILE_MARGIN, x0 + size - TILE_MARGIN, y0 + size - TILE_MARGIN)
        for j, (_, (a1, b1, a2, b2)) in enumerate(labels):
            # Covered once its centre is well inside a tile: near-duplicate tiles would add little.
            cx, cy = (a1 + a2) / 2, (b1 + b2) / 2
            covered[j] = covered[j] or (inner[0] <= cx <= inner[2] and inner[1] <= cy <= inner[3])
    free = []
    for _ in range(_BACKGROUND_TRIES):
        x0, y0 = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
        if not any(a1 < x0 + size and a2 > x0 and b1 < y0 + size and b2 > y0 for (a1, b1, a2, b2) in all_boxes):
            free.append((x0, y0))
    if not free:
        return origins
    origins.append(free[0])
    if structure is not None and len(free) > 1:
        def energy(origin: tuple[int, int]) -> float:
            x0, y0 = origin
            return float(structure[y0 + size, x0 + size] - structure[y0, x0 + size] - structure[y0 + size, x0]
                         + structure[y0, x0])

        hardest = max(free[1:], key=energy)
        if energy(hardest) > energy(free[0]):
            origins.append(hardest)
    return origins


def structure_table(gray: np.ndarray) -> np.ndarray:
    """Summed-area table (shape (h+1, w+1)) of the clipped gradient magnitude of an 8-bit grey frame.

    Clipping keeps one long high-contrast silhouette edge from outranking a tile of rivet rings."""
    import cv2

    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.integral(np.minimum(cv2.magnitude(gx, gy), STRUCTURE_CLIP), sdepth=cv2.CV_64F)


def _clip(box: tuple[int, int, int, int], x0: int, y0: int, w: int, h: int) -> tuple[int, int, int, int] | None:
    x1, y1 = max(box[0] - x0, 0), max(box[1] - y0, 0)
    x2, y2 = min(box[2] - x0, w), min(box[3] - y0, h)
    return (x1, y1, x2, y2) if x2 - x1 >= 2 and y2 - y1 >= 2 else None


def render_one(index: int, options: DatasetOptions, threads: int = 0) -> RenderResult:
    """Render ``index`` of the dataset and cut it into the images it contributes."""
    import cv2

    from inspection.cell import load_cell
    from inspection.sim.camera import Camera
    from inspection.sim.lighting import Lighting
    from inspection.sim.render import Renderer
    from inspection.sim.scene import random_scene
    from inspection.sim.views import random_view

    cell = load_cell(options.cell)
    rng = np.random.default_rng([options.seed, index])
    scene = random_scene(rng, _mesh_part(options.part, options.units) if options.part else None)
    camera = random_view(rng, scene.part, Camera.from_cell(cell, options.width, options.height))
    lighting = Lighting.random(rng)
    noise_seed = [options.seed, index, 1]
    render = Renderer(scene, threads=threads).render(camera, lighting, np.random.default_rng(noise_seed))
    view_id = "v0"
    defect_views = [d.to_json() for d in render.defects]
    # Everything needed to re-render this exact frame from the scene file alone.
    scene.views[view_id] = {"camera": camera.to_json(), "lighting": lighting.to_json(), "noise_seed": noise_seed,
                            "defects": defect_views}
    split = "val" if is_val(index, options.val_fraction) else "train"
    labels = [(d.class_name, d.box) for d in render.labels]
    ids = [d.defect_id for d in render.labels]
    all_boxes = [d.box for d in render.defects if d.box is not None]
    if options.tile:
        structure = structure_table(cv2.cvtColor(render.image, cv2.COLOR_RGB2GRAY))
        windows = [(x0, y0, options.tile, options.tile)
                   for x0, y0 in _tiles(rng, labels, all_boxes, options.tile, options.width, options.height, structure)]
    else:
        windows = [(0, 0, options.width, options.height)]
    bgr = cv2.cvtColor(render.image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if options.image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    samples = []
    for k, (x0, y0, w, h) in enumerate(windows):
        name = f"{index:06d}_{k}" if options.tile else f"{index:06d}"
        ok, encoded = cv2.imencode(f".{options.image_format}", bgr[y0:y0 + h, x0:x0 + w], params)
        if not ok:
            raise RuntimeError(f"image encoding failed for {name}")
        boxes, records = [], []
        for defect_id, (class_name, box) in zip(ids, labels):
            clipped = _clip(box, x0, y0, w, h)
            if clipped is not None:
                boxes.append((class_name, clipped))
                records.append({"defect_id": defect_id, "class_name": class_name, "box": list(clipped),
                                "box_full_frame": list(box)})
        meta = {"image": f"images/{split}/{name}.{options.image_format}", "scene": f"scenes/{index:06d}.json",
                "view_id": view_id, "tile_offset": [x0, y0], "tile_size": [w, h],
                "frame_size": [options.width, options.height], "camera": camera.to_json(),
                "world_from_part": [[float(v) for v in row] for row in cell.part_to_world()], "boxes": records}
        samples.append(Sample(name, split, encoded.tobytes(), w, h, boxes, meta))
    return RenderResult(index, scene.to_json(), samples, defect_views)


@lru_cache(maxsize=1)
def _mesh_part(path: Path, units: str):
    from inspection.sim.parts import load_mesh_part

    return load_mesh_part(path, units)


def _worker(args: tuple[int, DatasetOptions]) -> RenderResult:
    return render_one(args[0], args[1], threads=1)


def _results(options: DatasetOptions) -> Iterator[RenderResult]:
    """Render results in index order, in this process or in a pool of spawned workers."""
    if options.workers == 1:
        index = 0
        while True:
            yield render_one(index, options)
            index += 1
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # open3d is not fork-safe
    with context.Pool(options.workers) as pool:
        batch = 4 * options.workers
        start = 0
        while True:
            yield from pool.imap(_worker, [(i, options) for i in range(start, start + batch)])
            start += batch


def write_dataset(options: DatasetOptions, progress: bool = True) -> dict[str, Any]:
    """Write the dataset into ``options.out`` (built in a hidden folder, renamed at the end)."""
    from inspection.progress import progress_bar

    options.check()
    if options.part is not None:
        _mesh_part(options.part, options.units)  # a bad mesh fails here, before any rendering
    with staged_folder(options.out) as staging:
        return _write(options, staging, progress_bar(total=options.images, unit="img", enabled=progress))


def _write(options: DatasetOptions, root: Path, bar) -> dict[str, Any]:
    written: list[Sample] = []
    in_view, visible, resolvable = Counter(), Counter(), Counter()
    renders = 0
    results = _results(options)
    try:
        for result in results:
            renders += 1
            write_json_atomic(root / "scenes" / f"{result.index:06d}.json", result.scene_json)
            for view in result.defect_views:
                in_view[view["class_name"]] += view["box"] is not None
                visible[view["class_name"]] += view["camera_visible"]
                resolvable[view["class_name"]] += view["camera_resolvable"]
            for sample in result.samples[: options.images - len(written)]:
                _write_sample(root, sample, options)
                written.append(sample)
                bar.update(1)
            if len(written) >= options.images:
                break
    finally:
        results.close()
        bar.close()
    _write_index(root, written, options)
    counts = Counter(class_name for s in written for class_name, _ in s.boxes)
    summary = {
        "generator": "inspection sim dataset", "seed": options.seed, "format": options.format,
        "tile": options.tile, "frame_size": [options.width, options.height], "renders": renders,
        "images_per_split": {split: sum(s.split == split for s in written) for split in ("train", "val")},
        "boxes_per_class": {c: counts[c] for c in DEFECT_CLASSES},
        "in_view_per_class": {c: in_view[c] for c in DEFECT_CLASSES},
        "camera_visible_per_class": {c: visible[c] for c in DEFECT_CLASSES},
        "camera_resolvable_per_class": {c: resolvable[c] for c in DEFECT_CLASSES},
    }
    write_json_atomic(root / "dataset.json", summary)
    return summary


def _write_sample(root: Path, sample: Sample, options: DatasetOptions) -> None:
    image = root / "images" / sample.split / f"{sample.name}.{options.image_format}"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(sample.encoded)
    write_json_atomic(root / "meta" / sample.split / f"{sample.name}.json", sample.meta)
    if options.format == "yolo":
        lines = []
        for class_name, (x1, y1, x2, y2) in sample.boxes:
            cx, cy = (x1 + x2) / 2 / sample.width, (y1 + y2) / 2 / sample.height
            lines.append(f"{DEFECT_CLASSES.index(class_name)} {cx:.6f} {cy:.6f} "
                         f"{(x2 - x1) / sample.width:.6f} {(y2 - y1) / sample.height:.6f}\n")
        label = root / "labels" / sample.split / f"{sample.name}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(lines), encoding="utf-8")


def _write_index(root: Path, samples: list[Sample], options: DatasetOptions) -> None:
    """data.yaml (YOLO) or annotations/instances_<split>.json (COCO)."""
    splits = [split for split in ("train", "val") if any(s.split == split for s in samples)]
    if options.format == "yolo":
        import yaml

        # No 'path' key: Ultralytics resolves the folders from the yaml's own folder, wherever it is moved.
        data = {"train": f"images/{splits[0]}", "val": "images/val" if "val" in splits else f"images/{splits[0]}",
                "names": dict(enumerate(DEFECT_CLASSES))}
        header = f"# Written by `inspection sim dataset` (seed {options.seed}); classes in DEFECT_CLASSES order.\n"
        write_text_atomic(root / "data.yaml", header + yaml.safe_dump(data, sort_keys=False))
        return
    categories = [{"id": i + 1, "name": name, "supercategory": "defect"} for i, name in enumerate(DEFECT_CLASSES)]
    for split in splits:
        images, annotations = [], []
        for sample in (s for s in samples if s.split == split):
            images.append({"id": len(images) + 1, "file_name": f"images/{split}/{sample.name}.{options.image_format}",
                           "width": sample.width, "height": sample.height})
            for class_name, (x1, y1, x2, y2) in sample.boxes:
                annotations.append({"id": len(annotations) + 1, "image_id": len(images),
                                    "category_id": DEFECT_CLASSES.index(class_name) + 1,
                                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        document = {"info": {"description": f"inspection sim dataset, seed {options.seed}"},
                    "images": images, "annotations": annotations, "categories": categories}
        write_json_atomic(root / "annotations" / f"instances_{split}.json", document)
