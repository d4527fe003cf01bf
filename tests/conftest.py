"""Shared fixtures: ROS 2 isolation (random domain, localhost discovery) for tests that use DDS."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from inspection import runtime


ROS_ISOLATION_KEYS = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE",
                      "RMW_IMPLEMENTATION")


def xdist_worker_share() -> tuple[int, int]:
    """This pytest-xdist worker's index and the number of workers (0, 1 without xdist): `make test` runs
    two, and two tests running at once must never share a ROS domain."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return (int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])) if worker else (0, 1)


def isolated_ros_env() -> dict[str, str]:
    """Environment for child processes that talk DDS: a random domain, localhost only, our profile."""
    env = dict(os.environ)
    env.update(runtime.configure_environment())
    env["ROS_DOMAIN_ID"] = runtime.private_domain_id(*xdist_worker_share())
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def probe_node(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, prefix: str = "test_probe") -> Iterator:
    """An rclpy node in the test process, on the same isolated domain as the children started with ``env``."""
    import rclpy
    from rclpy.node import Node

    for key in ROS_ISOLATION_KEYS:
        monkeypatch.setenv(key, env[key])
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node(f"{prefix}_{random.randint(0, 1_000_000)}", context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture(autouse=True, scope="session")
def frame_work_on_one_thread() -> Iterator[None]:
    """The test process computes on one torch and one OpenCV thread, as the nodes, the campaign's workers and
    the CLI's frame commands do (``tactile.runtime.tune_for_frames``): beside the node processes a test
    starts, OpenMP threads spinning on 2 shared cores made a tactile reference fit 13x slower (6.7 s
    against 0.5 s a frame)."""
    import cv2
    import torch

    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(threads[0])
    cv2.setNumThreads(threads[1])


@pytest.fixture()
def ros_env() -> dict[str, str]:
    return isolated_ros_env()


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `inspection` CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "inspection.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


@pytest.fixture()
def ros_node(ros_env, monkeypatch):
    with probe_node(ros_env, monkeypatch) as node:
        yield node


def spin_until(node, condition, timeout_s: float) -> bool:
    """Spin ``node`` until ``condition()`` holds or the timeout passes; returns whether it held."""
    import time

    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if condition():
                return True
            executor.spin_once(timeout_sec=0.1)
        return condition()
    finally:
        executor.remove_node(node)


def start_node(module: str, env: dict[str, str], *ros_args: str) -> subprocess.Popen:
    """Start one of our nodes as its own process with ``--ros-args`` (e.g. ``-p name:=value``)."""
    return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_node(process: subprocess.Popen) -> str:
    """Interrupt a node like Ctrl-C would and return its output."""
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.stdout.read() if process.stdout else ""


def load_edited_cell(tmp_path, edit):
    """Load the shipped cell.yaml after ``edit`` changed its parsed document (a bad-value test's input)."""
    import yaml

    from inspection import paths
    from inspection.cell import load_cell

    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    edit(document)
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_cell(path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path, str]:
    """One epoch at 64 px: enough to produce real files through the real command, not a useful model.
    Shared by the vision CLI and confidence tests, which copy what they change."""
    from tests.test_vision_cli import write_blob_dataset

    root = tmp_path_factory.mktemp("vision")
    data = write_blob_dataset(root / "data")
    out = root / "models" / "det.pt"
    done = run_cli("train", "vision", "--dataset", str(data), "--epochs", "1", "--imgsz", "64", "--batch", "8",
                   "--workers", "0", "--runs", str(root / "runs"), "--name", "tiny", "--out", str(out), timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return data, out, done.stdout + done.stderr
