"""Write simulated GelSight Mini frames with labels: presses over every geometric defect class and clean
contacts (random press depth, curvature, defect pose, lighting drift), or ball presses for calibration
(--ball RADIUS_MM). Deterministic per --seed; also writes the no-contact background frame."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--frames", type=int, default=600, help="number of frames (default 600)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--ball", type=float, metavar="RADIUS_MM",
                        help="write presses of a ball of this radius (mm) for `inspection tactile calibrate`")
    parser.add_argument("--markers", type=int, default=0, metavar="PITCH_PX",
                        help="print a grid of dark marker dots this many pixels apart on the gel (default none)")
    parser.add_argument("--cell", help="cell description (default config/cell.yaml)")


def run(args: argparse.Namespace) -> int:
    from inspection.cell import load_cell
    from inspection.errors import InputError
    from inspection.outputs import check_output_folder
    from inspection.sim.tactile_dataset import write_dataset
    from inspection.sim.tactile_optics import SensorOptics

    check_output_folder(args.out, "--out", must_be_empty=True)
    if args.markers and not 8 <= args.markers <= 120:
        raise InputError(f"--markers: pitch {args.markers} px is outside 8-120")
    config = load_cell(args.cell).tactile
    ball = None if args.ball is None else args.ball * 1e-3
    meta = write_dataset(args.out, args.frames, args.seed, config, ball_radius_m=ball,
                         optics=SensorOptics(marker_pitch_px=args.markers))
    print(f"wrote {len(meta['frames'])} {meta['kind']} frames (seed {args.seed}) to {args.out}")
    return 0
