"""Start the pipeline's nodes as processes, with the parameter file, as `ros2 launch` would.

``launch/pipeline.launch.py`` (on the cell) and ``inspection run`` / ``inspection demo`` (anywhere)
both take the node list from here, so they start the same nodes with the same parameters.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from inspection import paths, runtime
from inspection.errors import InputError

# The nodes of an inspection, in start order; the simulator stands in for the cell's drivers.
PIPELINE_NODES: tuple[str, ...] = ("vision_node", "planner_node", "tactile_node", "coordinator_node")
SIM_NODES: tuple[str, ...] = ("sim_node",)


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
    """Running node processes whose output is prefixed with the node name."""

    log: TextIO = sys.stdout
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    overrides_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="inspection-params-")))

    def start(self, node: str, params_file: Path, overrides: dict[str, Any] | None = None) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(runtime.configure_environment())
        overrides_file = write_overrides(node, overrides, self.overrides_dir) if overrides else None
        process = subprocess.Popen(node_command(node, params_file, overrides_file), env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.processes[node] = process
        threading.Thread(target=self._forward, args=(node, process), daemon=True).start()
        return process

    def _forward(self, node: str, process: subprocess.Popen) -> None:
        for line in process.stdout or ():
            self.log.write(f"[{node}] {line}")
            self.log.flush()

    def exited(self) -> dict[str, int]:
        """Nodes that have stopped, with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGINT every node (clean shutdown: reports and recordings are closed), then kill stragglers."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
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
            raise RuntimeError(f"node(s) exited early: {processes.exited()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_s:.0f} s")
        time.sleep(0.1)
