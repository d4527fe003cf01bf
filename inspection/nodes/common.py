"""Shared node plumbing: parameters declared from inspection.params, QoS profiles, a safe main()."""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from inspection import runtime
from inspection.config import check_parameter_file, validate_params
from inspection.errors import InputError
from inspection.params import NODE_PARAMETERS, ParamSpec
from inspection.parent_watch import on_parent_death


PARENT_GONE_GRACE_S = 10.0  # then a clean shutdown has this long before the node exits regardless

# Results a late joiner must still get (plans, regions, ground truth, state): the last one is kept.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Events none may be lost of (press frames and records, findings).
RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    extra = f" One of {list(spec.choices)}." if spec.choices else ""
    descriptor = ParameterDescriptor(description=spec.description + extra, read_only=spec.read_only)
    if spec.type_name == "float" and spec.low is not None and spec.high is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high))]
    if spec.type_name == "int" and spec.low is not None and spec.high is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return descriptor


def declare_parameters(node: Node, node_name: str) -> dict[str, Any]:
    """Declare every parameter of ``node_name`` with its descriptor; return the validated values.

    Values come from ``--params-file`` (config/pipeline.yaml) and are checked by the same
    validate_params as the CLI, so a bad value fails the same way everywhere.
    """
    specs = NODE_PARAMETERS[node_name]
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, _descriptor(spec))
    values = {spec.name: node.get_parameter(spec.name).value for spec in specs}
    return validate_params(node_name, values, specs, f"node '{node.get_name()}' parameters")


def image_qos(reliable: bool = False, depth: int = 5) -> QoSProfile:
    """REP-2003 sensor-data QoS for images (best effort, small queue); ``reliable`` for recording."""
    if not reliable:
        return qos_profile_sensor_data
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Configure the environment, spin the node, always shut down cleanly; exit code 2 on bad config.

    ``threads`` > 1 spins a MultiThreadedExecutor, for nodes whose slow callbacks (rendering, inference)
    sit in their own callback group and must not stall the others.
    """
    runtime.configure_environment()
    stop_when_parent_dies()
    try:
        for params_file in _params_files(sys.argv if args is None else args):
            check_parameter_file(params_file)  # rcl's own parser would stop on a junk section with a traceback
    except InputError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    rclpy.init(args=args)
    node = None
    try:
        # The executor before the node: a SIGTERM during the (slow) construction of the node then finds no
        # half-made executor, whose __del__ would print a traceback.
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        node = factory()
        executor.add_node(node)
        # A node with a `finished` future (a probe, a one-shot job) returns when it completes.
        finished = getattr(node, "finished", None)
        if finished is not None:
            executor.spin_until_future_complete(finished)
        else:
            executor.spin()
    except InputError as exc:  # bad parameters, missing model or mesh: say which, exit 2
        print(f"error: {exc}", flush=True)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Stopped while starting: SIGTERM shut the context down under the node's constructor. Not an error.
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _params_files(argv: list[str]) -> list[str]:
    """The files given as ``--params-file FILE`` after ``--ros-args``."""
    ros_args = argv[argv.index("--ros-args") + 1:] if "--ros-args" in argv else []
    return [value for flag, value in zip(ros_args, ros_args[1:]) if flag == "--params-file"]


def stop_when_parent_dies() -> None:
    """SIGTERM this node (the clean shutdown of Ctrl-C: reports and recordings are closed) when the process
    that started it dies (inspection.parent_watch: covers `ros2 launch` too), and exit PARENT_GONE_GRACE_S
    later if that shutdown hangs."""
    def stop() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(PARENT_GONE_GRACE_S)
        os._exit(1)

    on_parent_death(stop)
