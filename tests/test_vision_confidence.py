"""Choosing the operating confidence on validation data (never test data), storing it in the model's
sidecar and card, and class-agnostic scoring that counts one defect once whatever class it is called."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli


def _points(pairs):
    return [{"confidence": c, "precision": p, "recall": r} for c, p, r in pairs]


def test_best_f1_is_chosen_and_ties_go_to_the_higher_confidence():
    from inspection.vision.evaluation import choose_confidence

    chosen = choose_confidence(_points([(0.1, 0.2, 0.9), (0.3, 0.6, 0.6), (0.5, 0.9, 0.4), (0.7, 0.6, 0.6)]))
    assert chosen["confidence"] == 0.7 and chosen["f1"] == pytest.approx(0.6)
    assert "best F1" in chosen["criterion"]
    assert choose_confidence(_points([(0.1, None, 0.0), (0.5, 0.0, 0.0)])) is None


def test_agnostic_rows_keep_one_box_per_defect():
    from inspection.vision.evaluation import agnostic_rows

    rows = np.array([[10, 10, 50, 50, 0.9, 1], [11, 11, 51, 51, 0.6, 4], [100, 100, 120, 120, 0.5, 4]], np.float32)
    kept = agnostic_rows(rows, iou=0.5)
    assert len(kept) == 2 and kept[0][4] == pytest.approx(0.9) and kept[1][0] == 100


def test_choose_confidence_needs_a_val_split(trained, tmp_path):
    data, out, _ = trained
    done = run_cli("eval", "vision", "--dataset", str(data), "--model", str(out.with_suffix(".onnx")),
                   "--json", str(tmp_path / "r.json"), "--choose-confidence", "--split", "test")
    assert done.returncode == 1 and "never on test data" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_chosen_confidence_goes_to_the_sidecar_and_card(trained, tmp_path):
    from inspection.vision.evaluation import choose_confidence
    from inspection.vision.model_card import record_confidence

    _, out, _ = trained
    for suffix in (".onnx", ".json", ".md"):
        (tmp_path / f"m{suffix}").write_bytes(out.with_suffix(suffix).read_bytes())
    result = {"dataset": "/data/real", "split": "val", "agnostic": True, "settings": {"tile_size": 0}}
    record_confidence(tmp_path / "m.onnx", choose_confidence(_points([(0.2, 0.5, 0.7), (0.4, 0.8, 0.6)])), result)
    recommended = json.loads((tmp_path / "m.json").read_text())["recommended"]
    assert recommended["confidence"] == 0.4 and recommended["confidence_choice"]["split"] == "val"
    card = (tmp_path / "m.md").read_text()
    assert "## Operating confidence" in card and "never on test data" in card


def test_eval_on_val_without_any_hit_leaves_the_sidecar(trained, tmp_path):
    """The one-epoch model finds nothing: nothing to choose, so the sidecar keeps its confidence."""
    data, out, _ = trained
    for suffix in (".onnx", ".json", ".md"):
        (tmp_path / f"m{suffix}").write_bytes(out.with_suffix(suffix).read_bytes())
    before = (tmp_path / "m.json").read_text()
    done = run_cli("eval", "vision", "--dataset", str(data), "--model", str(tmp_path / "m.onnx"), "--split", "val",
                   "--json", str(tmp_path / "r.json"), "--tile-size", "0", "--choose-confidence")
    assert done.returncode == 0, done.stderr[-1000:]
    result = json.loads((tmp_path / "r.json").read_text())
    if result["chosen_confidence"] is None:
        assert "no confidence chosen" in done.stdout and (tmp_path / "m.json").read_text() == before
    else:  # the tiny model did find something: then the choice is stored
        stored = json.loads((tmp_path / "m.json").read_text())["recommended"]["confidence"]
        assert stored == result["chosen_confidence"]["confidence"]
