"""Evaluate Stage II (reconstruction, classifier, measurement) on labelled frames from
`inspection sim tactile`: accuracy, per-class metrics, confusion matrix, depth and width MAE (mm)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="labelled frames (use a seed never used in training)")
    parser.add_argument("--json", required=True, metavar="OUT", help="write the metrics here")
    parser.add_argument("--weights", default="models/tactile_classifier.pt", help="classifier weights")
    parser.add_argument("--calibration", default="models/tactile_calibration.npz", help="colour-to-slope lookup")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))


def run(args: argparse.Namespace) -> int:
    from inspection.atomic import write_json_atomic
    from inspection.tactile.classifier import use_one_torch_thread
    from inspection.tactile.evaluate import evaluate_dataset

    use_one_torch_thread()
    report = evaluate_dataset(args.dataset, args.weights, args.calibration, args.device)
    write_json_atomic(args.json, report)
    print(f"accuracy {report['accuracy']:.3f} on {report['frames']} frames; depth MAE {report['depth_mae_mm']} mm, "
          f"width MAE {report['width_mae_mm']} mm; {report['ms_per_frame_median']} ms/frame -> {args.json}")
    return 0
