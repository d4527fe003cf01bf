"""The full two-stage inspection of a simulated curved part: the real nodes over real DDS, simulator
included, started, triggered and followed like a cell operator would; prints the headline figures."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from inspection.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"),
                        help="folder that gets a new demo_<time> folder per run (part mesh, logs, recording, report)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated part and its defects")
    parser.add_argument("--part", default="cylinder_panel",
                        choices=("random", "cylinder_panel", "dome", "saddle", "leading_edge"))
    parser.add_argument("--time-scale", type=float, default=10.0,
                        help="simulated arm seconds per wall-clock second (the cycle time is reported unscaled)")
    parser.add_argument("--timeout", type=float, default=170.0, help="give up (with a partial report) after this")
    parser.add_argument("--no-record", action="store_true", help="do not record the run to MCAP")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE",
                        help="override one node parameter (repeatable), as for `inspection run`")


def _summary_lines(report: dict, truth_count: int | None, wall_s: float, run_dir: Path,
                   latency: dict | None = None) -> list[str]:
    from inspection.latency import summary_line

    summary = report["summary"]

    def found(recall: float | None) -> str:
        if recall is None or truth_count is None:
            return "n/a"
        return f"{round(recall * truth_count)} of {truth_count}"

    precision = summary["final_precision"]
    return [
        f"Stage I (vision) found {found(summary['stage1_recall'])} defects; "
        f"after Stage II (touch) {found(summary['final_recall'])}"
        + (f", precision {precision:.2f}" if precision is not None else ""),
        f"tactile presses {summary['tactile_presses']}, arm cycle time "
        + (f"{summary['cycle_time_s']:.1f} s" if summary["cycle_time_s"] is not None else "n/a")
        + f", demo wall time {wall_s:.0f} s" + ("" if report["complete"] else "; INCOMPLETE: " + "; ".join(report["missing"])),
        *([summary_line(latency)] if latency is not None else []),
        f"report: {run_dir / 'report.json'} and {run_dir / 'report.html'}",
    ]


def run(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from inspection.config import load_node_params
    from inspection.coordinator import StartRefused
    from inspection.launcher import (
        PIPELINE_NODES, SIM_NODES, NodeProcesses, default_params_file, stop_on_signals, wait_for_file,
    )
    from inspection.nodes.coordinator_client import start_inspection
    from inspection.nodes.domain_check import claim_free_domain
    from inspection.outputs import check_output_folder, new_run_folder
    from inspection.progress import progress_bar
    from inspection.vision.detector import check_pipeline_model

    started = time.monotonic()
    out = check_output_folder(args.out, "--out").resolve()
    params_file = default_params_file(None)
    checked = _overrides(args, out / "demo_TIME" / "part.stl")  # the run folder is made once all is checked
    for name in SIM_NODES + PIPELINE_NODES:  # fail on a bad value here, before any process starts
        load_node_params(name, params_file, checked.get(name))
    check_pipeline_model(load_node_params("vision_node", params_file, checked.get("vision_node")))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    claim_free_domain()  # keep the demo to itself: no other graph answers its services
    run_root = new_run_folder(out, "demo")  # this run's files only: nothing of an earlier run is touched
    mesh = run_root / "part.stl"
    overrides = _overrides(args, mesh)
    log_file = run_root / "nodes.log"
    log = open(log_file, "x", encoding="utf-8")  # noqa: SIM115 - closed in finally
    processes = NodeProcesses(log=log, params_dir=run_root / "params")
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)  # Ctrl-C and SIGTERM stop the nodes first
    node = rclpy.create_node("inspection_demo")
    states: list[dict] = []
    truth: list[dict] = []
    node.create_subscription(String, "inspection/state", lambda m: states.append(json.loads(m.data)), latched)
    node.create_subscription(String, "sim/ground_truth", lambda m: truth.append(json.loads(m.data)), latched)
    run_dir: Path | None = None

    def where() -> str:
        report = f"partial report in {run_dir}" if run_dir is not None else "no report (the inspection had not started)"
        return f"{report}; node output in {log_file}"

    try:
        with stop_on_signals():
            processes.start("sim_node", params_file, overrides["sim_node"])
            wait_for_file(mesh, processes, timeout_s=60)
            for name in PIPELINE_NODES:
                processes.start(name, params_file, overrides.get(name))
            if not args.no_record:
                processes.start("recorder_node", params_file, {"output": str(run_root / "run_{time}.mcap")})
            start = node.create_client(Trigger, "inspection/start")
            bar = progress_bar(total=100, desc="starting nodes", unit="%", bar_format="{desc:<48} {bar} {n:.0f}%")
            deadline = started + args.timeout
            while not start.wait_for_service(timeout_sec=0.5):
                if processes.exited():
                    raise RuntimeError(f"the pipeline did not come up: {processes.describe_exits()}; see {log_file}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the pipeline did not come up within {args.timeout:.0f} s; see {log_file}")
            try:
                run_dir = Path(start_inspection(node, timeout_s=30))
            except StartRefused as exc:
                raise RuntimeError(f"inspection/start refused: {exc}") from exc
            except TimeoutError as exc:
                raise RuntimeError(f"{exc}; see {log_file}") from exc
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.2)
                if states:
                    state = states[-1]
                    bar.n = 100 * state["progress"]
                    bar.set_description_str(f"{state['phase']}: {state['message']}"[:48])
                    bar.refresh()
                    if state["phase"] == "idle" and state["message"].startswith("done"):
                        break
                if processes.exited():
                    raise RuntimeError(f"node(s) died: {processes.describe_exits()}; the inspection was stopped")
            else:
                cancel = node.create_client(Trigger, "inspection/cancel")
                cancel.call_async(Trigger.Request())
                raise RuntimeError(f"no report within {args.timeout:.0f} s; cancelled")
            bar.close()
        report = json.loads((run_dir / "report.json").read_text())
        truth_count = len(truth[-1]["defects"]) if truth else None
        latency_file = run_dir / "latency.json"
        latency = json.loads(latency_file.read_text()) if latency_file.is_file() else None
        for line in _summary_lines(report, truth_count, time.monotonic() - started, run_dir, latency):
            print(line)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        processes.stop()  # the coordinator writes its partial report as it stops
        raise InputError(f"{exc}; {where()}") from exc
    except KeyboardInterrupt:
        processes.stop()
        print(f"stopped: {where()}", file=sys.stderr)
        raise
    finally:
        processes.stop()
        node.destroy_node()
        rclpy.shutdown()
        log.close()


def _overrides(args: argparse.Namespace, mesh: Path) -> dict[str, dict]:
    """The demo's parameters, then the user's --set: the simulator exports the part mesh into the run
    folder for the others, and the coordinator makes its run folder beside it."""
    from inspection.cli.run import parse_overrides

    overrides = {
        "sim_node": {"seed": args.seed, "part_kind": args.part, "export_mesh": str(mesh),
                     "time_scale": args.time_scale},
        "vision_node": {"part_mesh": str(mesh)},
        "planner_node": {"part_mesh": str(mesh)},
        "tactile_node": {"part_mesh": str(mesh)},
        "coordinator_node": {"run_root": str(mesh.parent), "time_scale": args.time_scale,
                             "part_id": f"sim-{args.part}-{args.seed}", "part_mesh": str(mesh)},
    }
    for name, values in parse_overrides(args.set).items():
        overrides.setdefault(name, {}).update(values)
    return overrides
