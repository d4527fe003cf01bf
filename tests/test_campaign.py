"""The evaluation campaign (`inspection eval campaign`): figures pooled as documented, a small campaign
through the CLI end to end (every ablation, worker processes, resume), and bad flags."""
from __future__ import annotations

import json
import shutil

import pytest

from inspection.campaign.campaign import CampaignOptions, ablation_keys, load_params, parse_ablations
from inspection.campaign.metrics import size_bucket, summarise
from inspection.campaign.runner import (ABLATIONS, CORE_SOURCE, PartSpec, core_source_digest, make_scene,
                                        pipeline_digests)
from inspection.errors import InputError
from inspection.paths import model_file
from tests.conftest import run_cli

HEADLINE_KEYS = ("stage1_recall", "stage1_precision", "final_recall", "final_precision", "stage1_recall_camera_visible",
                 "stage1_recall_resolvable", "false_findings_per_1000_presses",
                 "vision_only_recall", "tactile_presses", "full_coverage_presses", "cycle_time_s",
                 "full_coverage_cycle_time_s", "depth_mae_mm", "per_class", "per_size", "wall_s_per_part", "lost",
                 "under_a_press")
RATES = ("stage1_recall", "stage1_precision", "final_recall", "final_precision", "stage1_recall_camera_visible",
         "stage1_recall_resolvable",
         "vision_only_recall", "press_ratio", "cycle_time_ratio")


def test_a_part_record_is_reused_only_by_the_same_core_code(tmp_path) -> None:
    """A campaign resumed after a change to the core (fusion, say) runs its parts again: the code's digest is
    in every ablation's key. The nodes and the CLI, which a part never runs, are left out of it."""
    package = tmp_path / "inspection"
    for name in ("fusion/fuse.py", "cli/main.py", "nodes/vision_node.py"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("LIMIT = 1\n")
    before = core_source_digest(package)
    (package / "cli/main.py").write_text("LIMIT = 2\n")
    (package / "nodes/vision_node.py").write_text("LIMIT = 2\n")
    assert core_source_digest(package) == before
    (package / "fusion/fuse.py").write_text("LIMIT = 2\n")
    assert core_source_digest(package) != before

    options = CampaignOptions(out=tmp_path / "c.json", parts=1, seed=1, ablations=("shipped", "paper"))
    params = load_params(options)
    digests = pipeline_digests(None, params)
    assert digests[CORE_SOURCE] == core_source_digest()
    keys = ablation_keys(options, params, digests)
    assert keys == ablation_keys(options, params, dict(digests))
    changed = ablation_keys(options, params, {**digests, CORE_SOURCE: before})
    assert all(changed[name] != keys[name] for name in keys)


def _record(truth, stage1, final, presses=0, full=100):
    return {"truth": truth, "stage1": stage1, "final": final, "vision_only_truth": [p["truth"] for p in stage1
                                                                                     if p["truth"] is not None],
            "planned_presses": presses, "tactile_findings": presses, "unreachable": 0, "cycle_time_s": 2.0 * presses,
            "full_coverage_presses": full, "full_coverage_cycle_time_s": 2.0 * full, "complete": True,
            "wall_s": dict.fromkeys(("shared", "baseline_plan", "stage1", "plan", "execute", "fuse", "total"), 1.0)}


def _near(value: float):
    return pytest.approx(value, abs=1e-4)  # figures are rounded to 4 decimals


def _truth(class_name, size_mm, visible, depth_mm=0.1, resolvable=None):
    return {"class_name": class_name, "size_mm": size_mm, "camera_visible": visible, "depth_mm": depth_mm,
            "camera_resolvable": visible if resolvable is None else resolvable}


def test_recall_counts_defects_the_camera_cannot_see_and_precision_is_per_reported_class() -> None:
    truth = [_truth("dent", 8.0, True, resolvable=False), _truth("pit", 1.0, False, 0.2),
             _truth("stain", 30.0, True, 0.0), _truth("scratch", 25.0, False)]
    stage1 = [{"class_name": "stain", "confidence": 0.5, "size_mm": 12.0, "truth": 2},
              {"class_name": "dent", "confidence": 0.5, "size_mm": 6.0, "truth": 0},
              {"class_name": "stain", "confidence": 0.5, "size_mm": 3.0, "truth": None}]
    final = [{**p, "source": "vision"} for p in stage1[:2]] + [
        {"class_name": "pit", "size_mm": 1.5, "truth": 1, "depth_mm": 0.15, "source": "tactile"},
        {"class_name": "dent", "size_mm": 6.0, "truth": None, "depth_mm": 0.3, "source": "tactile"}]
    final = [{**p, "depth_mm": p.get("depth_mm")} for p in final]
    row = summarise([_record(truth, stage1, final, presses=10), _record([_truth("dent", 4.0, True)], [], [])])
    assert (row["defects"], row["camera_visible_defects"]) == (5, 3)
    assert row["stage1_recall"] == _near(2 / 5)  # the invisible pit and scratch count as missed
    assert row["stage1_recall_camera_visible"] == _near(2 / 3)
    # The visible dent is too faint to resolve: of the 2 resolvable defects (stain, the other part's dent), 1 found.
    assert row["camera_resolvable_defects"] == 2 and row["stage1_recall_resolvable"] == _near(1 / 2)
    assert row["per_class"]["dent"]["camera_resolvable"] == 1
    # The false tactile dent, over the 10 + 0 presses Stage II analysed.
    assert row["false_touch_findings"] == 1 and row["false_findings_per_1000_presses"] == _near(100.0)
    assert row["stage1_precision"] == _near(2 / 3)
    assert row["final_recall"] == _near(3 / 5) and row["final_precision"] == _near(3 / 4)
    assert row["vision_only_recall"] == _near(2 / 5)
    assert row["depth_mae_mm"] == _near(0.05) and row["depth_measured"] == 1  # the false dent has no truth
    assert row["tactile_presses"] == 5.0 and row["press_ratio"] == _near(10 / 200)
    stain = row["per_class"]["stain"]
    assert stain["stage1_recall"] == 1.0 and stain["stage1_precision"] == 0.5  # one of two stain reports was right
    assert row["per_class"]["pit"]["stage1_recall"] == 0.0 and row["per_class"]["pit"]["final_recall"] == 1.0
    assert row["per_class"]["crack"]["stage1_recall"] is None  # no cracks: no figure, not zero
    small = row["per_size"]["<2 mm"]
    assert (small["defects"], small["final_found"], small["final_precision"]) == (1, 1, 1.0)
    assert row["per_size"]["2-5 mm"]["stage1_precision"] == 0.0  # the 3 mm false stain
    assert size_bucket(1.99) == "<2 mm" and size_bucket(20.0) == ">=20 mm"


def test_each_missed_defect_is_lost_where_the_records_say() -> None:
    """The loss breakdown: never handed over, handed over only below fusion's 0.25, or at it and still lost;
    a defect found by the final report is not lost, however Stage I saw it, and the markdown shows the rows."""
    truth = [_truth("crack", 6.0, True), _truth("stain", 15.0, True, 0.0), _truth("pit", 1.0, True),
             _truth("dent", 8.0, True), _truth("bump", 4.0, True)]
    stage1 = [{"class_name": "stain", "confidence": 0.19, "size_mm": 12.0, "truth": 1},
              {"class_name": "pit", "confidence": 0.10, "size_mm": 1.0, "truth": 2},
              {"class_name": "pit", "confidence": 0.30, "size_mm": 1.0, "truth": 2},  # the strongest call counts
              {"class_name": "dent", "confidence": 0.05, "size_mm": 8.0, "truth": 3},  # touch found it: not lost
              {"class_name": "bump", "confidence": 0.6, "size_mm": 4.0, "truth": None}]
    final = [{"class_name": "dent", "size_mm": 8.0, "truth": 3, "depth_mm": 0.2, "source": "both"}]
    # Presses covered the bump (lost, never flagged), the pit (lost, flagged reportable) and the dent (found).
    record = {**_record(truth, stage1, final, presses=4), "touched": [2, 3, 4]}
    row = summarise([record])
    assert row["lost"] == {"never_flagged": 2, "flagged_weak": 1, "flagged_reportable": 1}  # crack, bump; stain; pit
    assert row["under_a_press"] == {"never_flagged": 1, "flagged_weak": 0, "flagged_reportable": 1}
    assert sum(row["lost"].values()) == row["defects"] - row["counts"]["final_found"]
    from inspection.campaign.output import markdown

    summary = {"settings": {"seed": 1, "part_kind": "random", "part_scale": 1.0}, "headline_ablation": "shipped",
               "ablations": {"shipped": row}, "per_class": row["per_class"], "per_size": row["per_size"]}
    assert "| shipped | 4 (2) | 2 (1) | 1 (0) | 1 (1) |" in markdown(summary)
    # A record stored before presses were traced counts no defect under a press.
    assert summarise([_record(truth, stage1, final, presses=4)])["under_a_press"] == dict.fromkeys(row["lost"], 0)


def test_a_defect_is_under_the_gel_only_inside_its_imaged_area_and_near_its_plane() -> None:
    """``under_the_gel``: the gel images 320 x 240 px of 58 um (18.6 x 13.9 mm) around the sensor axis; a defect
    on the far side of a thin part, or beside the gel, was never under it."""
    import numpy as np

    from inspection.campaign.runner import under_the_gel
    from inspection.cell import load_cell
    from inspection.fusion.scoring import TruthDefect

    def at(x, y, z):
        return TruthDefect("d", "pit", (x, y, z), (0.001, 0.001), 0.0001)

    pose = np.eye(4)
    pose[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # the sensor's x along the part's y
    pose[:3, 3] = [0.1, 0.2, 0.0]
    truth = [at(0.1, 0.2 + 0.009, 0.0),  # 9 mm along the sensor's x (half the gel: 9.3 mm)
             at(0.1 + 0.009, 0.2, 0.0),  # 9 mm along its y (half: 6.96 mm)
             at(0.1, 0.2, -0.008),  # behind the gel, through the part
             at(0.1 - 0.006, 0.2 + 0.002, 0.001)]
    assert under_the_gel(truth, [pose], load_cell(None)) == [0, 3]
    assert under_the_gel(truth, [], load_cell(None)) == []


def test_defect_free_parts_are_the_same_parts_without_their_defects() -> None:
    drawn, noise = make_scene(PartSpec(31, 2))
    clean, clean_noise = make_scene(PartSpec(31, 2, defect_free=True))
    assert drawn.defects and not clean.defects
    assert (clean.part.params, clean.finish, clean_noise) == (drawn.part.params, drawn.finish, noise)


def test_ablation_flags() -> None:
    assert parse_ablations(["all"]) == ABLATIONS
    assert parse_ablations(["full-coverage,paper", "vision-only"]) == ("vision-only", "paper", "full-coverage")
    with pytest.raises(InputError, match="--ablation papr"):
        parse_ablations(["papr"])


@pytest.mark.slow
@pytest.mark.skipif(not model_file("defect_detector.onnx").is_file(), reason="no shipped detector model")
def test_small_campaign_end_to_end_with_resume(tmp_path) -> None:
    out = tmp_path / "campaign.json"
    command = ("eval", "campaign", "--parts", "2", "--seed", "424", "--json", str(out), "--ablation", "all",
               "--part-scale", "0.5", "--width", "960", "--height", "540", "--press-budgets", "3")
    runs = [a for a in ABLATIONS if a != "budgeted"] + ["budgeted-3"]
    result = run_cli(*command, "--workers", "2", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["headline_ablation"] == "shipped" and set(summary["ablations"]) == set(runs)
    for key in HEADLINE_KEYS:
        assert key in summary, key
    parts_dir = tmp_path / "campaign_parts"
    records = {p.name: json.loads(p.read_text()) for p in sorted(parts_dir.glob("part_*.json"))}
    assert len(records) == 2 * len(runs)
    for name, row in summary["ablations"].items():
        for key in RATES:
            assert row[key] is None or 0.0 <= row[key] <= 1.0, (name, key, row[key])
        assert row["parts"] == 2 and row["incomplete_parts"] == 0
        assert row["full_coverage_cycle_time_s"] > 0
        part_records = [records[f"part_{i:04d}_{name}.json"] for i in range(2)]
        # Recall counts every true defect on the part: the camera-invisible ones too.
        assert row["defects"] == sum(len(r["truth"]) for r in part_records)
        assert row["camera_visible_defects"] < row["defects"]
        assert row["stage1_recall"] == pytest.approx(row["counts"]["stage1_found"] / row["defects"], abs=1e-4)
        for record in part_records:  # the campaign's scoring is the report's
            found = sum(p["truth"] is not None for p in record["final"])
            assert record["report_summary"]["final_recall"] == pytest.approx(found / len(record["truth"]))
    vision_only, full = summary["ablations"]["vision-only"], summary["ablations"]["full-coverage"]
    assert vision_only["tactile_presses"] == 0 and vision_only["cycle_time_s"] == 0
    assert vision_only["final_recall"] == vision_only["vision_only_recall"]
    assert full["tactile_presses"] > 0 and full["press_ratio"] <= 1.0 and full["cycle_time_ratio"] == pytest.approx(1.0)
    assert summary["ablations"]["paper"]["press_ratio"] <= 1.0
    for i in range(2):  # the budget holds, over the low-confidence ablation's regions
        budgeted, low = records[f"part_{i:04d}_budgeted-3.json"], records[f"part_{i:04d}_low-confidence.json"]
        assert budgeted["planned_presses"] <= min(3, low["planned_presses"] + low["unreachable"])
        assert [r["confidence"] for r in budgeted["regions"]] == [r["confidence"] for r in low["regions"]]
    table = out.with_suffix(".md").read_text()
    assert "| full-coverage |" in table and "## Per class (shipped)" in table
    assert "## Where the missed defects were lost" in table
    assert "## Final recall against presses per part" in table and "| budgeted-3 |" in table
    assert len(summary["outputs"]["plots"]) == 3
    for plot in summary["outputs"]["plots"]:
        assert open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # Resume: everything done is skipped, untouched.
    stamps = {p.name: p.stat().st_mtime_ns for p in parts_dir.glob("part_*.json")}
    result = run_cli(*command, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming: 2 of 2 parts already done" in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in parts_dir.glob("part_*.json")} == stamps
    # A lost result is run again, in this process this time, and comes out the same as from the worker.
    lost = parts_dir / "part_0001_paper.json"
    shutil.move(lost, tmp_path / "before.json")
    result = run_cli(*command, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming: 1 of 2 parts already done" in result.stderr
    before, after = json.loads((tmp_path / "before.json").read_text()), json.loads(lost.read_text())
    before.pop("wall_s"), after.pop("wall_s")
    assert after == before
    assert {p.name: p.stat().st_mtime_ns for p in parts_dir.glob("part_*.json") if p != lost} == \
        {k: v for k, v in stamps.items() if k != lost.name}


def test_a_shape_finder_without_lights_is_refused_before_any_part(tmp_path) -> None:
    """The shape finder reads photometric bursts: a cell whose camera has no lights is named, in one line."""
    import yaml

    from inspection import paths

    cell = yaml.safe_load(paths.config_file("cell.yaml").read_text())
    del cell["camera"]["photometric"]
    cell_file = tmp_path / "cell.yaml"
    cell_file.write_text(yaml.safe_dump(cell))
    result = run_cli("eval", "campaign", "--parts", "1", "--seed", "0", "--json", str(tmp_path / "c.json"),
                     "--cell", str(cell_file))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "vision_node.shape_detector" in lines[0] and str(cell_file) in lines[0], result.stderr
    assert not (tmp_path / "c_parts").exists()


@pytest.mark.parametrize("flags, message", [
    (("--parts", "0"), "--parts 0"),
    (("--ablation", "paper,touch-only"), "--ablation touch-only"),
    (("--workers", "0"), "--workers 0"),
    (("--part-scale", "2"), "--part-scale 2.0"),
    (("--ablation", "low-confidence", "--low-confidence", "0.5"), "--low-confidence 0.5"),
    (("--set", "vision_node.confidence=2"), "confidence"),
])
def test_bad_flags_give_one_line_and_exit_1(tmp_path, flags, message) -> None:
    result = run_cli("eval", "campaign", "--parts", "1", "--seed", "0", "--json", str(tmp_path / "c.json"), *flags)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "c_parts").exists()
