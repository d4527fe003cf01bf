"""Write a detection dataset (YOLO or COCO) of rendered, domain-randomised parts with exact boxes.

Each render is a new random part with 3-12 defects under random lights, exposure and view; boxes are
written only for defects that change the image above the sensor noise. `--tile 640` cuts native-
resolution crops around the defects (plus background crops). Same seed, same bytes, any --workers.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--images", type=int, required=True, help="number of images (tiles with --tile) to write")
    parser.add_argument("--format", choices=("yolo", "coco"), default="yolo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=0, help="crop size in pixels (0: whole frames)")
    parser.add_argument("--width", type=int, default=1920, help="render width (intrinsics are scaled)")
    parser.add_argument("--height", type=int, default=1080, help="render height")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="fraction of renders (parts) held out")
    parser.add_argument("--workers", type=int, default=1, help="render processes (results do not depend on it)")
    parser.add_argument("--image-format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--cell", type=Path, default=None, help="cell.yaml (default: the package's)")
    parser.add_argument("--part", type=Path, default=None,
                        help="render this STL/OBJ/PLY (part frame: origin at the top centre, +z out) instead of "
                             "random parametric parts")
    parser.add_argument("--units", choices=("m", "mm"), default="m", help="units of --part")


def run(args: argparse.Namespace) -> int:
    from inspection.outputs import check_output_folder
    from inspection.sim.dataset import DatasetOptions, write_dataset

    check_output_folder(args.out, "--out", must_be_empty=True)

    options = DatasetOptions(out=args.out, images=args.images, format=args.format, seed=args.seed, tile=args.tile,
                             width=args.width, height=args.height, val_fraction=args.val_fraction,
                             workers=args.workers, image_format=args.image_format, cell=args.cell,
                             part=args.part, units=args.units)
    summary = write_dataset(options)
    print(json.dumps(summary, indent=2))
    return 0
