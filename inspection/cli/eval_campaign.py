"""Run the whole two-stage inspection on N random simulated parts and score it against their ground truth:
recall and precision of Stage I and of the final report (per class and defect size), presses and arm
cycle time against full coverage, depth error, per ablation. Writes OUT, OUT with .md, and PNG plots
beside it. Resumable: each part's result is kept in <OUT stem>_parts/; a rerun with the same settings
skips the parts already done. The parts run in this process, in local worker processes (--workers K), or
as Ray actors on this machine or a Ray cluster (--executor ray [--ray-address HOST:6379])."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", type=int, required=True, help="number of simulated parts")
    parser.add_argument("--seed", type=int, required=True, help="part i is drawn from the seed sequence [seed, i]")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="summary JSON to write")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default 1; with --executor ray, one per CPU of the Ray cluster); "
                             "results do not depend on it")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: worker processes on this machine; ray: Ray actors (pip install .[ray])")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="a Ray cluster's head, HOST:6379 (`ray start --head` there); default: start a Ray "
                             "instance on this machine")
    parser.add_argument("--ablation", action="append", default=[], metavar="NAME[,NAME]",
                        help="shipped (config/pipeline.yaml as it is: the headline), paper (default), vision-only, "
                             "low-confidence, budgeted, full-coverage, or all; repeatable")
    parser.add_argument("--low-confidence", type=float, default=0.05,
                        help="confidence down to which Stage I flags regions in the low-confidence and budgeted "
                             "ablations")
    parser.add_argument("--press-budgets", type=_budgets, default=(4, 8, 16, 32), metavar="N[,N]",
                        help="presses per part of the budgeted ablation, one budgeted-N row each (default 4,8,16,32)")
    parser.add_argument("--part-kind", default="random",
                        help="random, cylinder_panel, dome, saddle or leading_edge")
    parser.add_argument("--part-scale", type=float, default=1.0,
                        help="shrink every part by this factor (0.5-1; small parts make full coverage affordable)")
    parser.add_argument("--defect-free", action="store_true",
                        help="the same parts with no defects: every report is false (false findings per 1000 "
                             "presses, best with --ablation full-coverage)")
    parser.add_argument("--width", type=int, default=0, help="camera image width (0: the cell camera's)")
    parser.add_argument("--height", type=int, default=0, help="camera image height (0: the cell camera's)")
    parser.add_argument("--params", type=Path, help="parameter file (default config/pipeline.yaml)")
    parser.add_argument("--cell", type=Path, help="cell.yaml (default: the package's)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE",
                        help="override one node parameter (repeatable), as for `inspection run`")


def _budgets(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers separated by commas") from None


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    from inspection.campaign.campaign import CampaignOptions, parse_ablations, run_campaign
    from inspection.campaign.executors import PartsLost
    from inspection.cli.run import parse_overrides

    options = CampaignOptions(
        out=args.json, parts=args.parts, seed=args.seed, ablations=parse_ablations(args.ablation or ["paper"]),
        workers=args.workers, executor=args.executor, ray_address=args.ray_address,
        low_confidence=args.low_confidence, press_budgets=args.press_budgets, part_kind=args.part_kind,
        part_scale=args.part_scale, defect_free=args.defect_free, width=args.width,
        height=args.height, params_file=args.params, cell_file=args.cell, overrides=parse_overrides(args.set))
    try:
        summary = run_campaign(options)
    except PartsLost as exc:  # not a bug: a worker died (killed, out of memory, its machine gone)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, row in summary["ablations"].items():
        print(f"{name}: Stage I recall {_rate(row['stage1_recall'])} (camera-visible "
              f"{_rate(row['stage1_recall_camera_visible'])}, resolvable {_rate(row['stage1_recall_resolvable'])}), "
              f"final recall {_rate(row['final_recall'])}, "
              f"precision {_rate(row['final_precision'])}; {row['tactile_presses']:.1f} presses/part vs "
              f"{row['full_coverage_presses']:.1f} full coverage, {_rate(row['false_findings_per_1000_presses'])} "
              f"false touch findings per 1000 presses; {row['wall_s_per_part']:.1f} s/part")
    print(f"{summary['defects']} true defects on {summary['parts']} parts; summary {args.json}, "
          f"table {summary['outputs']['markdown']}")
    return 0
