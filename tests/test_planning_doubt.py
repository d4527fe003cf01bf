"""Touch where doubt is: the isotonic confidence-to-probability map, the press budget, and fusion dropping
weak detections that no press checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inspection.errors import InputError
from inspection.fusion.fuse import fuse
from inspection.planning.doubt import DefectCalibration, PressBudget, PressBudgetModifier, fit_isotonic
from inspection.planning.interfaces import Press, ToolPath, ToolPaths
from inspection.records import DefectHypothesis


def test_isotonic_map_is_monotone_and_gives_each_block_its_share_of_defects(tmp_path) -> None:
    calibration = fit_isotonic([0.1, 0.2, 0.3, 0.4, 0.5, 0.9], [False, True, False, True, True, True], {"seed": 5})
    assert calibration(0.05) == 0.0 and calibration(0.25) == 0.5 and calibration(0.95) == 1.0
    assert all(b >= a for a, b in zip(calibration.probability, calibration.probability[1:]))
    assert calibration.meta == {"seed": 5, "regions": 6, "with_defect": 4}
    path = calibration.save(tmp_path / "doubt.json")
    assert DefectCalibration.load(path) == calibration
    path.write_text(json.dumps({**calibration.to_json(), "probability": [0.9, 0.1, 0.5, 0.5, 0.5]}))
    with pytest.raises(InputError, match="doubt.json: confidence must increase and probability never decrease"):
        DefectCalibration.load(path)


def test_each_finder_has_its_own_map_and_an_uncalibrated_finder_keeps_its_confidence(tmp_path) -> None:
    spots = fit_isotonic([0.2, 0.2, 0.2, 0.2], [True, False, False, False])
    detector = fit_isotonic([0.1, 0.2, 0.9], [False, True, True], {"seed": 5})
    calibration = DefectCalibration(detector.confidence, detector.probability, detector.meta, {"spot": spots})
    assert calibration(0.2) == 1.0 and calibration(0.2, "spot") == 0.25
    assert DefectCalibration(detector.confidence, detector.probability)(0.2, "spot") == 0.2
    path = calibration.save(tmp_path / "doubt.json")
    assert DefectCalibration.load(path) == calibration
    path.write_text(json.dumps({**calibration.to_json(), "finders": {"laser": spots.to_json()}}))
    with pytest.raises(InputError, match=r"doubt.json: finders: expected an object keyed by \['spot', 'shape'\]"):
        DefectCalibration.load(path)
    path.write_text(json.dumps({**calibration.to_json(), "finders": {"spot": {"confidence": [0.2]}}}))
    with pytest.raises(InputError, match="doubt.json: finders.spot.confidence: expected a list of at least 2"):
        DefectCalibration.load(path)


def _press(*regions: str) -> Press:
    return Press(regions, np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))


def _paths() -> ToolPaths:
    """A large doubtful region (15 presses), a small likely one, a small unlikely one (2 presses)."""
    return ToolPaths((ToolPath(tuple(_press("large") for _ in range(15)), ("large",)),
                      ToolPath((_press("likely"),), ("likely",)),
                      ToolPath((_press("weak"), _press("weak")), ("weak",))))


PROBABILITIES = {"large": 0.3, "likely": 0.9, "weak": 0.2}


def test_without_a_budget_every_region_is_pressed_as_in_the_paper() -> None:
    paths = _paths()
    assert PressBudgetModifier(PROBABILITIES, PressBudget()).modify(paths) is paths


def test_a_press_cap_keeps_the_presses_that_find_most_defects_per_press() -> None:
    kept = PressBudgetModifier(PROBABILITIES, PressBudget(max_presses=4)).modify(_paths())
    # likely (0.9 per press), weak (0.1 each), then one of the large region's (0.02 each): pressed in part
    assert [(p.regions, len(p.presses)) for p in kept.paths] == [(("large",), 1), (("likely",), 1), (("weak",), 2)]
    assert kept.skipped == ()
    capped = PressBudgetModifier(PROBABILITIES, PressBudget(max_presses=1)).modify(_paths())
    assert [p.regions for p in capped.paths] == [("likely",)]
    assert [r for r, _ in capped.skipped] == ["large", "weak"]
    assert capped.skipped[0][1] == "press budget 1 spent; p(defect) 0.300"


def test_a_residual_risk_target_stops_once_the_unpressed_regions_are_unlikely_enough() -> None:
    kept = PressBudgetModifier(PROBABILITIES, PressBudget(residual_risk=0.35)).modify(_paths())
    assert [p.regions for p in kept.paths] == [("likely",), ("weak",)]
    assert kept.skipped[0][0] == "large" and kept.skipped[0][1].startswith("residual risk 0.300 expected defects")


def test_a_weak_detection_no_press_checked_is_not_reported_but_a_confident_one_is() -> None:
    weak = DefectHypothesis("h0", "dent", 0.1, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.004, 0.004))
    strong = DefectHypothesis("h1", "dent", 0.6, (0.1, 0.0, 0.0), (0.0, 0.0, 1.0), (0.004, 0.004))
    result = fuse([weak, strong], [])
    assert [d.vision_ids for d in result.defects] == [("h1",)] and result.unconfirmed_ids == ["h1"]
    assert result.rejected[0].rule.startswith("R4 unconfirmed: not touched")


def test_train_doubt_fits_on_the_regions_of_a_tuning_campaign(tmp_path) -> None:
    import argparse

    from inspection.campaign.part_store import save_record
    from inspection.cli import train_doubt

    parts = tmp_path / "tune_parts"
    regions = [[(0.9, True, "detector"), (0.1, False, "detector"), (0.2, False, "spot")],
               [(0.2, True, "detector"), (0.05, False, "detector"), (0.2, True, "spot")]]
    for index, rows in enumerate(regions):
        save_record(parts, index, "low-confidence", "k", {"index": index, "regions": [
            {"confidence": c, "defect": d, "pressed": True, "finder": f} for c, d, f in rows]})
    summary = tmp_path / "tune.json"
    summary.write_text(json.dumps({"parts": 2, "keys": {"low-confidence": "k"}, "parts_folder": str(parts),
                                   "settings": {"seed": 5150, "low_confidence": 0.05}}))
    out = tmp_path / "doubt.json"
    assert train_doubt.run(argparse.Namespace(campaign=summary, ablation="low-confidence", out=out)) == 0
    calibration = DefectCalibration.load(out)
    assert calibration(0.05) == 0.0 and calibration(0.2) == 1.0 and calibration.meta["seed"] == 5150
    assert calibration(0.2, "spot") == 0.5 and calibration.finders["spot"].meta == {"regions": 2, "with_defect": 1}
    with pytest.raises(InputError, match="no ablation 'budgeted-4'"):
        train_doubt.run(argparse.Namespace(campaign=summary, ablation="budgeted-4", out=out))
