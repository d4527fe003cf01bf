"""Detect defects in one picture with the explained detector (the SAE spliced in, LoRA adapters merged)
and show, per detection, the SAE latents that fired most at its box with their atlas labels; --out
also draws the boxes with those latents' exemplar patches from the atlas sprite."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, metavar="IMG", help="picture to explain (PNG/JPEG)")
    parser.add_argument("--model", default="models/defect_detector.pt", help="the explained detector (.pt)")
    parser.add_argument("--explainer", default="models/defect_explainer.pt", type=Path)
    parser.add_argument("--params", type=Path, help="parameter file (default config/pipeline.yaml)")
    parser.add_argument("--tile-size", type=int, help="override vision_node.tile_size (0 = no slicing)")
    parser.add_argument("--confidence", type=float, help="override vision_node.confidence")
    parser.add_argument("--out", type=Path, help="PNG to draw the detections and their latents' exemplars into")


def run(args: argparse.Namespace) -> int:
    from inspection.config import load_node_params
    from inspection.errors import InputError
    from inspection.explain.explainer import explaining_detector
    from inspection.outputs import check_output_file
    from inspection.vision.detector import DetectorSettings, resolve_model_path
    from inspection.vision.evaluation import read_rgb

    if not args.image.is_file():
        raise InputError(f"{args.image}: image not found")
    if args.out is not None:
        check_output_file(args.out, "--out")
    model = resolve_model_path(args.model)
    if model.suffix != ".pt":
        raise InputError(f"--model {args.model}: the explainer needs the PyTorch weights (.pt)")
    overrides = {k: v for k, v in (("tile_size", args.tile_size), ("confidence", args.confidence)) if v is not None}
    settings = DetectorSettings.from_params(load_node_params("vision_node", args.params, overrides))
    image = read_rgb(args.image)
    detector = explaining_detector(model, args.explainer, settings)
    detections = detector.detect(image, args.image.name)
    print(f"{args.image}: {len(detections)} detections (confidence >= {settings.confidence})")
    for number, detection in enumerate(detections, 1):
        print(f"{number:3d}. {detection.class_name} {detection.confidence:.2f} at "
              f"({detection.x1:.0f}, {detection.y1:.0f})-({detection.x2:.0f}, {detection.y2:.0f})")
        for evidence in detection.explanation:
            print(f"       latent {evidence.latent:4d}  activation {evidence.activation:6.3f}  {evidence.label}")
    if args.out is not None:
        from inspection.atomic import write_bytes_atomic
        from inspection.explain.plots import explanation_png

        write_bytes_atomic(args.out, explanation_png(image, detections, args.explainer))
        print(f"wrote {args.out}")
    return 0
