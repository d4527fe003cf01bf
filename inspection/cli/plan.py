"""Plan tactile presses over scan regions (or the whole part) and a timed joint trajectory for the cell.

Writes presses (part frame), unreachable presses with the reason, the joint trajectory and the cycle
time as JSON. Exit 0 when a plan was written, even if some presses are unreachable (they are listed
and counted on stderr); exit 1 on bad input.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mesh", required=True, metavar="PATH", help="part mesh (STL/OBJ/PLY), part frame, metres")
    parser.add_argument("--regions", metavar="REGIONS.json",
                        help='list of {"id", "center": [x,y,z], "normal": [x,y,z], "radius_m": r, optional '
                             '"confidence"} (part frame)')
    parser.add_argument("--json", required=True, metavar="OUT", help="where to write the plan")
    parser.add_argument("--cell", metavar="CELL.yaml", help="cell description (default: config/cell.yaml)")
    parser.add_argument("--params", metavar="PIPELINE.yaml", help="node parameters (default: config/pipeline.yaml)")
    parser.add_argument("--full-coverage", action="store_true",
                        help="raster the whole surface instead of the regions (the baseline)")


def run(args: argparse.Namespace) -> int:
    from inspection.atomic import write_json_atomic
    from inspection.cell import load_cell
    from inspection.config import load_node_params
    from inspection.errors import InputError
    from inspection.outputs import check_output_file
    from inspection.planning.planner import PlannerSettings, build_planner
    from inspection.planning.regions_io import read_regions
    from inspection.geometry.mesh_io import load_mesh

    check_output_file(args.json, "--json")
    if not args.full_coverage and not args.regions:
        raise InputError("--regions: required unless --full-coverage is given")
    cell = load_cell(args.cell)
    settings = PlannerSettings.from_params(load_node_params("planner_node", args.params))
    regions = read_regions(args.regions) if args.regions else []
    surface = load_mesh(args.mesh)
    planner, backend = build_planner(cell, settings)
    plan = planner.plan(surface, regions, full_coverage=args.full_coverage)
    document = plan.to_dict()
    document["meta"] = {"mesh": str(args.mesh), "mode": "full_coverage" if args.full_coverage else "regions",
                        "regions": len(regions), "motion_backend": backend,
                        "planning_time_s": round(plan.timings_s["total"], 3)}
    write_json_atomic(args.json, document)
    budget = f", {len(plan.skipped)} regions left out by the press budget" if plan.skipped else ""
    print(f"{len(plan.presses)} presses, {len(plan.unreachable)} unreachable{budget}, cycle time "
          f"{plan.cycle_time_s:.1f} s, planned in {plan.timings_s['total']:.2f} s ({backend}) -> {args.json}")
    shown = 20  # all of them are in the JSON; a full-coverage raster can have hundreds
    for item in plan.unreachable[:shown]:
        print(f"unreachable: region {item.region} at {[round(float(v), 4) for v in item.position]}: {item.reason}",
              file=sys.stderr)
    if len(plan.unreachable) > shown:
        print(f"unreachable: {len(plan.unreachable) - shown} more, listed in {args.json}", file=sys.stderr)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
