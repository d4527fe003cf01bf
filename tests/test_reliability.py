"""Reliability against a careless user, a crash or a hostile file (issue #17): the pipeline's node
processes never outlive their launcher, a demo never shares a DDS domain with another graph, and
every bad input is named before any work starts."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from inspection import runtime
from inspection.launcher import PIPELINE_NODES, SIM_NODES
from inspection.nodes import domain_check
from inspection.nodes.common import PARENT_GONE_GRACE_S
from inspection.parent_watch import PARENT_POLL_S
from inspection.paths import model_file
from tests.conftest import isolated_ros_env, probe_node, run_cli

NODE_COUNT = len(SIM_NODES + PIPELINE_NODES) + 1  # and the recorder
needs_detector = pytest.mark.skipif(not model_file("defect_detector.onnx").is_file(), reason="no shipped detector")


def _start_demo(out: Path, env: dict[str, str]) -> subprocess.Popen:
    """`inspection demo` in its own session, as a terminal would start it."""
    return subprocess.Popen([sys.executable, "-m", "inspection.cli.main", "demo", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _nodes_when_up(demo: subprocess.Popen, count: int, timeout_s: float = 120.0) -> list[psutil.Process]:
    """The demo's node processes once ``count`` have started (the recorder, the last, makes NODE_COUNT)."""
    launcher = psutil.Process(demo.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert demo.poll() is None, demo.communicate()
        nodes = launcher.children(recursive=True)
        if len(nodes) >= count:
            return nodes
        time.sleep(0.05)
    raise AssertionError(f"the demo did not start {count} nodes within {timeout_s:.0f} s")


def _survivors(nodes: list[psutil.Process], within_s: float) -> list[psutil.Process]:
    """Nodes still running ``within_s`` after the launcher went away (zombies count as gone)."""
    deadline = time.monotonic() + within_s
    while True:
        alive = [n for n in nodes if n.is_running() and n.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _stop(demo: subprocess.Popen, signal_number: int) -> None:
    """SIGINT as Ctrl-C sends it, to the terminal's whole foreground process group; the others to the demo."""
    if signal_number == signal.SIGINT:
        os.killpg(demo.pid, signal_number)
    else:
        os.kill(demo.pid, signal_number)


@needs_detector
@pytest.mark.parametrize(("signal_number", "when"), [
    (signal.SIGKILL, "up"), (signal.SIGTERM, "up"), (signal.SIGINT, "up"), (signal.SIGINT, "starting"),
], ids=["SIGKILL", "SIGTERM", "SIGINT", "SIGINT-while-starting"])
def test_no_node_outlives_the_demo(tmp_path, signal_number, when) -> None:
    # A user's files in the demo folder, as an earlier run of the same name would have left them.
    out = tmp_path / "demo"
    out.mkdir()
    (out / "part.stl").write_text("the user's part")
    (out / "nodes.log").write_text("the first demo's log")
    env = {**isolated_ros_env(), "TMPDIR": str(tmp_path)}
    demo = _start_demo(out, env)
    nodes: list[psutil.Process] = []
    try:
        nodes = _nodes_when_up(demo, count=NODE_COUNT if when == "up" else 3)
        time.sleep(2.0 if when == "up" else 0.0)  # "up": every node past its imports and spinning
        sent = time.monotonic()
        _stop(demo, signal_number)
        demo.wait(timeout=30)
        # A node's clean shutdown may first finish the render or inference it is in; past the grace it exits
        # regardless, so a node still running then has outlived the demo.
        survivors = _survivors(nodes, within_s=PARENT_GONE_GRACE_S + PARENT_POLL_S + 2.0)
        stopped_s = time.monotonic() - sent
        print(f"{signal.Signals(signal_number).name} ({when}): demo exit {demo.returncode}, {len(survivors)} "
              f"nodes left, stopped in {stopped_s:.1f} s")
        assert not survivors, [" ".join(n.cmdline()[1:3]) for n in survivors]
    finally:
        for node in nodes:
            if node.is_running():
                node.kill()
        if demo.poll() is None:
            demo.kill()
        _, stderr = demo.communicate()
    assert (out / "part.stl").read_text() == "the user's part"
    assert (out / "nodes.log").read_text() == "the first demo's log"
    (run_folder,) = out.glob("demo_*")
    assert not list(tmp_path.glob("inspection-params-*"))  # the override files live in the run folder
    if signal_number != signal.SIGKILL:
        assert demo.returncode == 128 + signal_number, stderr
        assert "stopped:" in stderr and str(run_folder / "nodes.log") in stderr, stderr
        assert "Traceback" not in stderr and "Traceback" not in (run_folder / "nodes.log").read_text()


def test_demo_refuses_an_exported_domain_that_is_in_use(tmp_path, monkeypatch) -> None:
    env = isolated_ros_env()
    with probe_node(env, monkeypatch, prefix="someone_else") as other:
        other_name = other.get_name()
        started = time.monotonic()
        result = run_cli("demo", "--out", str(tmp_path), env=env, timeout=60)
        seconds = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # Named when discovery answers within its 5 s; on a machine loaded beyond that, by the port it holds.
    users = (f"/{other_name}", "a DDS participant holding UDP port ")
    assert any(f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} is in use by {who}" in result.stderr for who in users)
    assert "unset ROS_DOMAIN_ID" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # refused before the run folder or any node
    print(f"refused in {seconds:.1f} s (CLI start-up included)")


def test_run_refuses_a_domain_where_the_pipeline_already_runs(monkeypatch, capsys) -> None:
    import rclpy
    from rclpy.node import Node

    from inspection.cli.main import main

    env = isolated_ros_env()
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        monkeypatch.setenv(key, env[key])
    context = rclpy.Context()
    rclpy.init(context=context)
    coordinator = Node("coordinator_node", context=context)  # as an earlier `inspection run` left it
    try:
        code = main(["run"])
    finally:
        coordinator.destroy_node()
        rclpy.shutdown(context=context)
    assert code == 1
    assert f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}: /coordinator_node already running" in capsys.readouterr().err


def test_parallel_test_workers_never_draw_the_same_private_domain() -> None:
    """`make test` runs two pytest-xdist workers: each draws from its own share of 1..101."""
    draws = [{int(runtime.private_domain_id(share, 2)) for _ in range(400)} for share in (0, 1)]
    assert not draws[0] & draws[1]
    assert all(1 <= d <= 101 for d in draws[0] | draws[1]) and len(draws[0] | draws[1]) > 90
    assert {int(runtime.private_domain_id()) for _ in range(2000)} == set(range(1, 102))


def test_a_private_domain_is_never_one_in_use(monkeypatch) -> None:
    env = isolated_ros_env()
    busy = int(env["ROS_DOMAIN_ID"])
    free = busy % 101 + 1
    picks = iter([str(busy), str(free)])
    with probe_node(env, monkeypatch):
        monkeypatch.delenv("ROS_DOMAIN_ID")
        monkeypatch.setattr(runtime, "private_domain_id", lambda: next(picks))
        assert domain_check.claim_free_domain() == free
        assert os.environ["ROS_DOMAIN_ID"] == str(free)


def test_a_node_stops_when_any_launcher_dies(tmp_path) -> None:
    """What `ros2 launch` on the cell relies on (no parent-death signal there): the node's own parent watch."""
    launcher = subprocess.Popen(  # a stand-in launcher: a shell with the node as its child
        ["sh", "-c", f'"{sys.executable}" -m inspection.nodes.recorder_node --ros-args '
                     f'-p output:="{tmp_path}/run.mcap" & wait'],
        env=isolated_ros_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run.mcap").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        (node,) = psutil.Process(launcher.pid).children()
        launcher.kill()
        survivors = _survivors([node], within_s=5.0)
        assert not survivors
        assert (tmp_path / "run.mcap").read_bytes().endswith(b"\x89MCAP0\r\n")  # closed cleanly: footer written
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.communicate()


@needs_detector
def test_no_campaign_worker_outlives_a_killed_campaign(tmp_path) -> None:
    """The same pattern elsewhere: `eval campaign --workers 2` spawns a process pool, whose workers used to
    go on computing parts (or wait forever) under init after the driver's kill -9."""
    campaign = subprocess.Popen(
        [sys.executable, "-m", "inspection.cli.main", "eval", "campaign", "--parts", "6", "--seed", "3",
         "--workers", "2", "--json", str(tmp_path / "campaign.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[psutil.Process] = []
    try:
        driver = psutil.Process(campaign.pid)
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [p for p in driver.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
            time.sleep(0.1)
        assert len(workers) == 2, "the campaign did not start its workers"
        campaign.kill()  # while the workers are still importing: they must notice a parent gone before they looked
        campaign.wait()
        survivors = _survivors(workers, within_s=5.0)
        assert not survivors, [w.pid for w in survivors]
    finally:
        for worker in workers:
            if worker.is_running():
                worker.kill()


@needs_detector
def test_a_node_dying_mid_run_ends_the_demo_with_its_partial_report_named(tmp_path) -> None:
    demo = _start_demo(tmp_path, isolated_ros_env())
    try:
        nodes = _nodes_when_up(demo, count=NODE_COUNT)
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("demo_*/run_*/journal.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the inspection has started: the coordinator made its run folder
        (tactile,) = [n for n in nodes if "inspection.nodes.tactile_node" in n.cmdline()]
        tactile.kill()
        _, stderr = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    (run_dir,) = [path for path in tmp_path.glob("demo_*/run_*") if path.is_dir()]  # beside run_*.mcap
    assert demo.returncode == 1, stderr
    assert f"node(s) died: tactile_node exited {-signal.SIGKILL}; the inspection was stopped; partial report in " \
           f"{run_dir}; node output in {run_dir.parent / 'nodes.log'}" in stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert not report["complete"] and "the coordinator was shut down" in report["missing"][0], report["missing"]
