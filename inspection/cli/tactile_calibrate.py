"""Build the colour-to-slope lookup of a GelSight-style sensor from presses of a ball of known radius:
detect the contact circle in each frame, compute the true slopes from the sphere, bin colour -> slope.
FRAMES holds background.png (nothing touching) and the press frames (in frames/ or beside it).

Then check it: every press of --check (further presses of the same ball, not used for fitting; without
--check the fitting presses themselves, which flatters) is reconstructed, the sphere fitted to it must give
back the ball's radius and, where labels/<frame>.json records the press depth (press_depth_mm, e.g. from
the arm), that depth. Exit status 1 when the check fails: the calibration is written all the same."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", required=True, help="folder with background.png and ball press frames")
    parser.add_argument("--ball-radius-mm", type=float, required=True, help="radius of the calibration ball (mm)")
    parser.add_argument("--out", default="models/tactile_calibration.npz", help="calibration file to write")
    parser.add_argument("--bins", type=int, default=64, help="colour bins per channel (default 64)")
    parser.add_argument("--check", metavar="DIR",
                        help="held-out ball presses to check the calibration on (background.png there or in --frames)")
    parser.add_argument("--cell", help="cell description, for the pixel size (default config/cell.yaml)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from inspection.cell import load_cell
    from inspection.errors import InputError
    from inspection.outputs import check_output_file
    from inspection.tactile.ball_check import (CHECK_DEPTH_TOLERANCE, CHECK_RADIUS_TOLERANCE, check_folder,
                                               summarise_checks)
    from inspection.tactile.calibration import calibrate_folder

    check_output_file(args.out, "--out")
    if not 8 <= args.bins <= 128:
        raise InputError(f"--bins: {args.bins} is outside 8-128")
    pixel = load_cell(args.cell).tactile.pixel_size_m
    ball_radius_m = args.ball_radius_mm * 1e-3
    calibration, report = calibrate_folder(args.frames, ball_radius_m, pixel, args.bins)
    calibration.save(args.out)
    print(f"calibration from {report['frames_used']} presses ({len(report['frames_rejected'])} rejected), "
          f"{report['samples']} pixels, {report['filled_bins']} filled bins -> {args.out}")
    check_dir = Path(args.check or args.frames)
    own_background = (check_dir / "background.png").is_file()
    checks = check_folder(check_dir, calibration, None if own_background else Path(args.frames) / "background.png")
    print(f"check on {'held-out' if args.check else 'the fitting (in-sample)'} presses of {check_dir}:")
    for check in checks:
        known = f", pressed {check.known_depth_mm:.3f} mm" if check.known_depth_mm else ""
        print(f"  {check.frame}: contact radius {check.contact_radius_mm:.3f} mm, depth {check.depth_mm:.3f} mm"
              f"{known}, fitted ball radius {check.fitted_radius_mm:.3f} mm")
    summary = summarise_checks(checks, ball_radius_m)
    depth = ("no press depths recorded" if summary["depth_error_median"] is None else
             f"depth {100 * summary['depth_error_median']:+.1f} % (median |error| "
             f"{summary['depth_abs_error_mm_median']:.3f} mm, limit +-{100 * CHECK_DEPTH_TOLERANCE:.0f} %)")
    print(f"ball radius {summary['ball_radius_mm']:.3f} mm -> fitted {summary['fitted_radius_mm_median']:.3f} mm "
          f"({100 * summary['radius_error_median']:+.1f} %, limit +-{100 * CHECK_RADIUS_TOLERANCE:.0f} %); {depth}: "
          f"{'PASSED' if summary['passed'] else 'FAILED'}")
    return 0 if summary["passed"] else 1
