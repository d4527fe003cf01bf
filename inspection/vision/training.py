"""Train the Stage I detector (YOLO11n from its yaml: no pretrained weights are fetched) and ship it:
best weights, an ONNX export, the metadata sidecar and a model card, so that anyone can see what data,
seed, epochs and image size the shipped numbers come from, and reproduce them.

The dataset is read with ``inspection.datasets`` (YOLO, COCO or VOC; bad items are named and left
out) and re-written as a YOLO tree inside the run folder (hard links), which fixes the class order:
the project's ``DEFECT_CLASSES`` when the dataset uses only those, else the dataset's own.
"""
from __future__ import annotations

import hashlib
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from inspection.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from inspection.datasets import Dataset, assign_splits, dataset_stats, load_dataset, write_yolo
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES
from inspection.vision.checkpoint import check_checkpoint
from inspection.vision.detector import METADATA_VERSION, metadata_path
from inspection.vision.model_card import render_model_card

ARCHITECTURE = "yolo11n"
VAL_FRACTION = 0.15  # held out when the dataset has no val split of its own


@dataclass(frozen=True)
class TrainOptions:
    dataset: Path
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
    dataset_format: str | None = None  # None: detected
    weights: Path | None = None  # fine-tune from these (.pt) instead of training from random weights


def _ordered_classes(dataset: Dataset) -> list[str]:
    used = set(dataset.class_names)
    if used <= set(DEFECT_CLASSES):
        return list(DEFECT_CLASSES)  # the shipped class order, even if a class has no example
    return list(dataset.class_names)


def read_training_dataset(options: TrainOptions) -> Dataset:
    """Read and check the dataset (before any run folder exists, so a bad path leaves nothing behind)."""
    dataset = load_dataset(options.dataset, format=options.dataset_format)
    if not dataset.images:
        raise InputError(f"{options.dataset}: no usable images ({len(dataset.skipped)} skipped)")
    dataset.class_names = _ordered_classes(dataset)
    splits = {image.split for image in dataset.images}
    if "val" not in splits:
        dataset = assign_splits(dataset, VAL_FRACTION, seed=options.seed)
    if not any(image.split == "train" or not image.split for image in dataset.images):
        raise InputError(f"{options.dataset}: no training images (splits found: {sorted(splits)})")
    if not any(image.boxes for image in dataset.images):
        raise InputError(f"{options.dataset}: no labelled boxes; nothing to learn from")
    return dataset


def dataset_generator(root: Path) -> str | None:
    """The command that made a simulated dataset (its dataset.json says), so the card can name it."""
    import json

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


def _initial_weights(weights: Path | None) -> dict[str, Any] | None:
    """Where a fine-tuned model started: the file, its hash and, from its sidecar, how it was trained."""
    if weights is None:
        return None
    import json

    sidecar = metadata_path(weights)
    earlier = json.loads(sidecar.read_text(encoding="utf-8")).get("training") if sidecar.is_file() else None
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

    dataset = read_training_dataset(options)
    if options.weights:
        check_checkpoint(options.weights)  # Ultralytics unpickles with weights_only=False
    model = YOLO(str(options.weights) if options.weights else f"{ARCHITECTURE}.yaml", task="detect")
    if options.weights:
        names = [model.names[i] for i in sorted(model.names)]
        if names != dataset.class_names:
            raise InputError(f"--weights {options.weights}: classes {names} differ from the dataset's "
                             f"{dataset.class_names}")
    run_dir = next_run_dir(options.runs_dir, options.name)
    # A YOLO copy (hard links) inside the run: fixes the class order and keeps the run reproducible.
    write_yolo(dataset, run_dir / "data")
    data_yaml, stats = run_dir / "data" / "data.yaml", dataset_stats(dataset)
    log(f"run folder {run_dir}; dataset {stats['images']} images, {stats['boxes']} boxes, "
        f"splits {stats['splits']}, {len(stats['skipped'])} skipped")
    started = time.monotonic()

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

    bar: dict[str, Any] = {}

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

    # Within an epoch a batch bar (stderr); after it one line with losses, val metrics and time left.
    model.add_callback("on_train_epoch_start", start_bar)
    model.add_callback("on_train_batch_end", step_bar)
    model.add_callback("on_train_epoch_end", close_bar)
    model.add_callback("on_fit_epoch_end", report_epoch)
    model.train(data=str(data_yaml), epochs=options.epochs, imgsz=options.imgsz, device=options.device,
                seed=options.seed, deterministic=True, batch=options.batch, workers=options.workers,
                amp=False, pretrained=options.weights is not None, project=str(run_dir.absolute()), name="train",
                exist_ok=True,
                cache="ram" if options.cache else False, plots=True, verbose=False)
    trainer = model.trainer
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    metrics = _val_metrics(trainer.metrics or {})
    duration = time.monotonic() - started
    log(f"trained in {duration / 60:.1f} min; best weights {best}; val {metrics}")

    onnx_run = Path(YOLO(str(best), task="detect").export(format="onnx", imgsz=options.imgsz, dynamic=True,
                                                            simplify=False, device="cpu"))
    out = options.out
    write_bytes_atomic(out, best.read_bytes())
    write_bytes_atomic(out.with_suffix(".onnx"), onnx_run.read_bytes())
    metadata = {
        "metadata_version": METADATA_VERSION,
        "task": "detect",
        "architecture": ARCHITECTURE,
        "class_names": [trainer.data["names"][i] for i in sorted(trainer.data["names"])],
        "imgsz": options.imgsz,
        "input": {"color": "RGB", "scale": "1/255", "letterbox_pad": 114, "layout": "NCHW"},
        "recommended": {"tile_size": options.imgsz, "tile_overlap": 0.2, "confidence": 0.25},
        "training": {
            "dataset": str(options.dataset), "dataset_stats": {k: stats[k] for k in ("images", "boxes", "classes",
                                                                                       "splits")},
            "dataset_generator": dataset_generator(dataset.root),
            "initial_weights": _initial_weights(options.weights),
            "skipped": len(stats["skipped"]), "epochs": options.epochs, "seed": options.seed,
            "batch": options.batch, "device": options.device, "duration_s": round(duration, 1),
            "run_dir": str(run_dir), "host": f"{platform.node()} ({platform.processor() or platform.machine()})",
            "ultralytics": ultralytics.__version__, "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
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
