"""Train the Stage I defect detector (YOLO11n from yaml) on a YOLO, COCO or VOC dataset, then write
the weights, an ONNX export, the metadata sidecar and the model card beside ``--out``."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, type=Path, help="dataset folder or data.yaml (YOLO, COCO or VOC)")
    parser.add_argument("--format", choices=("yolo", "coco", "voc"), help="dataset format (default: detected)")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    parser.add_argument("--imgsz", type=int, default=320, help="square network input, a multiple of 32 (320 or 640)")
    parser.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as '0'")
    parser.add_argument("--seed", type=int, default=0, help="random seed (data order, augmentation, init)")
    parser.add_argument("--batch", type=int, default=16, help="images per batch")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--cache", action="store_true", help="keep decoded images in RAM (faster epochs)")
    parser.add_argument("--runs", type=Path, default=Path("runs/vision"), help="folder for run folders")
    parser.add_argument("--name", default="", help="run folder name (default: train-<UTC time>)")
    parser.add_argument("--weights", type=Path, help="fine-tune from this .pt (same classes) instead of from scratch")
    parser.add_argument("--out", type=Path, default=Path("models/defect_detector.pt"),
                        help="where the weights go; .onnx, .json and .md are written beside it")


def run(args: argparse.Namespace) -> int:
    from inspection.errors import InputError
    from inspection.outputs import check_output_file, check_output_folder
    from inspection.vision.training import TrainOptions, train_detector

    check_output_file(args.out, "--out")
    check_output_folder(args.runs, "--runs")
    if args.epochs < 1:
        raise InputError(f"--epochs {args.epochs}: must be at least 1")
    if args.weights is not None and (args.weights.suffix != ".pt" or not args.weights.is_file()):
        raise InputError(f"--weights {args.weights}: expected an existing Ultralytics .pt file")
    if args.batch < 1 or args.workers < 0:
        raise InputError("--batch must be at least 1 and --workers at least 0")
    options = TrainOptions(dataset=args.dataset, dataset_format=args.format, out=args.out, epochs=args.epochs, imgsz=args.imgsz,
                           device=args.device, seed=args.seed, batch=args.batch, workers=args.workers,
                           runs_dir=args.runs, name=args.name, cache=args.cache,
                           weights=args.weights)
    train_detector(options, log=lambda line: print(line, flush=True))
    return 0
