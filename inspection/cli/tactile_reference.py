"""Learn what a defect-free press of one part on one sensor looks like from a handful (4 to 10) of good
frames: a patch memory bank plus an operating threshold chosen from those good frames alone.

Writes REF (.npz) and REF's .json sidecar (fitted frames, threshold, how it was chosen). Give it to
`inspection eval tactile --reference` or to the tactile node's reference_file parameter."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", required=True, metavar="DIR", help="folder of good frames (*.png), one part, one sensor")
    parser.add_argument("--out", required=True, metavar="REF", help="reference file to write (.npz)")
    parser.add_argument("--margin", type=float, default=None,
                        help="threshold = max leave-one-out good score x margin (default 2.0)")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from inspection.datasets.tactile import read_rgb
    from inspection.errors import InputError
    from inspection.tactile.reference import DEFAULT_MARGIN, fit_reference
    from inspection.tactile.runtime import tune_for_frames

    folder = Path(args.frames)
    if not folder.is_dir():
        raise InputError(f"{folder}: --frames is not a folder")
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise InputError(f"{folder}: no *.png frames")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"{out}: --out must end in .npz (a .json sidecar is written beside it)")
    tune_for_frames()  # frame work on CPUs other processes share, as in the nodes and the evaluation
    started = time.perf_counter()
    reference = fit_reference([read_rgb(p) for p in paths], [p.name for p in paths],
                              DEFAULT_MARGIN if args.margin is None else args.margin)
    reference.save(out)
    print(f"reference of {len(paths)} good frames, threshold {reference.threshold:.2f} "
          f"({reference.meta['threshold_rule']}), fitted in {time.perf_counter() - started:.1f} s -> {out}")
    return 0
