"""Report what this environment offers (ROS 2, RMW, torch, Ultralytics, open3d, pinocchio, models,
launch_ros, moveit_py) and exit non-zero when something required is missing."""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from typing import Callable

from inspection import paths


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _distribution_of(module_file: str) -> str:
    """'distro' for /opt/ros installs, 'wheels' for the ros-* PyPI wheels, else the path."""
    if module_file.startswith("/opt/ros/"):
        return f"distro ROS 2 ({module_file.split('/')[3]})"
    try:
        version = importlib.metadata.version("ros-rclpy")
        return f"ros-rclpy {version} wheels"
    except importlib.metadata.PackageNotFoundError:
        return module_file


def check_rclpy() -> Check:
    import rclpy

    return Check("rclpy", True, f"{_distribution_of(rclpy.__file__)} ({os.path.dirname(rclpy.__file__)})")


def check_rmw() -> Check:
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        identifier = get_rmw_implementation_identifier()
    finally:
        rclpy.shutdown(context=context)
    profile = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    ok = bool(profile) and os.path.isfile(profile)
    if ok:
        ET.parse(profile)
    return Check("rmw", ok, f"{identifier}; Fast DDS profile {profile or 'not set'}")


def check_torch() -> Check:
    import torch

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return Check("torch", True, f"{torch.__version__}, device {device}")


def check_ultralytics() -> Check:
    import ultralytics

    config_dir = os.environ.get("YOLO_CONFIG_DIR", "")
    font = os.path.join(config_dir, "Ultralytics", "Arial.ttf")
    offline = os.environ.get("YOLO_OFFLINE") == "1"
    ok = offline and os.path.isfile(font)
    return Check("ultralytics", ok, f"{ultralytics.__version__}, YOLO_OFFLINE={int(offline)}, "
                 f"YOLO_CONFIG_DIR={config_dir}, font {'present' if os.path.isfile(font) else 'missing'}")


def check_onnxruntime() -> Check:
    import onnxruntime

    return Check("onnxruntime", True, f"{onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")


def check_open3d() -> Check:
    try:
        import open3d
    except ImportError as exc:
        hint = " (apt-get install libusb-1.0-0)" if "libusb" in str(exc) else ""
        return Check("open3d", False, f"{exc}{hint}")
    return Check("open3d", True, open3d.__version__)


def check_pinocchio() -> Check:
    import pinocchio

    from inspection.cell import load_cell
    from inspection.robot_description import resolve_urdf

    urdf = resolve_urdf(load_cell().robot.urdf)
    return Check("pinocchio", urdf.is_file(), f"{pinocchio.__version__}, robot URDF {urdf}")


def check_config() -> Check:
    from inspection.cell import load_cell
    from inspection.config import load_node_params
    from inspection.params import NODE_PARAMETERS

    for node in NODE_PARAMETERS:
        load_node_params(node)
    load_cell()
    return Check("config", True, f"{paths.config_file('pipeline.yaml')} ({len(NODE_PARAMETERS)} nodes), cell.yaml valid")


# What the nodes load by default (config/pipeline.yaml): Stage I detector and its sidecar, Stage II
# calibration and classifier.
SHIPPED_MODELS = ("defect_detector.onnx", "defect_detector.json", "tactile_calibration.npz", "tactile_classifier.pt")


def check_models() -> Check:
    folder = paths.share_dir() / "models"
    missing = [name for name in SHIPPED_MODELS if not (folder / name).is_file()]
    if missing:
        return Check("models", False, f"{folder}: missing {', '.join(missing)} (see models/README.md)")
    return Check("models", True, f"{folder}: {', '.join(SHIPPED_MODELS)}")


def _optional_module(name: str, purpose: str) -> Callable[[], Check]:
    def check() -> Check:
        try:
            importlib.import_module(name)
            return Check(name, True, f"present: {purpose}", required=False)
        except ImportError:
            return Check(name, False, f"absent: {purpose}", required=False)

    return check


CHECKS: tuple[Callable[[], Check], ...] = (
    check_config, check_rclpy, check_rmw, check_torch, check_ultralytics, check_onnxruntime,
    check_open3d, check_pinocchio, check_models,
    _optional_module("launch_ros", "`ros2 launch` files can run (otherwise use `inspection run`)"),
    _optional_module("moveit.planning", "moveit_py plans on the cell (otherwise the built-in planner)"),
)


def run_checks() -> list[Check]:
    results = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            results.append(check())
        except Exception as exc:  # noqa: BLE001 - a failing probe is a finding, not a crash
            results.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="OUT", help="also write the checks as JSON")


def run(args: argparse.Namespace) -> int:
    if args.json:
        from inspection.outputs import check_output_file

        check_output_file(args.json, "--json")
    results = run_checks()
    print(f"inspection doctor (python {sys.version.split()[0]}, share {paths.share_dir()})")
    for check in results:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "--  ")
        print(f"  [{mark}] {check.name:12s} {check.detail}")
    if args.json:
        from inspection.atomic import write_json_atomic

        write_json_atomic(args.json, [asdict(c) for c in results])
    failed = [c.name for c in results if c.required and not c.ok]
    if failed:
        print(f"required checks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("all required checks passed")
    return 0

