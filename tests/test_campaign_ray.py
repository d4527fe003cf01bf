"""The campaign on Ray (`inspection eval campaign --executor ray`): a worker killed mid-campaign costs only
its part, the rerun does it, and the records and summary are then the local executor's on the same seed;
a missing Ray is one clear line. Two small parts with the lightest ablation (vision-only: no presses) keep
it to about a minute on two cores."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from inspection.cli.main import main
from inspection.paths import model_file
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(not model_file("defect_detector.onnx").is_file(), reason="no shipped detector model")

PARTS = 2
CAMPAIGN = ("eval", "campaign", "--parts", str(PARTS), "--seed", "424", "--ablation", "vision-only",
            "--part-scale", "0.5", "--width", "960", "--height", "540")
RAY_DAEMONS = ("raylet", "gcs_server")
WALL_TIME_KEYS = ("wall_s_per_part", "wall_s_per_part_max", "wall_s_per_step")  # this machine's, not results


def _records(out: Path) -> dict[str, dict[str, Any]]:
    """Every per-part record of the campaign OUT, without its wall times."""
    records = {}
    for path in sorted(out.with_name(out.stem + "_parts").glob("part_*.json")):
        record = json.loads(path.read_text())
        record.pop("wall_s")
        records[path.name] = record
    return records


def _figures(out: Path) -> dict[str, Any]:
    """The summary's figures: everything but wall times and where the files are."""
    summary = json.loads(out.read_text())
    for row in (summary, *summary["ablations"].values()):
        for key in WALL_TIME_KEYS:
            row.pop(key)
    for key in ("parts_folder", "outputs"):
        summary.pop(key)
    return summary


def _ray_daemons() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in RAY_DAEMONS}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The reference: the same campaign in this machine's single local worker."""
    out = tmp_path_factory.mktemp("local") / "campaign.json"
    result = run_cli(*CAMPAIGN, "--json", str(out), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _part_workers(driver: psutil.Process) -> list[psutil.Process]:
    """The Ray worker processes of the driver's private instance that are running a part now."""
    busy = []
    for process in driver.children(recursive=True):
        try:
            if process.cmdline()[:1] == ["ray::PartWorker.records"]:
                busy.append(process)
        except psutil.NoSuchProcess:
            continue
    return busy


@pytest.mark.slow
def test_ray_gives_the_local_figures_and_a_killed_worker_costs_only_its_part(tmp_path, local_run) -> None:
    """Both parts end up computed by Ray workers (one by the campaign whose other worker is killed, one by
    the rerun), so the comparison with the local run covers Ray's records and figures part by part."""
    daemons_before = _ray_daemons()
    out = tmp_path / "campaign.json"
    command = [sys.executable, "-m", "inspection.cli.main", *CAMPAIGN, "--json", str(out), "--executor", "ray",
               "--workers", "2"]
    campaign = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        driver, deadline, busy = psutil.Process(campaign.pid), time.monotonic() + 120, []
        while len(busy) < PARTS and campaign.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            busy = _part_workers(driver)
        assert len(busy) == PARTS, "the campaign ended before both workers had a part"
        busy[0].send_signal(signal.SIGKILL)
        _stdout, stderr = campaign.communicate(timeout=240)
    finally:
        if campaign.poll() is None:
            campaign.kill()
            campaign.wait()
    assert campaign.returncode == 1, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 parts lost: their worker died (part "), stderr[-3000:]
    assert len(_records(out)) == PARTS - 1  # the other worker's part is stored
    assert not out.exists()

    result = run_cli(*CAMPAIGN, "--json", str(out), "--executor", "ray", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming: {PARTS - 1} of {PARTS} parts already done" in result.stderr
    assert _records(out) == _records(local_run)
    assert _figures(out) == _figures(local_run)
    assert _ray_daemons() <= daemons_before


def test_without_ray_the_ray_executor_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    out = tmp_path / "campaign.json"
    assert main([*CAMPAIGN, "--json", str(out), "--executor", "ray"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: --executor ray needs Ray: pip install .[ray]"]
    assert not out.with_name("campaign_parts").exists()


@pytest.mark.parametrize("flags, message", [
    (("--ray-address", "127.0.0.1:6379"), "--ray-address 127.0.0.1:6379: only with --executor ray"),
    (("--executor", "ray", "--workers", "0"), "--workers 0"),
    (("--executor", "ray", "--ray-address", "127.0.0.1:9"), "--ray-address 127.0.0.1:9: no Ray head answers there"),
])
def test_bad_executor_flags_give_one_line_and_exit_1(tmp_path, flags, message) -> None:
    result = run_cli(*CAMPAIGN, "--json", str(tmp_path / "c.json"), *flags)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "c_parts").exists()
