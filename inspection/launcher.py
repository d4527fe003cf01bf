"""Start the pipeline's nodes as processes, with the parameter file, as `ros2 launch` would, and make
sure none of them outlives the launcher.

``launch/pipeline.launch.py`` (on the cell) and ``inspection run`` / ``inspection demo`` (anywhere)
both take the node list from here, so they start the same nodes with the same parameters.

Supervision, three layers, because a launcher can die in ways that run none of its code:
- each node runs in its own process group, so a Ctrl-C in the terminal reaches only the launcher,
  which then stops the nodes in order (coordinator first, so it writes its partial report; recorder
  last, so it records the others stopping), each stage with a timeout and SIGKILL after it;
- SIGTERM and SIGHUP of the launcher (``kill``, a closed terminal) unwind it like Ctrl-C
  (``stop_on_signals``), and none is lost while a node is being forked;
- on Linux each node gets SIGTERM when the launcher dies (``prctl(PR_SET_PDEATHSIG)``), which covers
  SIGKILL and the OOM killer even while the node is still importing; and every node also watches its
  parent itself (``inspection.nodes.common.run_node``), which covers ``ros2 launch`` too.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import yaml

from inspection import paths, runtime
from inspection.errors import InputError

# The nodes of an inspection, in start order; the simulator stands in for the cell's drivers.
PIPELINE_NODES: tuple[str, ...] = ("vision_node", "planner_node", "tactile_node", "coordinator_node")
SIM_NODES: tuple[str, ...] = ("sim_node",)
# Stop order: the coordinator ends a running inspection with a partial report while the others still
# answer; the recorder keeps recording until everything else has stopped. The rest stop together.
STOPPED_FIRST: tuple[str, ...] = ("coordinator_node",)
STOPPED_LAST: tuple[str, ...] = ("recorder_node",)
STOP_TIMEOUT_S = 10.0  # per stage; a node still running after it is killed
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class StopRequested(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP reached the launcher: it unwinds as from Ctrl-C, so its nodes are stopped."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


class _StopSignals:
    """Raises StopRequested in the main thread, except while a node is being forked: Python runs a
    signal handler wherever the main thread is, and one raised inside a fork hook is printed as
    "Exception ignored" and lost, so that Ctrl-C would be ignored. There it waits for the fork to end."""

    NUMBERS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.deferring = False
        self.pending: int | None = None

    def handle(self, number: int, _frame: object) -> None:
        if self.deferring:
            self.pending = number
            return
        raise StopRequested(number)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            number, self.pending = self.pending, None
            raise StopRequested(number)


_stop_signals = _StopSignals()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into StopRequested (main thread) for the duration of the block."""
    previous = {number: signal.signal(number, _stop_signals.handle) for number in _StopSignals.NUMBERS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore SIGINT, SIGTERM and SIGHUP while the nodes are being stopped: a second Ctrl-C must not cut
    the stop short and leave nodes behind (a node that hangs is killed after the timeout anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _die_with_launcher() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when the launcher dies; None elsewhere.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so it is used only from the
    main thread, whose end is the process's end; the node's own parent watch covers the other cases.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it
    launcher = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != launcher:  # the launcher died between the fork and the prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


def node_command(node: str, params_file: Path, overrides_file: Path | None = None) -> list[str]:
    """The command line of one node: its module, the parameter file, then a file of overrides.

    Overrides go in a second file under the node's own name: a plain `-p` applies to `/**`, which
    the node's own section in the first file would outrank.
    """
    command = [sys.executable, "-m", f"inspection.nodes.{node}", "--ros-args", "--params-file", str(params_file)]
    if overrides_file is not None:
        command += ["--params-file", str(overrides_file)]
    return command


def write_overrides(node: str, overrides: dict[str, Any], folder: Path) -> Path:
    """Write ``overrides`` as a ROS 2 parameter file section for ``node``."""
    path = folder / f"{node}.overrides.yaml"
    path.write_text(yaml.safe_dump({node: {"ros__parameters": overrides}}), encoding="utf-8")
    return path


@dataclass
class NodeProcesses:
    """Running node processes whose output is prefixed with the node name.

    ``params_dir`` holds the override files; without one a temporary folder is made and removed by stop().
    """

    log: TextIO = sys.stdout
    params_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    _forwarders: list[threading.Thread] = field(default_factory=list)
    _own_params_dir: bool = False

    def start(self, node: str, params_file: Path, overrides: dict[str, Any] | None = None) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(runtime.configure_environment())
        overrides_file = write_overrides(node, overrides, self._overrides_folder()) if overrides else None
        with _stop_signals.deferred():
            process = subprocess.Popen(node_command(node, params_file, overrides_file), env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                       process_group=0, preexec_fn=_die_with_launcher())
            self.processes[node] = process
            forwarder = threading.Thread(target=self._forward, args=(node, process), daemon=True)
            forwarder.start()
            self._forwarders.append(forwarder)
        return process

    def _overrides_folder(self) -> Path:
        if self.params_dir is None:
            self.params_dir, self._own_params_dir = Path(tempfile.mkdtemp(prefix="inspection-params-")), True
        self.params_dir.mkdir(parents=True, exist_ok=True)
        return self.params_dir

    def _forward(self, node: str, process: subprocess.Popen) -> None:
        for line in process.stdout or ():
            if line.startswith("error: "):  # a node's start-up failure (run_node prints it so)
                self.last_error[node] = line.strip()
            self.log.write(f"[{node}] {line}")
            self.log.flush()

    def exited(self) -> dict[str, int]:
        """Nodes that have stopped, with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def describe_exits(self) -> str:
        """The stopped nodes, each with its exit code and its error line when it printed one."""
        return "; ".join(f"{name} exited {code}" + (f" ({self.last_error[name]})" if name in self.last_error else "")
                         for name, code in self.exited().items())

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the nodes in stages (clean shutdown: reports and recordings are closed), kill any node
        that outlasts its stage's timeout, then remove the temporary override folder."""
        middle = [n for n in reversed(self.processes) if n not in STOPPED_FIRST + STOPPED_LAST]
        with _signals_held():
            for stage in (STOPPED_FIRST, middle, STOPPED_LAST):
                self._stop_together([self.processes[n] for n in stage if n in self.processes], timeout_s)
            for forwarder in self._forwarders:
                forwarder.join(timeout=1.0)  # the last lines reach the log before the caller closes it
        if self._own_params_dir and self.params_dir is not None:
            shutil.rmtree(self.params_dir, ignore_errors=True)

    @staticmethod
    def _stop_together(processes: list[subprocess.Popen], timeout_s: float) -> None:
        for process in processes:
            if process.poll() is None:
                # rclpy shuts down on SIGTERM as on SIGINT; before rclpy.init the node just ends, silently
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def default_params_file(params_file: str | Path | None) -> Path:
    path = Path(params_file) if params_file else paths.config_file("pipeline.yaml")
    if not path.is_file():
        raise InputError(f"{path}: parameter file not found")
    return path


def wait_for_file(path: Path, processes: NodeProcesses, timeout_s: float) -> None:
    """Wait until ``path`` exists; fail early if a node died meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if processes.exited():
            raise RuntimeError(f"node(s) exited early: {processes.describe_exits()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_s:.0f} s")
        time.sleep(0.1)
