"""The tactile commands as a user runs them: sim, calibrate, train, eval; bad input is one line, exit 1."""
from __future__ import annotations

import json

from inspection import paths
from tests.conftest import run_cli


def test_sim_calibrate_train_eval_round(tmp_path):
    frames, balls = tmp_path / "frames", tmp_path / "balls"
    for out in (frames, tmp_path / "again"):
        result = run_cli("sim", "tactile", "--out", str(out), "--frames", "6", "--seed", "3")
        assert result.returncode == 0, result.stderr
    again = tmp_path / "again" / "frames" / "000005.png"
    assert (frames / "frames" / "000005.png").read_bytes() == again.read_bytes()
    assert run_cli("sim", "tactile", "--out", str(balls), "--frames", "6", "--seed", "4", "--ball", "2").returncode == 0

    calibration = tmp_path / "cal.npz"
    result = run_cli("tactile", "calibrate", "--frames", str(balls), "--ball-radius-mm", "2", "--out", str(calibration))
    assert result.returncode == 0, result.stderr
    assert "6 presses (0 rejected)" in result.stdout

    weights = tmp_path / "tiny.pt"
    result = run_cli("train", "tactile", "--dataset", str(frames), "--epochs", "1", "--out", str(weights),
                     "--calibration", str(calibration), "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(weights.with_suffix(".json").read_text())["epochs"] == 1

    wrong_kind = run_cli("eval", "tactile", "--dataset", str(balls), "--json", str(tmp_path / "w.json"))
    assert wrong_kind.returncode == 1 and "'ball' dataset" in wrong_kind.stderr

    report_path = tmp_path / "eval.json"
    result = run_cli("eval", "tactile", "--dataset", str(frames), "--json", str(report_path),
                     "--weights", str(paths.model_file("tactile_classifier.pt")))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert {"accuracy", "per_class", "confusion", "depth_mae_mm", "width_mae_mm"} <= set(report)
    assert sum(map(sum, report["confusion"])) == 6


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    cases = [
        ("sim", "tactile", "--out", str(tmp_path / "x"), "--frames", "0"),
        ("sim", "tactile", "--out", str(tmp_path / "y"), "--frames", "1", "--ball", "500"),
        ("tactile", "calibrate", "--frames", str(tmp_path), "--ball-radius-mm", "2", "--out", str(tmp_path / "c.npz")),
        ("eval", "tactile", "--dataset", str(tmp_path), "--json", str(tmp_path / "e.json")),
        ("train", "tactile", "--dataset", str(tmp_path), "--epochs", "0"),
        ("sim", "tactile", "--out", str(tmp_path / "z"), "--frames", "1", "--markers", "3"),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
