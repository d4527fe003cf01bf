"""Start the pipeline nodes without `ros2 launch`: the same nodes and parameter file as
launch/pipeline.launch.py, each in its own process; Ctrl-C stops them cleanly."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from inspection.errors import InputError


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`node.key=value` (value in YAML) -> {node: {key: value}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        node, dot, key = name.partition(".")
        if not sep or not dot or not node or not key:
            raise InputError(f"--set {item!r}: expected NODE.KEY=VALUE, e.g. vision_node.confidence=0.3")
        overrides.setdefault(node, {})[key] = yaml.safe_load(raw)
    return overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim", action="store_true", help="also start the simulator in place of the cell drivers")
    parser.add_argument("--params", metavar="PIPELINE.yaml", help="parameter file (default: config/pipeline.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE",
                        help="override one parameter (repeatable)")
    parser.add_argument("--part-mesh", metavar="PATH", help="part mesh for vision and planner (with --sim: exported)")


def run(args: argparse.Namespace) -> int:
    from inspection.config import load_node_params
    from inspection.launcher import PIPELINE_NODES, SIM_NODES, NodeProcesses, default_params_file, wait_for_file

    params_file = default_params_file(args.params)
    overrides = parse_overrides(args.set)
    nodes = (SIM_NODES if args.sim else ()) + PIPELINE_NODES
    for node in overrides:
        if node not in nodes:
            raise InputError(f"--set {node}.…: {node} is not started here; nodes: {list(nodes)}")
    mesh = Path(args.part_mesh) if args.part_mesh else (Path("runs") / "sim_part.stl" if args.sim else None)
    if mesh is not None:
        if args.sim:
            overrides.setdefault("sim_node", {}).setdefault("export_mesh", str(mesh))
        for node in ("vision_node", "planner_node"):
            overrides.setdefault(node, {}).setdefault("part_mesh", str(mesh))
    for node in nodes:  # fail on a bad value here, before any process starts
        load_node_params(node, params_file, overrides.get(node))
    processes = NodeProcesses()
    try:
        if args.sim:
            mesh.parent.mkdir(parents=True, exist_ok=True)
            mesh.unlink(missing_ok=True)  # the simulator writes this part's mesh afresh
            processes.start("sim_node", params_file, overrides.get("sim_node"))
            wait_for_file(mesh, processes, timeout_s=60)
        for node in PIPELINE_NODES:
            processes.start(node, params_file, overrides.get(node))
        print(f"started {', '.join(nodes)}; call inspection/start (std_srvs/Trigger) to inspect; Ctrl-C stops")
        while not processes.exited():
            time.sleep(0.5)
        print(f"node(s) stopped: {processes.exited()}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        processes.stop()
