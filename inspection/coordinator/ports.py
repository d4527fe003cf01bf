"""What the coordinator's phase machine needs from the outside, as small protocols: the node implements
them with topics and services, the tests with plain in-process doubles of the transport. Time is a port
too (``Clock``), so every timeout can be driven without sleeping.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol


class TriggerOutcome(Protocol):
    """A std_srvs/Trigger-shaped answer."""

    success: bool
    message: str


class PendingCall(Protocol):
    """A service call in flight (rclpy's Future has this shape)."""

    def done(self) -> bool: ...

    def result(self) -> TriggerOutcome | None: ...


class TriggerService(Protocol):
    """A Trigger service the coordinator calls (vision reset, the camera trigger)."""

    @property
    def name(self) -> str: ...

    def is_ready(self) -> bool: ...

    def call(self) -> PendingCall: ...


class Logger(Protocol):
    """The subset of rclpy's and the standard library's loggers the coordinator uses."""

    def info(self, message: str) -> Any: ...

    def warning(self, message: str) -> Any: ...

    def error(self, message: str) -> Any: ...


class CoordinatorIO(Protocol):
    """The coordinator's outputs; its inputs arrive by calls on the Coordinator (``*_received``)."""

    logger: Logger
    vision_reset: TriggerService
    camera_trigger: TriggerService

    def publish_state(self, state: dict[str, Any]) -> None:
        """``{"phase", "progress", "message", "run_dir"}``; must not raise (the run still ends in a report)."""

    def execute(self, trajectory: object) -> None:
        """Send the press trajectory (as it came in on ``trajectory_received``) to the arm."""


class Clock(Protocol):
    """Time for the phase machine: deadlines, waits for input, the run folder's name."""

    def monotonic(self) -> float: ...

    def wall_time(self) -> float: ...

    def wait(self, condition: threading.Condition, timeout_s: float) -> None:
        """Block on ``condition`` (held by the caller) until notified or ``timeout_s`` has passed."""


class SystemClock:
    """The real clock: waits release the condition so inputs can arrive."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_time(self) -> float:
        return time.time()

    def wait(self, condition: threading.Condition, timeout_s: float) -> None:
        condition.wait(timeout_s)


@dataclass(frozen=True)
class CoordinatorSettings:
    """The coordinator_node parameters the phase machine uses (inspection.params: COORDINATOR)."""

    run_root: Path
    part_id: str
    part_mesh: str
    capture_views: int
    view_plan_timeout_s: float
    capture_retries: int
    service_timeout_s: float
    detect_timeout_s: float
    plan_timeout_s: float
    execute_margin_s: float
    time_scale: float
    explainer: str = ""  # whose atlas exemplars the report shows beside explained defects; "": none

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "CoordinatorSettings":
        """From validated parameters (declare_parameters or inspection.config.load_node_params)."""
        return cls(run_root=Path(params["run_root"]), part_id=str(params["part_id"]),
                   part_mesh=str(params["part_mesh"]), capture_views=int(params["capture_views"]),
                   view_plan_timeout_s=float(params["view_plan_timeout_s"]),
                   capture_retries=int(params["capture_retries"]),
                   service_timeout_s=float(params["service_timeout_s"]),
                   detect_timeout_s=float(params["detect_timeout_s"]),
                   plan_timeout_s=float(params["plan_timeout_s"]),
                   execute_margin_s=float(params["execute_margin_s"]), time_scale=float(params["time_scale"]),
                   explainer=str(params["explainer"]))
