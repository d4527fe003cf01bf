"""Write simulated GelSight Mini frames with labels: presses over every geometric defect class and clean
contacts (random press depth, curvature, defect pose, lighting drift), or ball presses for calibration
(--ball RADIUS_MM). Deterministic per --seed; also writes the no-contact background frame.

With --texture, the parts are textured (threads, machining marks, rivet heads, seams, orange peel: good
surface, not defects), some presses off-centre or clipped by a part edge, and the gel has a membrane that
bridges features narrower than its bending length. Defect datasets also get good/ and fault/ folders of
the same frames, the layout of a real recording, for `inspection eval tactile --reference`."""
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
    parser.add_argument("--texture", metavar="NAMES",
                        help="textured parts: 'mixed' (every texture) or a comma-separated list of thread, "
                             "machining, rivet, seam, orange_peel; each press draws one")
    parser.add_argument("--part-seed", type=int, metavar="S",
                        help="with --texture: every press of a texture is of one part drawn from S (as a cell "
                             "presses one part type); default: a new random part per press")
    parser.add_argument("--off-centre-share", type=float, default=0.3, metavar="F",
                        help="with --texture: share of presses shifted off-centre, the contact running into the "
                             "sensor's edge (default 0.3)")
    parser.add_argument("--edge-share", type=float, default=0.2, metavar="F",
                        help="with --texture: share of presses clipped by a part edge (default 0.2)")
    parser.add_argument("--clean-share", type=float, metavar="F",
                        help="share of clean presses, the rest defects of every class in turn "
                             "(default: all classes equally often)")
    parser.add_argument("--membrane-mm", type=float, metavar="L",
                        help="gel membrane bending length in mm, 0 for none (default 0.3 with --texture, else 0)")
    parser.add_argument("--cell", help="cell description (default config/cell.yaml)")


def run(args: argparse.Namespace) -> int:
    from inspection.cell import load_cell
    from inspection.errors import InputError
    from inspection.outputs import check_output_folder
    from inspection.sim.tactile_dataset import PressOptions, TexturedParts, write_dataset
    from inspection.sim.tactile_optics import SensorOptics
    from inspection.sim.tactile_sensor import DEFAULT_MEMBRANE_LENGTH_M
    from inspection.sim.tactile_texture import parse_textures

    for name, share in (("--off-centre-share", args.off_centre_share), ("--edge-share", args.edge_share)):
        if not 0.0 <= share <= 1.0:
            raise InputError(f"{name}: {share} is outside 0-1")
    textured = None if args.texture is None else TexturedParts(parse_textures(args.texture), args.part_seed,
                                                               args.off_centre_share, args.edge_share)
    if args.part_seed is not None and textured is None:
        raise InputError("--part-seed: only with --texture (it draws the textured part)")
    check_output_folder(args.out, "--out", must_be_empty=True)
    if args.markers and not 8 <= args.markers <= 120:
        raise InputError(f"--markers: pitch {args.markers} px is outside 8-120")
    if args.membrane_mm is not None and not 0.0 <= args.membrane_mm <= 5.0:
        raise InputError(f"--membrane-mm: {args.membrane_mm} mm is outside 0-5")
    membrane_m = (DEFAULT_MEMBRANE_LENGTH_M if textured else 0.0) if args.membrane_mm is None \
        else args.membrane_mm * 1e-3
    config = load_cell(args.cell).tactile
    ball = None if args.ball is None else args.ball * 1e-3
    meta = write_dataset(args.out, args.frames, args.seed, config, ball_radius_m=ball,
                         optics=SensorOptics(marker_pitch_px=args.markers),
                         presses=PressOptions(textured, args.clean_share, membrane_m))
    split = meta.get("anomaly_split")
    detail = "" if split is None else (f"; good/ {len(split['good'])}, fault/ {len(split['fault'])}"
                                       f" ({len(split['not_felt'])} defects out of the gel's reach left out)")
    print(f"wrote {len(meta['frames'])} {meta['kind']} frames (seed {args.seed}) to {args.out}{detail}")
    return 0
