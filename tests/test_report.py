"""report.json / report.html: schema, escaping, self-contained page, re-rendering from the CLI."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import replace

import cv2
import numpy as np
import pytest

from inspection.fusion.report import write_report
from inspection.records import FusedDefect, InspectionReport, ReportSummary, Source, Verdict
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


def _with_evidence(report: InspectionReport, evidence: dict[str, str]) -> InspectionReport:
    return replace(report, defects=[replace(report.defects[0], evidence=evidence), *report.defects[1:]])


def test_report_json_and_self_contained_html(tmp_path) -> None:
    (tmp_path / "evidence").mkdir()
    cv2.imwrite(str(tmp_path / "evidence" / "tactile_t0.png"), np.full((24, 32, 3), 128, np.uint8))
    report = _with_evidence(_report(), {"tactile": "evidence/tactile_t0.png"})
    html_path = write_report(tmp_path, report, part_outline=[[-0.3, -0.2], [0.3, -0.2], [0.3, 0.2], [-0.3, 0.2]])
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema_version"] == "1.0" and data["kind"] == "inspection_report"
    assert data["summary"]["final_recall"] == 1.0 and data["defects"][0]["verdict"]["accepted"] is False
    assert data["defects"][0]["evidence"] == {"tactile": "evidence/tactile_t0.png"}
    html = html_path.read_text()
    assert "data:image/png;base64," in html and "<svg" in html and "REJECT" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch
    assert not list(tmp_path.glob(".*.tmp"))


def test_html_embeds_each_evidence_image_and_names_what_is_missing(tmp_path) -> None:
    (tmp_path / "evidence").mkdir()
    images = {kind: np.full((20 + i, 30, 3), 40 * i, np.uint8) for i, kind in enumerate(("camera", "tactile", "heightmap"))}
    for kind, image in images.items():
        cv2.imwrite(str(tmp_path / "evidence" / f"{kind}.png"), image)
    report = _with_evidence(_report(), {kind: f"evidence/{kind}.png" for kind in images})
    html = write_report(tmp_path, report).read_text()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 3
    decoded = [cv2.imdecode(np.frombuffer(base64.b64decode(u), np.uint8), cv2.IMREAD_COLOR) for u in uris]
    assert [d.shape for d in decoded] == [i.shape for i in images.values()]  # the files themselves, in order
    stain = html[html.index('id="d1"'):]  # the vision-only stain: seen, never touched
    assert "no tactile contact" in stain and "not seen by the camera" not in stain
    tactile_only = FusedDefect("d2", "pit", Source.TACTILE, 0.8, (0.0, 0.0, 0.0), (0, 0, 1), 1.0, 1.0, 0.3,
                               tactile_ids=("t5",))
    html = write_report(tmp_path, replace(report, defects=[tactile_only])).read_text()
    assert "not seen by the camera" in html and "tactile frame not received" in html and "base64" not in html


def test_evidence_outside_the_run_folder_or_not_png_is_not_embedded(tmp_path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "evidence").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "outside.png"), np.zeros((8, 8, 3), np.uint8))
    (run_dir / "evidence" / "fake.png").write_text("<script>alert(1)</script>")
    report = _with_evidence(_report(), {"camera": "../outside.png", "tactile": "evidence/fake.png",
                                        "heightmap": "evidence/<b>x</b>.png"})
    html = write_report(run_dir, report).read_text()
    assert "base64" not in html and "<script>" not in html and "<b>x</b>" not in html
    assert "../outside.png: missing or not a PNG in the run folder" in html and "&lt;b&gt;x&lt;/b&gt;" in html


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


def test_an_explained_defect_shows_each_latent_with_its_atlas_exemplars(tmp_path) -> None:
    """The shipped explainer's atlas: latent 0's exemplar strip is written once and embedded beside the label;
    a latent the atlas lacks is named, shown without exemplars, and costs nothing else."""
    from inspection.explain.exemplars import EXEMPLARS, THUMBNAIL_PX, exemplar_strips, latent_exemplars, read_sprite
    from inspection.fusion.evidence import write_latent_exemplars
    from inspection.paths import model_file
    from inspection.records import LatentEvidence

    explainer = model_file("defect_explainer.pt")
    strips = exemplar_strips(explainer)
    atlas = json.loads(explainer.with_suffix(".json").read_text())["atlas"]
    assert set(strips) == {entry["id"] for entry in atlas}
    first = atlas[0]
    assert strips[first["id"]].shape == (THUMBNAIL_PX, EXEMPLARS * THUMBNAIL_PX, 3)
    assert np.array_equal(strips[first["id"]], latent_exemplars(read_sprite(explainer), first["sprite_cell"]))
    unknown = max(strips) + 1
    explained = replace(_report().defects[1], explanation=(LatentEvidence(first["id"], 0.8, first["label"]),
                                                           LatentEvidence(unknown, 0.3, "")))
    report = replace(_report(), defects=[_report().defects[0], explained])
    assert write_latent_exemplars(tmp_path, report, strips) == [unknown]
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [f"latent_{first['id']}.png"]
    html = write_report(tmp_path, report).read_text()
    stain = html[html.index('id="d1"'):]
    (uri,) = re.findall(r'alt="exemplars of latent \d+" src="data:image/png;base64,([^"]+)"', stain)
    shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(uri), np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB)
    assert np.array_equal(shown, strips[first["id"]])
    assert f"latent {unknown} (0.30)" in stain and "no exemplars" in stain


def test_an_atlas_cell_outside_the_sprite_is_named(tmp_path) -> None:
    from inspection.errors import InputError
    from inspection.explain.exemplars import EXEMPLARS, THUMBNAIL_PX, exemplar_strips

    cv2.imwrite(str(tmp_path / "x_atlas.png"), np.zeros((THUMBNAIL_PX, 2 * EXEMPLARS * THUMBNAIL_PX, 3), np.uint8))
    (tmp_path / "x.json").write_text(json.dumps({"atlas": [{"id": 3, "sprite_cell": [0, 1]},
                                                           {"id": 4, "sprite_cell": [1, 0]}]}))
    with pytest.raises(InputError, match=r"x.json: latent 4: sprite_cell \[1, 0\] lies outside .*x_atlas.png"):
        exemplar_strips(tmp_path / "x.pt")
    (tmp_path / "x_atlas.png").unlink()
    assert exemplar_strips(tmp_path / "x.pt") == {}  # no sprite shipped: no thumbnails, not an error
