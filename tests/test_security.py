"""Security: model files cannot run code when loaded, every string in the HTML report is escaped, and
the nodes open no socket beyond what ROS 2 itself opens. (Dataset paths that would leave the dataset
root are tested with the readers: tests/test_datasets_readers.py, tests/test_datasets_fuzz.py.)"""
from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from inspection.errors import InputError
from inspection.fusion.report import write_report
from inspection.records import FusedDefect, InspectionReport, ReportSummary, Source, Verdict
from inspection.paths import model_file
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier
from inspection.vision.backends import UltralyticsBackend
from inspection.vision.checkpoint import check_checkpoint
from tests.fault_harness import NodeProcess


class _Payload:
    """Unpickling this creates a file: proof that loading ran code of the file's choosing."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture()
def hostile_checkpoint(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = tmp_path / "defect_detector.pt"
    torch.save({"model": _Payload(marker), "epoch": 1}, path)
    return path, marker


def test_the_payload_really_runs_when_loaded_naively(hostile_checkpoint) -> None:
    path, marker = hostile_checkpoint
    torch.load(path, weights_only=False)  # what Ultralytics does with a .pt
    assert marker.exists()


def test_detector_loader_refuses_a_checkpoint_that_would_run_code(hostile_checkpoint) -> None:
    path, marker = hostile_checkpoint
    with pytest.raises(InputError, match=r"defect_detector.pt: refused: it names \['io.open'\], which are not "
                                         r"network layers"):
        UltralyticsBackend(path, imgsz=320, conf=0.25, iou=0.5)
    assert not marker.exists()


def test_tactile_classifier_loader_refuses_it_too(hostile_checkpoint) -> None:
    path, marker = hostile_checkpoint
    with pytest.raises(InputError, match="not a tactile classifier state_dict"):
        TactileClassifier(path)
    assert not marker.exists()


def test_a_plain_pickle_is_not_a_checkpoint_and_never_unpickled(tmp_path) -> None:
    marker, path = tmp_path / "code_ran", tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    with pytest.raises(InputError, match="old.pt: not a PyTorch zip checkpoint"):
        check_checkpoint(path)
    with pytest.raises(InputError):
        TactileClassifier(path)
    assert not marker.exists()


def test_shipped_detector_checkpoint_passes_the_check() -> None:
    check_checkpoint(model_file("defect_detector.pt"))  # only torch and Ultralytics layer classes


def test_calibration_with_pickled_objects_is_refused(tmp_path) -> None:
    marker, path = tmp_path / "code_ran", tmp_path / "calibration.npz"
    np.savez(path, version=np.array(1), table=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(InputError, match="calibration.npz: not a tactile calibration file .*allow_pickle=False"):
        Calibration.load(path)
    assert not marker.exists()


HOSTILE = '<script>alert("{}")</script><img src=x onerror=alert(1)>&amp;'


def _hostile_strings(record, counter: list[int]):
    """A copy of a report record with every free-text string replaced by a numbered hostile one."""
    changes = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if field.name in ("class_name", "source", "created_utc"):
            continue  # validated against fixed choices or a timestamp format
        if isinstance(value, str):
            counter[0] += 1
            changes[field.name] = HOSTILE.format(counter[0])
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            counter[0] += 1
            changes[field.name] = tuple(HOSTILE.format(f"{counter[0]}.{i}") for i in range(len(value)))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            counter[0] += 1
            changes[field.name] = [HOSTILE.format(f"{counter[0]}.{i}") for i in range(len(value))]
        elif isinstance(value, dict) and value:
            counter[0] += 1
            changes[field.name] = {k: HOSTILE.format(f"{counter[0]}.{k}") for k in value}
        elif dataclasses.is_dataclass(value):
            changes[field.name] = _hostile_strings(value, counter)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            changes[field.name] = [_hostile_strings(v, counter) for v in value]
    return dataclasses.replace(record, **changes)


def test_every_string_in_the_html_report_is_escaped(tmp_path) -> None:
    defects = [FusedDefect("d0", "dent", Source.BOTH, 0.9, (0.05, 0.02, 0.0), (0, 0, 1), 8.0, 9.0, 0.31,
                           Verdict(False, "dent.max_depth_mm 0.25"), ("h0",), ("t0",), {"camera": "evidence/c.png"}),
               FusedDefect("d1", "stain", Source.VISION, 0.6, (-0.1, 0.0, 0.0), (0, 0, 1), 10.0, 20.0)]
    report = InspectionReport("run_7", "panel", "2026-11-24T10:00:00Z", ReportSummary(0.5, 1.0, 1.0, 4, 300, 61.5),
                              defects, False, ["region r2: unreachable"])
    counter = [0]
    hostile = _hostile_strings(report, counter)
    html = write_report(tmp_path, hostile).read_text()
    assert counter[0] >= 8
    assert "<script>" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html  # the part id, the run id and the missing items are shown, escaped


def _sockets(pid: int) -> tuple[list, list, int]:
    """(TCP sockets listening, UNIX sockets, UDP socket count) of a process."""
    connections = psutil.Process(pid).net_connections(kind="all")
    listening = [c for c in connections if c.type == 1 and c.status == psutil.CONN_LISTEN]
    unix = [c for c in connections if c.family.name == "AF_UNIX"]
    udp = sum(1 for c in connections if c.type == 2 and c.family.name != "AF_UNIX")
    return listening, unix, udp


def test_nodes_listen_on_nothing_beyond_what_ros_opens(ros_env, tmp_path) -> None:
    mesh = tmp_path / "part.stl"
    bare = subprocess.Popen([sys.executable, "-c", "import rclpy; rclpy.init(); rclpy.spin(rclpy.create_node('bare'))"],
                            env=ros_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes = {"sim_node": NodeProcess("inspection.nodes.sim_node", ros_env, "-p", "image_width:=160",
                                     "-p", "image_height:=90", "-p", f"export_mesh:={mesh}")}
    try:
        deadline = time.monotonic() + 60
        while not mesh.is_file():
            assert nodes["sim_node"].alive() and time.monotonic() < deadline, nodes["sim_node"].output
            time.sleep(0.2)
        for name in ("vision_node", "planner_node"):
            nodes[name] = NodeProcess(f"inspection.nodes.{name}", ros_env, "-p", f"part_mesh:={mesh}")
        for name in ("tactile_node", "coordinator_node"):
            nodes[name] = NodeProcess(f"inspection.nodes.{name}", ros_env)
        # Up: each has logged its start (the planner and vision load models and meshes first).
        deadline = time.monotonic() + 120
        ready = {"sim_node": "simulated", "vision_node": "", "planner_node": "planner ready", "tactile_node": "",
                 "coordinator_node": "ready"}
        while not all(marker in nodes[name].output for name, marker in ready.items()):
            assert all(p.alive() for p in nodes.values()) and time.monotonic() < deadline, \
                {n: p.output[-500:] for n, p in nodes.items()}
            time.sleep(0.5)
        time.sleep(3.0)  # vision and tactile: subscriptions made after their models load
        listening, unix, udp_bare = _sockets(bare.pid)
        assert not listening and not unix and udp_bare > 0
        for name, process in nodes.items():
            listening, unix, udp = _sockets(process.process.pid)
            assert not listening, f"{name} listens on TCP: {listening}"
            assert not unix, f"{name} has UNIX sockets: {unix}"
            assert udp <= udp_bare, f"{name}: {udp} UDP sockets, a bare rclpy node has {udp_bare}"
    finally:
        for process in nodes.values():
            process.stop()
        bare.terminate()
        bare.wait(timeout=10)


def test_a_training_run_checkpoint_with_its_settings_record_passes(tmp_path) -> None:
    from ultralytics.utils import IterableSimpleNamespace

    path = tmp_path / "best.pt"
    torch.save({"model": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), "train_args": IterableSimpleNamespace(epochs=3)},
               path)
    check_checkpoint(path)
