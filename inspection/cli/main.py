"""`inspection` command line: one verb per task, each calling the same core function as the nodes.

Every leaf command is a module with ``add_arguments(parser)`` and ``run(args) -> int``. Those modules
import heavy libraries (torch, open3d, rclpy) inside ``run`` so that ``--help`` stays fast.
A command that is not built yet says so and exits 2; it never pretends.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from dataclasses import dataclass, field

from inspection import __version__, runtime
from inspection.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_NOT_BUILT, EXIT_INTERNAL = 0, 1, 2, 3


@dataclass(frozen=True)
class Command:
    """A leaf command: ``module`` holds add_arguments/run; None means not built yet (see ``issue``)."""

    help: str
    module: str | None = None
    issue: int | None = None


@dataclass(frozen=True)
class Group:
    help: str
    commands: dict[str, Command] = field(default_factory=dict)


COMMANDS: dict[str, Command | Group] = {
    "demo": Command("full simulated two-stage inspection of a curved part", "inspection.cli.demo"),
    "run": Command("start the pipeline nodes without `ros2 launch`", "inspection.cli.run"),
    "sim": Group("simulated inspection cell", {
        "dataset": Command("write a detection dataset of rendered parts", module="inspection.cli.sim_dataset", issue=3),
        "tactile": Command("write GelSight-style tactile frames with labels", "inspection.cli.sim_tactile", 3),
    }),
    "train": Group("train the shipped models", {
        "vision": Command("train the Stage I defect detector", "inspection.cli.train_vision", 4),
        "tactile": Command("train the Stage II tactile classifier", "inspection.cli.train_tactile", 6),
        "doubt": Command("fit the planner's defect probability per scan region on a tuning campaign",
                         "inspection.cli.train_doubt", 14),
    }),
    "eval": Group("evaluate against ground truth", {
        "vision": Command("Stage I detector on a labelled dataset", "inspection.cli.eval_vision", 4),
        "tactile": Command("Stage II classifier and measurement on labelled frames; with --reference, the anomaly "
                           "gate on real good/fault frames", "inspection.cli.eval_tactile", 6),
        "campaign": Command("full pipeline on many simulated parts, per ablation", "inspection.cli.eval_campaign", 8),
        "explain": Command("mAP50 of the detector, with the SAE spliced in, and with SAE + LoRA; gap closed",
                           "inspection.cli.eval_explain", 16),
    }),
    "explain": Group("explainable Stage I: a sparse autoencoder spliced into the detector, LoRA around it", {
        "fit-sae": Command("train the SAE on the detector's neck activations and build the latent atlas",
                           "inspection.cli.explain_fit_sae", 16),
        "adapt": Command("train LoRA adapters around the spliced SAE (and the end-to-end baseline); "
                         "writes models/defect_explainer.*", "inspection.cli.explain_adapt", 16),
        "image": Command("detect in a picture and show the top SAE latents of each detection",
                         "inspection.cli.explain_image", 16),
    }),
    "plan": Command("plan tactile presses and a trajectory over scan regions", "inspection.cli.plan", issue=5),
    "data": Group("dataset tools (YOLO, COCO, Pascal VOC)", {
        "stats": Command("count images, boxes and classes; list skipped items", "inspection.cli.data_stats", 4),
        "convert": Command("convert a dataset to YOLO or COCO", "inspection.cli.data_convert", 4),
    }),
    "tactile": Group("tactile sensor tools", {
        "calibrate": Command("build the colour-to-gradient lookup from ball presses",
                            "inspection.cli.tactile_calibrate", 6),
        "reference": Command("learn good presses of a part (anomaly reference) from a few good frames",
                             "inspection.cli.tactile_reference", 15),
        "depth-scale": Command("fit per-class factors from measured to true defect depth into the calibration",
                               "inspection.cli.tactile_depth_scale", 15),
    }),
    "report": Command("re-render report.html of a run folder from its report.json", "inspection.cli.report"),
    "doctor": Command("check what this environment offers", "inspection.cli.doctor"),
}


def _not_built(name: str, command: Command):
    def run(_args: argparse.Namespace) -> int:
        where = f" (tracked in issue #{command.issue})" if command.issue else ""
        print(f"inspection {name}: not built yet{where}.", file=sys.stderr)
        return EXIT_NOT_BUILT

    return run


def _add_leaf(subparsers, name: str, full_name: str, command: Command) -> None:
    if command.module is None:
        parser = subparsers.add_parser(name, help=f"{command.help} [not built yet]")
        parser.set_defaults(func=_not_built(full_name, command), accepts_any_arguments=True)
        return
    module = importlib.import_module(command.module)
    parser = subparsers.add_parser(name, help=command.help, description=(module.__doc__ or command.help).strip())
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspection", description="Two-stage visual-tactile defect inspection of large curved parts."
    )
    parser.add_argument("--version", action="version", version=f"inspection {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        if isinstance(entry, Command):
            _add_leaf(subparsers, name, name, entry)
            continue
        group = subparsers.add_parser(name, help=entry.help, description=entry.help)
        group_sub = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        for sub_name, command in entry.commands.items():
            _add_leaf(group_sub, sub_name, f"{name} {sub_name}", command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # A command that is not built yet takes any arguments, so that it can say so instead of a usage error.
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "accepts_any_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    runtime.configure_environment()
    try:
        return int(args.func(args) or 0)
    except (InputError, FileNotFoundError) as exc:
        # Bad input from the user: one clear line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        # Ctrl-C, or SIGTERM/SIGHUP turned into StopRequested by a command that starts nodes.
        number = getattr(exc, "signal_number", signal.SIGINT)
        print("interrupted" if number == signal.SIGINT else f"stopped by {signal.Signals(number).name}",
              file=sys.stderr)
        return 128 + number
    except Exception as exc:  # noqa: BLE001 - last resort: report a bug without a wall of text
        if isinstance(exc, OSError) and exc.filename is not None:
            # The file system refused a path (full disk, read-only, permissions): name it, as bad input.
            print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        if args.debug:
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
