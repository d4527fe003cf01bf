"""Convert a YOLO, COCO or Pascal VOC dataset to YOLO (Ultralytics layout) or COCO. Bad items are
left out and listed, exactly as `inspection data stats` reports them; images are hard-linked."""
from __future__ import annotations

import argparse

from inspection.cli.data_stats import add_dataset_arguments, load_from_args, print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--to", required=True, choices=("yolo", "coco"), help="output format")
    parser.add_argument("--out", required=True, metavar="DIR", help="new folder (must not exist or be empty)")
    parser.add_argument("--val-fraction", type=float, metavar="F",
                        help="re-split: this fraction of images to val, the rest to train (same on every run); "
                             "without it the dataset's own splits are kept and unsplit images go to train")
    parser.add_argument("--seed", type=int, default=0, help="changes which images --val-fraction picks")
    parser.add_argument("--copy", action="store_true",
                        help="copy images instead of hard-linking them (a hard link shares edits with the source)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from inspection.datasets import assign_splits, dataset_stats, write_coco, write_yolo
    from inspection.outputs import check_output_folder

    check_output_folder(args.out, "--out", must_be_empty=True)
    dataset = load_from_args(args)
    if args.val_fraction is not None:
        dataset = assign_splits(dataset, args.val_fraction, args.seed)
    print_summary(dataset_stats(dataset))
    (write_yolo if args.to == "yolo" else write_coco)(dataset, Path(args.out), copy_images=args.copy)
    print(f"wrote {args.to.upper()} dataset to {args.out}")
    return 0
