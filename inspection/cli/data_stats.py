"""Count images, boxes per class and splits of a YOLO, COCO or Pascal VOC dataset, and list every
item that was skipped with its reason, so a dataset can be checked before anything trusts it."""
from __future__ import annotations

import argparse
import sys

from inspection.errors import InputError

SHOWN_SKIPPED = 10


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `data stats` and `data convert`: where the dataset is and how to read it."""
    parser.add_argument("--dataset", required=True, metavar="PATH",
                        help="dataset folder, or its YOLO data.yaml / COCO json")
    parser.add_argument("--format", choices=("yolo", "coco", "voc"), help="skip auto-detection")
    parser.add_argument("--classes", metavar="A,B,...", help="keep only these classes (others are skipped, named)")
    parser.add_argument("--map", action="append", default=[], metavar="OLD=NEW",
                        help="rename a class, e.g. --map scratches=scratch (repeatable, or comma-separated; OLD= leaves it out)")
    parser.add_argument("--split", help="only this split: train, val or test")
    parser.add_argument("--max-annotation-mb", type=float, metavar="MB",
                        help="refuse annotation files larger than this (default 1024 for json, 16 for xml/txt)")


def load_from_args(args: argparse.Namespace):
    """The dataset the shared options describe."""
    from inspection.class_map import parse_class_map
    from inspection.datasets import load_dataset

    mapping = parse_class_map(",".join(args.map))
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    limit = None
    if args.max_annotation_mb is not None:
        if args.max_annotation_mb <= 0:
            raise InputError(f"--max-annotation-mb {args.max_annotation_mb}: must be positive")
        limit = int(args.max_annotation_mb * 2**20)
    return load_dataset(args.dataset, args.format, classes, args.split, class_map=mapping or None,
                        max_annotation_bytes=limit)


def print_summary(stats: dict) -> None:
    print(f"{stats['root']}: {stats['format'].upper()}, {stats['images']} images, {stats['boxes']} boxes, "
          f"{len(stats['skipped'])} skipped")
    width = max((len(name) for name in stats["classes"]), default=0)
    for name, count in stats["classes"].items():
        print(f"  {name:{width}s} {count:6d}")
    print("  splits: " + ", ".join(f"{split} {count}" for split, count in stats["splits"].items()))
    for item in stats["skipped"][:SHOWN_SKIPPED]:
        print(f"  skipped {item['file']}: {item['reason']}")
    if len(stats["skipped"]) > SHOWN_SKIPPED:
        print(f"  ... and {len(stats['skipped']) - SHOWN_SKIPPED} more skipped items (all are in the JSON)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--json", metavar="OUT", help="write the statistics and the full skipped list as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any item was skipped")


def run(args: argparse.Namespace) -> int:
    from inspection.atomic import write_json_atomic
    from inspection.datasets import dataset_stats
    from inspection.outputs import check_output_file

    if args.json:
        check_output_file(args.json, "--json")
    stats = dataset_stats(load_from_args(args))
    print_summary(stats)
    if args.json:
        write_json_atomic(args.json, stats)
        print(f"wrote {args.json}")
    if args.strict and stats["skipped"]:
        print(f"--strict: {len(stats['skipped'])} items skipped", file=sys.stderr)
        return 1
    return 0
