"""`inspection run` and launch/pipeline.launch.py start the same nodes with the same parameters, and
the whole simulated inspection runs end to end over real DDS (`inspection demo`)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from inspection import paths
from inspection.cell import load_cell
from inspection.cli.run import parse_overrides
from inspection.config import load_node_params
from inspection.errors import InputError
from inspection.launcher import PIPELINE_NODES, SIM_NODES, node_command, write_overrides
from inspection.paths import model_file
from inspection.sim.camera import Camera
from tests.conftest import run_cli

LAUNCH = paths.share_dir() / "launch" / "pipeline.launch.py"


def test_launch_file_and_inspection_run_share_the_node_list_and_parameter_file() -> None:
    tree = ast.parse(LAUNCH.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "inspection.launcher" for alias in node.names}
    assert "PIPELINE_NODES" in imported
    assert "pipeline.yaml" in LAUNCH.read_text()
    for name in PIPELINE_NODES + SIM_NODES:
        load_node_params(name)  # every started node has a validated section in the same file
        assert (paths.share_dir() / "inspection" / "nodes" / f"{name}.py").is_file()


def test_overrides_go_in_a_node_section_after_the_parameter_file(tmp_path) -> None:
    overrides = parse_overrides(["vision_node.confidence=0.4", "sim_node.seed=3", "vision_node.model=x.onnx"])
    assert overrides == {"vision_node": {"confidence": 0.4, "model": "x.onnx"}, "sim_node": {"seed": 3}}
    path = write_overrides("vision_node", overrides["vision_node"], tmp_path)
    command = node_command("vision_node", Path("config/pipeline.yaml"), path)
    assert command[-4:] == ["--params-file", "config/pipeline.yaml", "--params-file", str(path)]
    assert load_node_params("vision_node", path)["confidence"] == 0.4
    with pytest.raises(InputError, match="NODE.KEY=VALUE"):
        parse_overrides(["confidence=0.4"])


@pytest.mark.skipif(not model_file("defect_detector.onnx").is_file(), reason="no shipped detector model")
def test_demo_inspects_a_simulated_part_end_to_end(tmp_path) -> None:
    # Seed 5 at the shipped operating point: Stage I flags geometric defects, so every stage does real work.
    result = run_cli("demo", "--out", str(tmp_path), "--seed", "5", "--timeout", "240", timeout=400)
    (run_root,) = tmp_path.glob("demo_*")  # one new folder per run
    assert result.returncode == 0, result.stderr[-3000:] + (run_root / "nodes.log").read_text()[-5000:]
    assert "Stage I (vision) found" in result.stdout and "after Stage II (touch)" in result.stdout
    (report_file,) = run_root.glob("run_*/report.json")
    report = json.loads(report_file.read_text())
    summary = report["summary"]
    assert report["complete"], (report["missing"], (run_root / "nodes.log").read_text()[-5000:])
    assert summary["final_recall"] is not None and summary["final_recall"] >= summary["stage1_recall"]
    assert summary["tactile_presses"] > 0 and summary["cycle_time_s"] > 0
    assert any(d["vision_ids"] and d["tactile_ids"] for d in report["defects"])  # confirmed by touch
    assert summary["full_coverage_presses"] > summary["tactile_presses"]
    # The camera covers the part in several views: Stage I finds defects outside the fixed cell camera's image.
    fixed = Camera.from_cell(load_cell())
    seen = np.array([d["position"] for d in report["defects"] if d["vision_ids"]])
    pixels, depth = fixed.project(seen)
    outside = (pixels[:, 0] < 0) | (pixels[:, 0] >= fixed.width) | (pixels[:, 1] < 0) | (pixels[:, 1] >= fixed.height)
    assert np.any(outside | (depth <= 0)), pixels
    assert (report_file.parent / "report.html").is_file() and (report_file.parent / "journal.jsonl").is_file()
    assert list(run_root.glob("run_*.mcap"))
    _check_evidence(report_file.parent, report)
    latency = json.loads((report_file.parent / "latency.json").read_text())
    assert latency["tactile press -> finding"]["count"] == summary["tactile_presses"]
    assert 0 < latency["camera frame -> hypotheses"]["to_published_ms"]["median"] < 60_000
    assert "latency median/p95" in result.stdout


def _check_evidence(run_dir: Path, report: dict) -> None:
    """Every defect names the evidence its stages can give, the files exist, and the page embeds each one."""
    for defect in report["defects"]:
        evidence = defect["evidence"]
        assert all((run_dir / path).is_file() for path in evidence.values()), evidence
        if defect["vision_ids"]:
            assert "camera" in evidence, defect
        if defect["tactile_ids"]:
            assert {"tactile", "heightmap"} <= set(evidence), defect
    html = (run_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == sum(len(d["evidence"]) for d in report["defects"])
