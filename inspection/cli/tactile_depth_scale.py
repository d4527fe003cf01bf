"""Fit how far the gel lets each defect class be felt: per class, the factor from the depth Stage II measures
to the defect's true depth, over presses of defects of known depth (a folder of `inspection sim tactile`, or
the same layout recorded on a reference block: frames/, labels/<frame>.json with class_name and
defects[0].depth_mm, background.png). Writes --calibration with the factors to --out; Stage II, `inspection
eval tactile`, the campaign and the tactile node then measure with them."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, metavar="DIR",
                        help="defect presses of known depth (never the frames the figures are reported on)")
    parser.add_argument("--calibration", default="models/tactile_calibration.npz",
                        help="colour-to-slope lookup to measure with and to write again with the factors")
    parser.add_argument("--weights", default="models/tactile_classifier.pt",
                        help="classifier weights: the factors are keyed by the class it calls")
    parser.add_argument("--out", default="models/tactile_calibration.npz", help="calibration file to write")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])


def run(args: argparse.Namespace) -> int:
    from inspection.outputs import check_output_file
    from inspection.tactile.calibration import Calibration
    from inspection.tactile.evaluate import depth_scale_from_dataset
    from inspection.tactile.runtime import tune_for_frames

    check_output_file(args.out, "--out")
    calibration = Calibration.load(args.calibration)
    tune_for_frames()
    scale, too_few = depth_scale_from_dataset(args.dataset, args.weights, calibration, args.device)
    calibration.with_depth_scale(scale).save(args.out)
    fitted = ", ".join(f"{c} x{f:.2f} ({scale.presses[c]} presses)" for c, f in sorted(scale.factors.items()))
    kept = f"; left at 1 for want of presses: {', '.join(too_few)}" if too_few else ""
    print(f"depth factors {fitted or 'none'}{kept} -> {args.out}")
    return 0
