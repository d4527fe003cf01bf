"""report.json / report.html: schema, escaping, self-contained page, re-rendering from the CLI."""
from __future__ import annotations

import json

import cv2
import numpy as np

from inspection.fusion.report import write_report
from inspection.model import FusedDefect, InspectionReport, ReportSummary, Source, Verdict
from tests.conftest import run_cli


def _report(part_id: str = "panel_1", complete: bool = True) -> InspectionReport:
    defects = [
        FusedDefect("d0", "dent", Source.BOTH, 0.97, (0.05, 0.02, 0.0), (0, 0, 1), 8.0, 9.0, 0.31,
                    Verdict(False, "dent.max_depth_mm 0.25 (zone A)"), ("h0",), ("t0",)),
        FusedDefect("d1", "stain", Source.VISION, 0.6, (-0.1, 0.0, 0.0), (0, 0, 1), 10.0, 20.0),
    ]
    return InspectionReport("run_7", part_id, "2026-11-24T10:00:00Z",
                            ReportSummary(0.5, 1.0, 1.0, 4, 300, 61.5), defects, complete,
                            [] if complete else ["region r2: tactile sensor silent"])


def test_report_json_and_self_contained_html(tmp_path) -> None:
    (tmp_path / "assets").mkdir()
    cv2.imwrite(str(tmp_path / "assets" / "d0_tactile.png"), np.full((24, 32, 3), 128, np.uint8))
    html_path = write_report(tmp_path, _report(), part_outline=[[-0.3, -0.2], [0.3, -0.2], [0.3, 0.2], [-0.3, 0.2]])
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema_version"] == "1.0" and data["kind"] == "inspection_report"
    assert data["summary"]["final_recall"] == 1.0 and data["defects"][0]["verdict"]["accepted"] is False
    html = html_path.read_text()
    assert "data:image/png;base64," in html and "<svg" in html and "REJECT" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_string_is_escaped(tmp_path) -> None:
    html = write_report(tmp_path, _report(part_id="<script>alert(1)</script>")).read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_partial_report_says_what_is_missing_and_null_truth_reads_na(tmp_path) -> None:
    report = _report(complete=False)
    report = InspectionReport(report.run_id, report.part_id, report.created_utc, ReportSummary(tactile_presses=2),
                              report.defects, False, report.missing)
    html = write_report(tmp_path, report).read_text()
    assert "Partial report" in html and "tactile sensor silent" in html and "n/a (no ground truth)" in html


def test_cli_rerenders_from_json(tmp_path) -> None:
    write_report(tmp_path, _report())
    (tmp_path / "report.html").unlink()
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 0 and (tmp_path / "report.html").is_file()
    missing = run_cli("report", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "no report.json" in missing.stderr and "Traceback" not in missing.stderr


def test_atomic_files_are_readable_by_others(tmp_path) -> None:
    import os

    from inspection.atomic import write_json_atomic

    assert os.stat(write_json_atomic(tmp_path / "a.json", {"x": 1})).st_mode & 0o777 == 0o644
