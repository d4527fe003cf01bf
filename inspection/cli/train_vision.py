"""Train the Stage I defect detector (YOLO11 from yaml) on one or more YOLO, COCO or VOC datasets, then
write the weights, an ONNX export, the metadata sidecar and the model card beside ``--out``.

Datasets are given one after another; ``--map``, ``--weight`` and ``--format`` apply to the ``--dataset``
just before them::

    inspection train vision \\
        --dataset ../shared/data/aircraft-skin --map paint-off=paint_loss,missing-head=missing_fastener \\
        --dataset runs/vision/sim-train-s2000 --weight 2
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any


class _DatasetAction(argparse.Action):
    """``--dataset PATH`` starts a new source; the per-source options after it fill in that source."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sources = list(getattr(namespace, "datasets", None) or [])
        if self.dest == "datasets":
            sources.append({"path": Path(values)})
        elif not sources:
            parser.error(f"{option_string} {values}: give it after the --dataset it applies to")
        elif self.dest in sources[-1]:
            parser.error(f"{option_string}: given twice for --dataset {sources[-1]['path']}")
        else:
            sources[-1][self.dest] = values
        namespace.datasets = sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", dest="datasets", required=True, action=_DatasetAction, metavar="PATH",
                        help="dataset folder or data.yaml (YOLO, COCO or VOC); repeat to mix datasets")
    parser.add_argument("--map", dest="class_map", action=_DatasetAction, metavar="OLD=NEW,...",
                        help="rename the previous --dataset's classes, e.g. paint-off=paint_loss")
    parser.add_argument("--weight", dest="weight", action=_DatasetAction, metavar="W",
                        help="times each training image of the previous --dataset is seen per epoch (default 1; "
                             "below 1 keeps that share of its images)")
    parser.add_argument("--format", dest="format", action=_DatasetAction, choices=("yolo", "coco", "voc"),
                        help="format of the previous --dataset (default: detected)")
    parser.add_argument("--arch", help="network: yolo11n, yolo11s, yolo11m, yolo11n-p2, yolo11s-p2 (P2: an extra "
                                       "stride-4 head for small defects); default: that of --weights, else yolo11n")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    parser.add_argument("--time", type=float, default=None, metavar="HOURS",
                        help="train for this long instead (Ultralytics' time: after the first epoch the epoch count "
                             "and learning-rate schedule are fitted to it; --epochs only sets close_mosaic)")
    parser.add_argument("--imgsz", type=int, default=320, help="square network input, a multiple of 32 (320 or 640)")
    parser.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as '0'")
    parser.add_argument("--seed", type=int, default=0, help="random seed (data order, augmentation, init)")
    parser.add_argument("--batch", type=int, default=16, help="images per batch")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="use this share of every dataset's train and val images (quick checks; default 1)")
    parser.add_argument("--cache", action="store_true", help="keep decoded images in RAM (faster epochs)")
    parser.add_argument("--runs", type=Path, default=Path("runs/vision"), help="folder for run folders")
    parser.add_argument("--name", default="", help="run folder name (default: train-<UTC time>)")
    parser.add_argument("--weights", type=Path,
                        help="start from this .pt; its classes must be among the new ones (rows are carried by name)")
    parser.add_argument("--out", type=Path, default=Path("models/defect_detector.pt"),
                        help="where the weights go; .onnx, .json and .md are written beside it")


def _sources(raw: list[dict[str, Any]]) -> tuple[Any, ...]:
    from inspection.class_map import parse_class_map
    from inspection.errors import InputError
    from inspection.vision.training import DatasetSource

    sources = []
    for entry in raw:
        try:
            weight = float(entry.get("weight", 1.0))
        except ValueError:
            raise InputError(f"--weight {entry['weight']!r} (dataset {entry['path']}): expected a number") from None
        sources.append(DatasetSource(path=entry["path"], class_map=parse_class_map(entry.get("class_map", "")),
                                     weight=weight, format=entry.get("format")))
    return tuple(sources)


def _command_line(args: argparse.Namespace) -> str:
    """The command, every setting spelled out, that repeats this run (written to the model card)."""
    words = ["inspection", "train", "vision"]
    for entry in args.datasets:
        words += ["--dataset", str(entry["path"])]
        words += [w for key, option in (("class_map", "--map"), ("weight", "--weight"), ("format", "--format"))
                  if key in entry for w in (option, str(entry[key]))]
    for option, value in (("--arch", args.arch), ("--weights", args.weights)):
        if value is not None:
            words += [option, str(value)]
    words += ["--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--batch", str(args.batch),
              "--seed", str(args.seed), "--device", str(args.device)]
    if args.time is not None:
        words += ["--time", f"{args.time:g}"]
    if args.fraction != 1.0:
        words += ["--fraction", f"{args.fraction:g}"]
    if args.cache:
        words += ["--cache"]
    return shlex.join(words + ["--out", str(args.out)])


def run(args: argparse.Namespace) -> int:
    from inspection.errors import InputError
    from inspection.outputs import check_output_file, check_output_folder
    from inspection.vision.training import TrainOptions, train_detector

    check_output_file(args.out, "--out")
    check_output_folder(args.runs, "--runs")
    if args.epochs < 1:
        raise InputError(f"--epochs {args.epochs}: must be at least 1")
    if args.time is not None and not 0 < args.time <= 1000:
        raise InputError(f"--time {args.time}: expected hours, more than 0")
    if args.weights is not None and (args.weights.suffix != ".pt" or not args.weights.is_file()):
        raise InputError(f"--weights {args.weights}: expected an existing Ultralytics .pt file")
    if args.batch < 1 or args.workers < 0:
        raise InputError("--batch must be at least 1 and --workers at least 0")
    options = TrainOptions(datasets=_sources(args.datasets), out=args.out, epochs=args.epochs, imgsz=args.imgsz,
                           device=args.device, seed=args.seed, batch=args.batch, workers=args.workers,
                           runs_dir=args.runs, name=args.name, cache=args.cache, weights=args.weights,
                           arch=args.arch, fraction=args.fraction, time_hours=args.time,
                           command=_command_line(args))
    train_detector(options, log=lambda line: print(line, flush=True))
    return 0
