"""Evaluate Stage II (reconstruction, classifier, measurement) on labelled frames from
`inspection sim tactile`: accuracy, per-class metrics, confusion matrix, depth and width MAE (mm).

With --reference, evaluate a good-press reference (`inspection tactile reference`) on real frames
instead: --dataset is a folder with good/ and fault/ sub-folders (no depth labels needed); the report
holds auroc, false_reject_rate and detection_rate at the reference's threshold, and per frame its
score, flag and peak_xy (pixel column and row of the strongest anomaly)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="labelled frames (use a seed never used in training); with --reference: good/ and fault/")
    parser.add_argument("--json", required=True, metavar="OUT", help="write the metrics here")
    parser.add_argument("--reference", metavar="REF", help="good-press reference (.npz): evaluate the anomaly gate")
    parser.add_argument("--fit-good", type=int, metavar="K",
                        help="instead of --reference: fit one on K good frames of --dataset (drawn with --seed) and "
                             "test on the rest, as for a part the method was not tuned on")
    parser.add_argument("--seed", type=int, default=0, help="which good frames --fit-good draws (default 0)")
    parser.add_argument("--weights", default="models/tactile_classifier.pt", help="classifier weights")
    parser.add_argument("--calibration", default="models/tactile_calibration.npz", help="colour-to-slope lookup")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))


def run(args: argparse.Namespace) -> int:
    from inspection.atomic import write_json_atomic
    from inspection.errors import InputError
    from inspection.outputs import check_output_file

    check_output_file(args.json, "--json")
    if args.reference and args.fit_good is not None:
        raise InputError("--reference and --fit-good: give one (a fitted reference, or K good frames to fit one on)")
    if args.reference or args.fit_good is not None:
        from inspection.tactile.reference import GoodReference
        from inspection.tactile.reference_eval import evaluate_folder, held_out_reference

        if args.reference:
            reference, name = GoodReference.load(args.reference), args.reference
        else:
            reference = held_out_reference(args.dataset, args.fit_good, args.seed)
            name = f"fitted on {args.fit_good} good frames of {args.dataset} (seed {args.seed})"
        report = evaluate_folder(args.dataset, reference, name)
        write_json_atomic(args.json, report)
        print(f"AUROC {report['auroc']:.3f}; at threshold {report['threshold']}: false rejects "
              f"{report['false_reject_rate']:.3f} of {report['good_frames']} good, detections "
              f"{report['detection_rate']:.3f} of {report['fault_frames']} faulty "
              f"({report['good_frames_in_reference']} good frames fitted the reference, not counted); "
              f"{report['ms_per_frame_median']} ms/frame -> {args.json}")
        return 0
    from inspection.tactile.runtime import tune_for_frames
    from inspection.tactile.evaluate import evaluate_dataset

    tune_for_frames()
    report = evaluate_dataset(args.dataset, args.weights, args.calibration, args.device)
    write_json_atomic(args.json, report)
    deep = report["deep_defects"]
    print(f"accuracy {report['accuracy']:.3f} on {report['frames']} frames; depth MAE {report['depth_mae_mm']} mm "
          f"({deep['depth_mae_mm']} mm on the {deep['frames']} deeper than {deep['deeper_than_mm']} mm), "
          f"width MAE {report['width_mae_mm']} mm; {report['ms_per_frame_median']} ms/frame -> {args.json}")
    verdicts = report["acceptance"]
    print(f"acceptance ({verdicts['zone']} zone of {verdicts['rules']}): of {verdicts['defects']} defects "
          f"{verdicts['beyond_limits']} are beyond their limits; {verdicts['passed_beyond_limits']} of those passed, "
          f"{verdicts['rejected_within_limits']} within them rejected")
    return 0
