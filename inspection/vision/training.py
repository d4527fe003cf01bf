"""Train the Stage I detector (YOLO11 from its yaml: no pretrained weights are fetched) and ship it:
best weights, an ONNX export, the metadata sidecar and a model card, so that anyone can see what data,
seed, epochs, device and image size the shipped numbers come from, and reproduce them.

Several datasets can be mixed (real photographs beside simulated tiles). Each is read with
``inspection.datasets`` (YOLO, COCO or VOC; bad items are named and left out) with its own class map,
and re-written as its own YOLO tree inside the run folder (hard links); one data.yaml lists every
source's train and val folders. The class order is the project's ``DEFECT_CLASSES`` when every
source uses only those names, else the names in the order the sources first give them.

A source's ``weight`` is how many times, on average, each of its training images is seen per epoch
(extra copies are hard links; a weight below 1 keeps that share of its images). Without it the larger
source decides what the network is good at: 3,135 real photographs would drown 1,000 simulated
tiles. Each source keeps its own val split, and the model is validated on each separately at the end,
so the card shows how it does on photographs and on the cell's frames, not one blended figure.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from inspection.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from inspection.datasets import (
    Dataset, ImageRecord, assign_splits, dataset_stats, load_dataset, reproducible_order, write_yolo,
)
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES
from inspection.vision.checkpoint import check_checkpoint
from inspection.vision.detector import METADATA_VERSION, metadata_path
from inspection.vision.model_card import render_model_card

DEFAULT_ARCHITECTURE = "yolo11n"
MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"
# Network definitions --arch accepts: Ultralytics' own yaml, or ours for YOLO11 with a stride-4 (P2) head,
# which sees defects a few pixels across that the stride-8 head of plain YOLO11 averages away.
ARCHITECTURES: dict[str, str] = {
    "yolo11n": "yolo11n.yaml",
    "yolo11s": "yolo11s.yaml",
    "yolo11m": "yolo11m.yaml",
    "yolo11n-p2": str(MODEL_CONFIGS / "yolo11n-p2.yaml"),  # Ultralytics reads the scale from the name
    "yolo11s-p2": str(MODEL_CONFIGS / "yolo11s-p2.yaml"),
}
VAL_FRACTION = 0.15  # held out when a dataset has no val split of its own
# Ultralytics' augmentations beyond its defaults (mosaic, HSV, scale 0.5, translate, left-right flip):
# a defect on a skin panel has no "up", so upside-down copies are as real as mirrored ones.
AUGMENTATION: dict[str, float] = {"flipud": 0.5}


def mosaic_free_epochs(epochs: int) -> int:
    """Final epochs trained without mosaic (Ultralytics' close_mosaic, 10 of its usual 100+): a quarter of a
    short run, so that a 8-epoch fine-tune still sees mosaics first and whole images at the end."""
    return max(1, min(10, epochs // 4))


@dataclass(frozen=True)
class DatasetSource:
    """One dataset given to ``inspection train vision``: where, which format, how its classes are renamed
    (``{"paint-off": "paint_loss"}``) and how much each of its training images counts (see the module)."""

    path: Path
    class_map: dict[str, str] = field(default_factory=dict)
    weight: float = 1.0
    format: str | None = None  # None: detected


@dataclass(frozen=True)
class TrainOptions:
    datasets: tuple[DatasetSource, ...]
    out: Path
    epochs: int = 25
    imgsz: int = 320
    device: str = "cpu"
    seed: int = 0
    batch: int = 16
    workers: int = 2
    runs_dir: Path = Path("runs/vision")
    name: str = ""
    cache: bool = False
    weights: Path | None = None  # start from these (.pt) instead of from random weights
    arch: str | None = None  # None: the architecture of --weights (its sidecar), else DEFAULT_ARCHITECTURE
    time_hours: float | None = None  # a time budget instead of a fixed epoch count (Ultralytics' time)
    fraction: float = 1.0  # share of every source's train and val images used (quick plumbing checks)
    command: str = ""  # the command line that asked for this run, written to the card to reproduce it


@dataclass
class PreparedSource:
    """A source after reading: its dataset (class list already the combined one) and its own figures."""

    source: DatasetSource
    label: str
    dataset: Dataset
    stats: dict[str, Any]
    train_images: int  # after weighting: images per epoch from this source


def _keep_share(images: list[ImageRecord], root: Path, share: float, seed: int) -> list[ImageRecord]:
    if share >= 1.0:
        return images
    kept = {id(image) for image in reproducible_order(images, root, seed)[:max(1, round(len(images) * share))]}
    return [image for image in images if id(image) in kept]


def _weighted(images: list[ImageRecord], root: Path, weight: float, seed: int) -> list[ImageRecord]:
    """floor(weight) copies of every image plus one more of a fixed (fractional part) share of them."""
    whole, part = int(math.floor(weight)), weight - math.floor(weight)
    extra = _keep_share(images, root, part, seed) if part > 1e-9 else []
    return [image for image in images for _ in range(whole)] + extra


def _combined_classes(datasets: list[Dataset]) -> list[str]:
    names: list[str] = []
    for dataset in datasets:
        names += [name for name in dataset.class_names if name not in names]
    if set(names) <= set(DEFECT_CLASSES):
        return list(DEFECT_CLASSES)  # the shipped class order, even if a class has no example
    return names


def _unique_label(path: Path, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in (path.stem if path.is_file() else path.name))
    label, count = base or "data", 1
    while label in taken:
        count += 1
        label = f"{base}{count}"
    taken.add(label)
    return label


def read_training_datasets(options: TrainOptions, log: Callable[[str], None] = print) -> list[PreparedSource]:
    """Read and check every source (before any run folder exists, so a bad one leaves nothing behind)."""
    if not options.datasets:
        raise InputError("--dataset: give at least one dataset")
    if not 0.0 < options.fraction <= 1.0:
        raise InputError(f"--fraction {options.fraction}: expected 0 < fraction <= 1")
    loaded: list[tuple[DatasetSource, Dataset]] = []
    for source in options.datasets:
        if not source.weight > 0 or not math.isfinite(source.weight):
            raise InputError(f"--weight {source.weight} (dataset {source.path}): expected a positive number")
        dataset = load_dataset(source.path, format=source.format, class_map=source.class_map or None)
        where = f"--dataset {source.path}"
        if not dataset.images:
            raise InputError(f"{where}: no usable images ({len(dataset.skipped)} skipped)")
        splits = {image.split for image in dataset.images}
        if "test" in splits:
            log(f"{where}: {sum(i.split == 'test' for i in dataset.images)} test images left out "
                "(never trained or tuned on)")
            dataset.images = [image for image in dataset.images if image.split != "test"]
        if "val" not in splits:
            dataset = assign_splits(dataset, VAL_FRACTION, seed=options.seed)
        if not any(image.split == "train" for image in dataset.images):
            raise InputError(f"{where}: no training images (splits found: {sorted(splits)})")
        if not any(image.boxes for image in dataset.images):
            raise InputError(f"{where}: no labelled boxes; nothing to learn from")
        loaded.append((source, dataset))
    names = _combined_classes([dataset for _, dataset in loaded])
    prepared, labels = [], set()
    for source, dataset in loaded:
        dataset.class_names = names
        train = [i for i in dataset.images if i.split == "train"]
        val = [i for i in dataset.images if i.split == "val"]
        train = _keep_share(train, dataset.root, options.fraction, options.seed)
        val = _keep_share(val, dataset.root, options.fraction, options.seed)
        stats = dataset_stats(Dataset(dataset.root, dataset.format, names, train + val, dataset.skipped))
        weighted = _weighted(train, dataset.root, source.weight, options.seed)
        dataset = Dataset(dataset.root, dataset.format, names, weighted + val, dataset.skipped)
        prepared.append(PreparedSource(source, _unique_label(source.path, labels), dataset, stats, len(weighted)))
    return prepared


def dataset_credit(root: Path) -> str | None:
    """The dataset's own statement of source and licence: the paragraph of its README that starts with
    'Source:' (the model card must credit a CC BY dataset the model learned from)."""
    for name in ("README.md", "README.txt", "README"):
        try:
            text = (root / name).read_text(encoding="utf-8")
        except OSError:
            continue
        for paragraph in text.split("\n\n"):
            if paragraph.lstrip().lower().startswith("source:"):
                return " ".join(paragraph.split())
    return None


def dataset_generator(root: Path) -> str | None:
    """The command that made a simulated dataset (its dataset.json says), so the card can name it."""
    try:
        info = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("generator") != "inspection sim dataset":
        return None
    per_split = info.get("images_per_split", info.get("images"))
    images = sum(per_split.values()) if isinstance(per_split, dict) else per_split
    return (f"inspection sim dataset --images {images} --seed {info.get('seed')} --tile {info.get('tile')} "
            f"--format {info.get('format')}")


def _weights_metadata(weights: Path) -> dict[str, Any]:
    sidecar = metadata_path(weights)
    try:
        return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    except (OSError, ValueError):
        return {}


def _initial_weights(weights: Path | None) -> dict[str, Any] | None:
    """Where a fine-tuned model started: the file, its hash and, from its sidecar, how it was trained
    (one level: that model's own starting point is named by path and hash only)."""
    if weights is None:
        return None
    earlier = _weights_metadata(weights).get("training")
    if isinstance(earlier, dict) and isinstance(earlier.get("initial_weights"), dict):
        before = earlier["initial_weights"]
        earlier = {**earlier, "initial_weights": {k: before.get(k) for k in ("path", "sha256")}}
    return {"path": str(weights), "sha256": sha256(weights), "training": earlier}


def next_run_dir(runs_dir: Path, name: str) -> Path:
    """``runs/vision/<name>``, or ``<name>2``, ``<name>3``... so earlier runs are never overwritten."""
    base = name or datetime.now(timezone.utc).strftime("train-%Y%m%d-%H%M%S")
    candidate, count = runs_dir / base, 1
    while candidate.exists():
        count += 1
        candidate = runs_dir / f"{base}{count}"
    candidate.mkdir(parents=True)
    return candidate


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _val_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    keys = {"metrics/precision(B)": "precision", "metrics/recall(B)": "recall",
            "metrics/mAP50(B)": "map50", "metrics/mAP50-95(B)": "map50_95"}
    return {ours: round(float(metrics[theirs]), 4) for theirs, ours in keys.items() if theirs in metrics}


def choose_architecture(options: TrainOptions) -> str:
    """--arch, else the architecture --weights was trained as (its sidecar), else the default."""
    arch = options.arch
    if arch is None and options.weights is not None:
        arch = _weights_metadata(options.weights).get("architecture")
    arch = arch or DEFAULT_ARCHITECTURE
    if arch not in ARCHITECTURES:
        raise InputError(f"--arch {arch}: expected one of {', '.join(ARCHITECTURES)}")
    return arch


def _weights_classes(weights: Path, class_names: list[str]) -> list[str]:
    """The class names stored in ``weights``; refused unless the new class list extends them (a model may
    learn new classes, but a class it knows must keep its meaning)."""
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(str(weights))
    names = [model.names[i] for i in sorted(model.names)]
    if not set(names) <= set(class_names):
        raise InputError(f"--weights {weights}: classes {names} are not all among the dataset's {class_names}; "
                         "start from weights whose classes the new class list includes")
    return names


def _carry_class_rows(trainer: Any, weights: Path, old_names: list[str]) -> int:
    """Copy each known class's row of the classification layers from ``weights`` into the new model (and its
    EMA), by class name: Ultralytics transfers only tensors of equal shape, so a model whose class list
    grew would otherwise relearn every class from a fresh head. Returns how many layers were carried."""
    import torch
    from ultralytics.nn.tasks import load_checkpoint

    old_model, _ = load_checkpoint(str(weights))
    old_head = old_model.model[-1]
    new_names = [trainer.data["names"][i] for i in sorted(trainer.data["names"])]
    pairs = [(old_names.index(name), new_names.index(name)) for name in old_names]
    carried = 0
    targets = [trainer.model] + ([trainer.ema.ema] if getattr(trainer, "ema", None) else [])
    for target in targets:
        new_head = target.model[-1]
        old_by_stride = {float(stride): branch for stride, branch in zip(old_head.stride, old_head.cv3)}
        for stride, new_branch in zip(new_head.stride, new_head.cv3):
            old_branch = old_by_stride.get(float(stride))  # a P2 head has a stride-4 branch the old one lacks
            if old_branch is None or old_branch[-1].weight.shape[1:] != new_branch[-1].weight.shape[1:]:
                continue  # no branch at this stride, or a different width: nothing to carry
            old_conv, new_conv = old_branch[-1], new_branch[-1]
            with torch.no_grad():
                for old_row, new_row in pairs:
                    new_conv.weight[new_row] = old_conv.weight[old_row].to(new_conv.weight)
                    new_conv.bias[new_row] = old_conv.bias[old_row].to(new_conv.bias)
            carried += 1
    return carried


def _write_data_yaml(sources: list[PreparedSource], data_dir: Path) -> Path:
    """One YOLO tree per source under ``data_dir/<label>``, and a data.yaml listing all their splits."""
    import yaml

    for prepared in sources:
        write_yolo(prepared.dataset, data_dir / prepared.label)
    names = sources[0].dataset.class_names
    data = {"train": [f"{p.label}/images/train" for p in sources],
            "val": [f"{p.label}/images/val" if (data_dir / p.label / "images" / "val").is_dir()
                    else f"{p.label}/images/train" for p in sources],
            "names": dict(enumerate(names))}
    target = data_dir / "data.yaml"
    write_text_atomic(target, "# Written by `inspection train vision`: every source's train and val folders\n"
                      + yaml.safe_dump(data, sort_keys=False))
    return target


def _progress_callbacks(model: Any, log: Callable[[str], None], started: float) -> None:
    """Within an epoch a batch bar (stderr); after it one line with losses, val metrics and time left."""
    bar: dict[str, Any] = {}

    def report_epoch(trainer: Any) -> None:
        done = trainer.epoch + 1
        if done > trainer.epochs:
            return  # the final validation of best.pt calls this hook once more
        elapsed = time.monotonic() - started
        eta = elapsed / done * (trainer.epochs - done)
        fitted = _val_metrics(trainer.metrics or {})
        loss = sum(float(v) for v in trainer.tloss.values()) if trainer.tloss else float("nan")
        log(f"epoch {done}/{trainer.epochs}  loss {loss:.3f}  val P {fitted.get('precision', 0):.3f} "
            f"R {fitted.get('recall', 0):.3f} mAP50 {fitted.get('map50', 0):.3f}  "
            f"{elapsed / 60:.1f} min, about {eta / 60:.1f} min left")

    def start_bar(trainer: Any) -> None:
        from inspection.progress import progress_bar

        bar["tqdm"] = progress_bar(total=len(trainer.train_loader), unit="batch", leave=False,
                                   desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}")

    def step_bar(_trainer: Any) -> None:
        if "tqdm" in bar:
            bar["tqdm"].update(1)

    def close_bar(_trainer: Any) -> None:
        if "tqdm" in bar:
            bar.pop("tqdm").close()

    model.add_callback("on_train_epoch_start", start_bar)
    model.add_callback("on_train_batch_end", step_bar)
    model.add_callback("on_train_epoch_end", close_bar)
    model.add_callback("on_fit_epoch_end", report_epoch)


def _validate_per_source(best: Path, sources: list[PreparedSource], data_dir: Path, options: TrainOptions,
                         run_dir: Path) -> dict[str, dict[str, float]]:
    """Ultralytics' validation of the best weights on each source's val split alone (whole images)."""
    from ultralytics import YOLO

    figures = {}
    for prepared in sources:
        if not any(image.split == "val" for image in prepared.dataset.images):
            continue
        result = YOLO(str(best), task="detect").val(
            data=str(data_dir / prepared.label / "data.yaml"), split="val", imgsz=options.imgsz,
            batch=options.batch, device=options.device, workers=options.workers, plots=False, verbose=False,
            project=str(run_dir.absolute()), name=f"val-{prepared.label}", exist_ok=True)
        figures[prepared.label] = _val_metrics(result.results_dict)
    return figures


def _source_record(prepared: PreparedSource, val_metrics: dict[str, float] | None) -> dict[str, Any]:
    source = prepared.source
    return {
        "label": prepared.label, "path": str(source.path), "class_map": dict(source.class_map),
        "weight": source.weight, "train_images_per_epoch": prepared.train_images,
        "stats": {k: prepared.stats[k] for k in ("images", "boxes", "classes", "splits")},
        "skipped": len(prepared.stats["skipped"]),
        "generator": dataset_generator(prepared.dataset.root), "credit": dataset_credit(prepared.dataset.root),
        "val_metrics": val_metrics,
    }


def train_detector(options: TrainOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, copy best weights to ``options.out``, export ONNX beside it, write sidecar and card.

    Returns the metadata written to the sidecar.
    """
    if options.out.suffix != ".pt":
        raise InputError(f"--out {options.out}: expected a .pt path (the .onnx, .json and .md go beside it)")
    if options.imgsz % 32 or options.imgsz < 64:
        raise InputError(f"--imgsz {options.imgsz}: expected a multiple of 32, at least 64")
    from inspection import runtime

    runtime.configure_environment()
    import torch
    import ultralytics
    from ultralytics import YOLO

    arch = choose_architecture(options)
    sources = read_training_datasets(options, log)
    class_names = sources[0].dataset.class_names
    old_names = None
    initial_weights = _initial_weights(options.weights)  # before training: --out may be the same file
    if options.weights:
        check_checkpoint(options.weights)  # Ultralytics unpickles with weights_only=False
        old_names = _weights_classes(options.weights, class_names)
    model = YOLO(ARCHITECTURES[arch], task="detect")
    run_dir = next_run_dir(options.runs_dir, options.name)
    # YOLO copies (hard links) inside the run: fix the class order and keep the run reproducible.
    data_dir = run_dir / "data"
    data_yaml = _write_data_yaml(sources, data_dir)
    for prepared in sources:
        stats = prepared.stats
        log(f"{prepared.label}: {stats['images']} images, {stats['boxes']} boxes, splits {stats['splits']}, "
            f"{len(stats['skipped'])} skipped; weight {prepared.source.weight:g}: "
            f"{prepared.train_images} training images per epoch")
    log(f"run folder {run_dir}; {arch}, classes {class_names}")
    started = time.monotonic()
    _progress_callbacks(model, log, started)
    if options.weights and old_names is not None:
        weights, known = options.weights, old_names

        def carry_rows(trainer: Any) -> None:
            carried = _carry_class_rows(trainer, weights, known)
            log(f"started from {weights}: layers of equal shape transferred, class rows of {known} carried "
                f"into {carried} classification layers")

        model.add_callback("on_pretrain_routine_end", carry_rows)
    model.train(data=str(data_yaml), epochs=options.epochs, imgsz=options.imgsz, device=options.device,
                seed=options.seed, deterministic=True, batch=options.batch, workers=options.workers,
                amp=False, pretrained=str(options.weights) if options.weights else False,
                project=str(run_dir.absolute()), name="train", exist_ok=True,
                cache="ram" if options.cache else False, plots=True, verbose=False,
                close_mosaic=mosaic_free_epochs(options.epochs), time=options.time_hours, **AUGMENTATION)
    trainer = model.trainer
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    metrics = _val_metrics(trainer.metrics or {})
    duration = time.monotonic() - started
    log(f"trained in {duration / 60:.1f} min; best weights {best}; val (all sources) {metrics}")
    per_source = _validate_per_source(best, sources, data_dir, options, run_dir)
    for label, figures in per_source.items():
        log(f"val {label}: {figures}")

    onnx_run = Path(YOLO(str(best), task="detect").export(format="onnx", imgsz=options.imgsz, dynamic=True,
                                                            simplify=False, device="cpu"))
    out = options.out
    write_bytes_atomic(out, best.read_bytes())
    write_bytes_atomic(out.with_suffix(".onnx"), onnx_run.read_bytes())
    combined = dataset_stats(Dataset(data_dir, "yolo", class_names,
                                     [i for p in sources for i in p.dataset.images], []))
    metadata = {
        "metadata_version": METADATA_VERSION,
        "task": "detect",
        "architecture": arch,
        "class_names": [trainer.data["names"][i] for i in sorted(trainer.data["names"])],
        "imgsz": options.imgsz,
        "input": {"color": "RGB", "scale": "1/255", "letterbox_pad": 114, "layout": "NCHW"},
        "recommended": {"tile_size": options.imgsz, "tile_overlap": 0.2, "confidence": 0.25},
        "training": {
            "dataset": " + ".join(str(p.source.path) for p in sources),
            "dataset_stats": {k: combined[k] for k in ("images", "boxes", "classes", "splits")},
            "sources": [_source_record(p, per_source.get(p.label)) for p in sources],
            "initial_weights": initial_weights,
            "skipped": sum(len(p.stats["skipped"]) for p in sources), "epochs": trainer.epochs,
            "epochs_completed": trainer.epoch + 1, "time_budget_h": options.time_hours,
            "seed": options.seed, "batch": options.batch, "fraction": options.fraction,
            "augmentation": {**AUGMENTATION, "close_mosaic": mosaic_free_epochs(options.epochs)},
            "device": options.device, "duration_s": round(duration, 1),
            "run_dir": str(run_dir), "host": f"{platform.node()} ({platform.processor() or platform.machine()})",
            "ultralytics": ultralytics.__version__, "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() and options.device != "cpu" else None,
            "command": options.command,
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
        "val_metrics": metrics,
        "files": {p.name: sha256(p) for p in (out, out.with_suffix(".onnx"))},
    }
    write_json_atomic(metadata_path(out), metadata)
    write_text_atomic(out.with_suffix(".md"), render_model_card(metadata))
    shutil.copyfile(metadata_path(out), run_dir / "metadata.json")
    log(f"wrote {out}, {out.with_suffix('.onnx')}, {metadata_path(out)}, {out.with_suffix('.md')}")
    return metadata
