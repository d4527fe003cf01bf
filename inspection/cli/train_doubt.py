"""Fit the planner's map from a scan region's confidence to its probability of a defect (isotonic
regression, ``planning.doubt``) on the regions of a tuning campaign, whose per-part records say whether
each region held a true defect. Regions found by the spot filter get a map of their own, fitted on theirs
alone. Use a seed kept for tuning, never the one results are reported on:

    inspection eval campaign --parts 4 --seed 5150 --json runs/tune.json --ablation low-confidence
    inspection train doubt --campaign runs/tune.json --out models/defect_calibration.json
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", type=Path, required=True, metavar="CAMPAIGN.json",
                        help="summary of an `inspection eval campaign` run on a tuning seed")
    parser.add_argument("--ablation", default="low-confidence",
                        help="whose scan regions to fit on (default low-confidence: every weak detection)")
    parser.add_argument("--out", type=Path, default=Path("models/defect_calibration.json"),
                        help="calibration file to write (planner_node.defect_calibration)")


def run(args: argparse.Namespace) -> int:
    from inspection.campaign.part_store import finished
    from inspection.errors import InputError
    from inspection.json_codec import read_json_file
    from inspection.outputs import check_output_file
    from inspection.planning.doubt import fit_isotonic

    check_output_file(args.out, "--out")
    summary = read_json_file(args.campaign)
    if not isinstance(summary, dict) or args.ablation not in summary.get("keys", {}):
        raise InputError(f"{args.campaign}: no ablation {args.ablation!r} in this campaign summary "
                         f"(run `inspection eval campaign ... --ablation {args.ablation}`)")
    parts_dir, key = Path(summary["parts_folder"]), summary["keys"][args.ablation]
    settings = summary["settings"]
    rows: dict[str, tuple[list[float], list[bool]]] = {}  # finder -> confidences, held a defect
    for index in range(summary["parts"]):
        record = finished(parts_dir, index, args.ablation, key)
        if record is None or "regions" not in record:
            raise InputError(f"{parts_dir}: part {index} of {args.ablation} missing or without regions; "
                             f"rerun the campaign")
        for region in record["regions"]:
            confidences, labels = rows.setdefault(region.get("finder", "detector"), ([], []))
            confidences.append(region["confidence"])
            labels.append(region["defect"])
    if "detector" not in rows:
        raise InputError(f"{args.campaign}: no detector scan regions in {summary['parts']} parts to fit on")
    meta = {"campaign": str(args.campaign), "ablation": args.ablation, "seed": settings["seed"],
            "parts": summary["parts"], "low_confidence": settings.get("low_confidence"), "simulated": True}
    fitted = {finder: fit_isotonic(*rows[finder], meta if finder == "detector" else {}) for finder in rows}
    calibration = replace(fitted.pop("detector"), finders=fitted)
    calibration.save(args.out)
    for finder, (confidences, labels) in rows.items():
        own = calibration if finder == "detector" else calibration.finders[finder]
        knots = ", ".join(f"{c:.2f}->{p:.2f}" for c, p in zip(own.confidence, own.probability))
        print(f"{finder}: {len(labels)} regions ({sum(labels)} held a defect) of {summary['parts']} simulated "
              f"parts, seed {settings['seed']}: {knots}")
    print(f"-> {args.out}")
    return 0
