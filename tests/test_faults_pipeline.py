"""Fault injection through the real nodes over an isolated DDS domain: the simulator, planner, tactile
and coordinator nodes as their own processes, a fault relay on the tactile frames, and a Stage I
stand-in that asks for a region at each geometric defect.

The cell's part sits at x = 0.82 m, where regions d02 and d03 are out of the arm's reach: every run
plans 6 of 10 presses and lists d02 and d03 as not inspected (IK failure mid-plan). (Seed 1's scene
has five geometric defects since missing_fastener joined the classes and shifted the sampling.) Each test injects one more fault and
checks that the run still ends in a report that says what is missing, and that nothing measured
before the fault is lost.
"""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import yaml
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection import paths
from inspection.config import load_node_params
from inspection.records import ScanRegion
from inspection.nodes.common import LATCHED
from inspection.nodes.sim_node import make_scene
from tests.conftest import isolated_ros_env, probe_node, spin_until
from tests.fault_harness import NodeProcess, StageOneStandIn, journal_events, start_inspection, wait_for_report
from tests.fault_relay_node import relay_connected

SEED = 1
TIME_SCALE = 4.0
PRESSES = 6  # 10 planned over the five regions, 4 of them (regions d02 and d03) out of reach


class Pipeline:
    def __init__(self, node, nodes: dict[str, NodeProcess], runs, schedule) -> None:
        self.node, self.nodes, self.runs, self.schedule = node, nodes, runs, schedule

    def explain(self) -> str:
        return "\n".join(f"--- {name}\n{process.output[-3000:]}" for name, process in self.nodes.items())

    def inspect(self, first=(), then="pass", during=None):
        """One inspection with the tactile frames faulted as given; returns (run folder, report)."""
        relay = self.nodes["relay"]
        heard = relay.output.count("new schedule")
        self.schedule.publish(String(data=json.dumps({"first": list(first), "then": then})))
        assert spin_until(self.node, lambda: relay.output.count("new schedule") > heard, 30), self.explain()
        run_dir = start_inspection(self.node, self.runs)
        if during is not None:
            during(run_dir)
        return run_dir, wait_for_report(self.node, run_dir, 90, self.explain)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    document = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    document["part"]["pose"]["xyz"][0] = 0.82
    cell_file = folder / "cell.yaml"
    cell_file.write_text(yaml.safe_dump(document))
    mesh, runs = folder / "part.stl", folder / "runs"
    env = isolated_ros_env()
    with pytest.MonkeyPatch.context() as patch, probe_node(env, patch, "fault_probe") as node:
        nodes = {"sim": NodeProcess("inspection.nodes.sim_node", env, "-p", f"seed:={SEED}", "-p", "image_width:=160",
                                    "-p", "image_height:=90", "-p", f"export_mesh:={mesh}",
                                    "-p", f"time_scale:={TIME_SCALE}", "-p", f"cell_file:={cell_file}")}
        try:
            deadline = time.monotonic() + 60
            while not mesh.is_file():
                assert nodes["sim"].alive() and time.monotonic() < deadline, nodes["sim"].output
                time.sleep(0.2)
            nodes["planner"] = NodeProcess("inspection.nodes.planner_node", env, "-p", f"part_mesh:={mesh}",
                                           "-p", f"cell_file:={cell_file}")
            nodes["tactile"] = NodeProcess("inspection.nodes.tactile_node", env,
                                           "-r", "tactile/image_raw:=faulty/tactile/image_raw")
            nodes["relay"] = NodeProcess("tests.fault_relay_node", env, "-p", "input:=tactile/image_raw",
                                         "-p", "output:=faulty/tactile/image_raw", "-p", "reliable:=true")
            nodes["coordinator"] = NodeProcess("inspection.nodes.coordinator_node", env, "-p", f"run_root:={runs}",
                                               "-p", f"time_scale:={TIME_SCALE}", "-p", "execute_margin_s:=5.0")
            scene = make_scene(load_node_params("sim_node", overrides={"seed": SEED}))
            StageOneStandIn(node, [ScanRegion(d.id, tuple(d.center), tuple(d.normal), 0.004)
                                   for d in scene.defects if d.is_geometric])
            schedule = node.create_publisher(String, "fault_relay/schedule", LATCHED)
            diagnostics: list[dict] = []
            node.create_subscription(String, "inspection/diagnostics", lambda m: diagnostics.append(json.loads(m.data)),
                                     10)
            pipeline = Pipeline(node, nodes, runs, schedule)
            # Up: the tactile node counts (its diagnostics) and the relay hears the simulator and is heard.
            assert spin_until(node, lambda: any(d["node"] == "tactile_node" for d in diagnostics)
                              and relay_connected(nodes["relay"].output), 90), pipeline.explain()
            pipeline.diagnostics = diagnostics
            yield pipeline
        finally:
            for process in nodes.values():
                process.stop()


def _not_inspected(report) -> int:
    """Presses without a finding, summed over the report's per-region lines."""
    lines = [re.fullmatch(r"region d\d+: (\d) of 2 presses gave no tactile finding", m) for m in report.missing]
    return sum(int(line.group(1)) for line in lines if line)


def _finding_ids(records: list[dict]) -> list[str]:
    return [json.loads(r["data"])["finding"]["id"] for r in records]


def test_unreachable_region_is_planned_around_and_reported_not_inspected(pipeline) -> None:
    run_dir, report = pipeline.inspect()
    assert report.summary.tactile_presses == PRESSES, pipeline.explain()
    unreachable = [m for m in report.missing if re.match(r"region d0[23]: unreachable", m)]
    assert len(unreachable) == 4 and all("IK did not converge" in m for m in unreachable)
    assert not report.complete and len(report.missing) == 4  # nothing else is missing
    assert len(journal_events(run_dir, "finding")) == PRESSES


def test_garbage_tactile_frames_are_skipped_named_and_reported(pipeline) -> None:
    _, report = pipeline.inspect(first=("wrong_size", "wrong_encoding", "empty"))
    assert report.summary.tactile_presses == PRESSES - 3, pipeline.explain()
    assert f"3 of {PRESSES} planned presses gave no tactile finding" in report.missing
    assert _not_inspected(report) == 3  # and which regions they were in
    assert any(m.startswith("stopped in phase execute: tactile findings") for m in report.missing)
    output = pipeline.nodes["tactile"].output
    assert "data has" in output and "expected step*height" in output  # wrong size, empty
    assert "encoding 'yuv422_yuy2' is not supported" in output
    assert pipeline.nodes["tactile"].alive()


def test_tactile_sensor_falling_silent_ends_in_a_partial_report(pipeline) -> None:
    # The frames' publisher goes quiet after two presses (a dead sensor, or DDS losing its traffic).
    run_dir, report = pipeline.inspect(first=("pass", "pass"), then="drop")
    assert report.summary.tactile_presses == 2, pipeline.explain()
    assert f"{PRESSES - 2} of {PRESSES} planned presses gave no tactile finding" in report.missing
    assert _not_inspected(report) == PRESSES - 2
    assert len(journal_events(run_dir, "finding")) == 2
    assert "no tactile frame within 5 s" in pipeline.nodes["tactile"].output


def test_estop_mid_scan_halts_the_arm_and_ends_in_a_partial_report(pipeline) -> None:
    node = pipeline.node
    joints: list[JointState] = []
    node.create_subscription(JointState, "joint_states", joints.append, 50)
    estop, reset = (node.create_client(Trigger, name) for name in ("inspection/estop", "inspection/estop_reset"))

    def press_estop(run_dir) -> None:
        assert spin_until(node, lambda: journal_events(run_dir, "finding"), 60), pipeline.explain()
        future = estop.call_async(Trigger.Request())
        assert spin_until(node, future.done, 10) and future.result().success

    try:
        run_dir, report = pipeline.inspect(during=press_estop)
        assert any("emergency stop pressed (inspection/estop) while waiting for tactile findings" in m
                   for m in report.missing), report.missing
        assert 1 <= report.summary.tactile_presses < PRESSES
        assert journal_events(run_dir, "estop")[-1]["active"] is True
        count = len(joints)
        spin_until(node, lambda: False, 1.0)
        assert len(joints) > count + 10 and all(np.array_equal(m.position, joints[-1].position)
                                                for m in joints[count:])  # the arm holds
        refused = node.create_client(Trigger, "inspection/start").call_async(Trigger.Request())
        assert spin_until(node, refused.done, 10) and not refused.result().success
        assert "emergency stop active" in refused.result().message
    finally:
        future = reset.call_async(Trigger.Request())
        spin_until(node, future.done, 10)
        spin_until(node, lambda: False, 1.0)  # the coordinator hears the reset


def test_tactile_node_killed_mid_scan_loses_nothing_journalled_and_restarts(pipeline) -> None:
    tactile = pipeline.nodes["tactile"]
    before: list[str] = []

    def kill_after_two_findings(run_dir) -> None:
        assert spin_until(pipeline.node, lambda: len(journal_events(run_dir, "finding")) >= 2, 60), pipeline.explain()
        tactile.kill()
        before.extend(_finding_ids(journal_events(run_dir, "finding")))

    run_dir, report = pipeline.inspect(during=kill_after_two_findings)
    assert not report.complete and report.summary.tactile_presses >= len(before) >= 2
    assert any(m.endswith("planned presses gave no tactile finding") for m in report.missing)
    journalled = set(_finding_ids(journal_events(run_dir, "finding")))
    assert set(before) <= journalled
    in_report = {t for defect in report.defects for t in defect.tactile_ids}
    felt = {json.loads(r["data"])["finding"]["id"] for r in journal_events(run_dir, "finding")
            if json.loads(r["data"])["finding"]["class_name"] != "none"}
    assert felt & set(before) <= in_report  # every defect felt before the kill is in the report
    # Restarted, it comes back on the same topics (latched background and plan included).
    pipeline.diagnostics.clear()
    tactile.start()
    assert spin_until(pipeline.node, lambda: any(d["node"] == "tactile_node" for d in pipeline.diagnostics), 90)
