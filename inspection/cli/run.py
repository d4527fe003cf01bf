"""Start the pipeline nodes without `ros2 launch`: the same nodes and parameter file as
launch/pipeline.launch.py, each in its own process; Ctrl-C stops them cleanly."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from inspection.errors import InputError
from inspection.yaml_safe import YamlTooLarge, safe_load


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`node.key=value` (value in YAML) -> {node: {key: value}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        node, dot, key = name.partition(".")
        if not sep or not dot or not node or not key:
            raise InputError(f"--set {item!r}: expected NODE.KEY=VALUE, e.g. vision_node.confidence=0.3")
        try:
            overrides.setdefault(node, {})[key] = safe_load(raw)
        except yaml.YAMLError as exc:
            reason = str(exc) if isinstance(exc, YamlTooLarge) else "not a valid YAML value"
            raise InputError(f"--set {item[:200]!r}: {reason}") from None
    return overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim", action="store_true", help="also start the simulator in place of the cell drivers")
    parser.add_argument("--params", metavar="PIPELINE.yaml", help="parameter file (default: config/pipeline.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE",
                        help="override one parameter (repeatable)")
    parser.add_argument("--part-mesh", metavar="PATH", help="part mesh for vision and planner (with --sim: exported)")


def run(args: argparse.Namespace) -> int:
    from inspection.config import load_node_params
    from inspection.geometry.mesh_io import load_mesh
    from inspection.launcher import (
        PIPELINE_NODES, SIM_NODES, NodeProcesses, default_params_file, stop_on_signals, wait_for_file,
    )
    from inspection.nodes.domain_check import domain_users, exported_domain_id
    from inspection.outputs import check_output_file, new_run_folder
    from inspection.vision.detector import check_pipeline_model

    params_file = default_params_file(args.params)
    overrides = parse_overrides(args.set)
    nodes = (SIM_NODES if args.sim else ()) + PIPELINE_NODES
    for node in overrides:
        if node not in nodes:
            raise InputError(f"--set {node}.…: {node} is not started here; nodes: {list(nodes)}")
    mesh = Path(args.part_mesh) if args.part_mesh else None
    if not args.sim and mesh is not None:
        load_mesh(mesh)  # a missing or broken mesh is named here, not by a node that fails to start
    if args.sim and mesh is not None:
        if mesh.exists():
            raise InputError(f"--part-mesh {mesh}: exists; with --sim the simulator writes the part mesh there, and "
                             "never over a file it did not make: give a new path, or leave --part-mesh out")
        check_output_file(mesh, "--part-mesh")
    for node in nodes:  # fail on a bad value here, before any process starts
        load_node_params(node, params_file, _with_mesh(overrides, mesh or Path("part.stl"), args.sim).get(node))
    check_pipeline_model(load_node_params("vision_node", params_file, overrides.get("vision_node")))
    domain = exported_domain_id() or 0
    ours = frozenset(f"/{node}" for node in nodes)
    running = sorted(set(domain_users(domain, wanted=ours)) & ours)
    if running:
        raise InputError(f"ROS_DOMAIN_ID={domain}: {', '.join(running)} already running there; stop them first, "
                         "or export another ROS_DOMAIN_ID")
    if args.sim and mesh is None:
        mesh = new_run_folder(Path("runs"), "sim") / "part.stl"  # a fresh folder: no earlier mesh is replaced
    overrides = _with_mesh(overrides, mesh, args.sim)
    processes = NodeProcesses()
    try:
        with stop_on_signals():
            if args.sim:
                mesh.parent.mkdir(parents=True, exist_ok=True)
                processes.start("sim_node", params_file, overrides.get("sim_node"))
                wait_for_file(mesh, processes, timeout_s=60)
            for node in PIPELINE_NODES:
                processes.start(node, params_file, overrides.get(node))
            print(f"started {', '.join(nodes)}; call inspection/start (std_srvs/Trigger) to inspect; Ctrl-C stops")
            while not processes.exited():
                time.sleep(0.5)
            print(f"node(s) stopped: {processes.describe_exits()}")
            return 1
    except KeyboardInterrupt:
        return 0
    finally:
        processes.stop()


def _with_mesh(overrides: dict[str, dict[str, Any]], mesh: Path | None, sim: bool) -> dict[str, dict[str, Any]]:
    """``overrides`` plus the part mesh for vision, planner and tactile (and, with the simulator, its export path)."""
    result = {node: dict(values) for node, values in overrides.items()}
    if mesh is not None:
        if sim:
            result.setdefault("sim_node", {}).setdefault("export_mesh", str(mesh))
        for node in ("vision_node", "planner_node", "tactile_node"):
            result.setdefault(node, {}).setdefault("part_mesh", str(mesh))
    return result
