"""Build the colour-to-slope lookup of a GelSight-style sensor from presses of a ball of known radius:
detect the contact circle in each frame, compute the true slopes from the sphere, bin colour -> slope.
FRAMES holds background.png (nothing touching) and the press frames (in frames/ or beside it)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", required=True, help="folder with background.png and ball press frames")
    parser.add_argument("--ball-radius-mm", type=float, required=True, help="radius of the calibration ball (mm)")
    parser.add_argument("--out", default="models/tactile_calibration.npz", help="calibration file to write")
    parser.add_argument("--bins", type=int, default=64, help="colour bins per channel (default 64)")
    parser.add_argument("--cell", help="cell description, for the pixel size (default config/cell.yaml)")


def run(args: argparse.Namespace) -> int:
    from inspection.cell import load_cell
    from inspection.errors import InputError
    from inspection.outputs import check_output_file
    from inspection.tactile.calibration import calibrate_folder

    check_output_file(args.out, "--out")
    if not 8 <= args.bins <= 128:
        raise InputError(f"--bins: {args.bins} is outside 8-128")
    pixel = load_cell(args.cell).tactile.pixel_size_m
    calibration, report = calibrate_folder(args.frames, args.ball_radius_mm * 1e-3, pixel, args.bins)
    calibration.save(args.out)
    print(f"calibration from {report['frames_used']} presses ({len(report['frames_rejected'])} rejected), "
          f"{report['samples']} pixels, {report['filled_bins']} filled bins -> {args.out}")
    return 0
