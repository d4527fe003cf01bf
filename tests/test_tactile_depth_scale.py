"""Depth factors per class (inspection/tactile/depth_scale.py): fitted on presses of known depth, carried in the
calibration file, applied by Stage II and `inspection eval tactile`, fitted by `inspection tactile depth-scale`."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inspection import paths
from inspection.errors import InputError
from inspection.tactile.calibration import Calibration
from inspection.tactile.depth_scale import META_KEY, DepthScale, fit_depth_scale
from tests.conftest import run_cli


def test_the_fit_recovers_each_class_factor_and_ignores_what_it_cannot_scale() -> None:
    rng = np.random.default_rng(0)
    presses = []
    for name, factor in (("crack", 4.0), ("pit", 2.0), ("dent", 1.1)):
        true = rng.uniform(0.06, 0.4, 60)
        measured = true / factor * np.exp(rng.normal(0, 0.2, 60))  # spread about the bias, as the gel gives
        presses += [(name, float(m), float(t)) for m, t in zip(measured, true)]
    presses += [("crack", 20.0, 0.1)] * 5  # a few peaks off the defect: the median is not moved by them
    presses += [("scratch", 0.05, 0.1)] * 3  # too few to fit
    presses += [("missing_fastener", 0.05, 2.0)] * 20  # a hole's depth is not felt: never scaled
    presses += [("bump", 0.0, 0.1)] * 20  # nothing measured: no ratio
    scale, too_few = fit_depth_scale(presses, "test")
    assert set(scale.factors) == {"crack", "pit", "dent"}
    assert scale.factors["crack"] == pytest.approx(4.0, rel=0.12)
    assert scale.factors["pit"] == pytest.approx(2.0, rel=0.12)
    assert scale.factors["dent"] == pytest.approx(1.1, rel=0.12)
    assert scale.presses["crack"] == 65 and too_few == ["bump", "scratch"]
    assert scale.apply("crack", 0.05) == pytest.approx(0.05 * scale.factors["crack"])
    assert scale.apply("scratch", 0.05) == 0.05 and scale.apply("missing_fastener", 0.3) == 0.3


def test_the_factors_travel_in_the_calibration_file(tmp_path) -> None:
    shipped = Calibration.load(paths.model_file("tactile_calibration.npz"))
    plain = Calibration(shipped.table, shipped.low, shipped.high, shipped.pixel_size_m, {})
    assert plain.depth_scale.factors == {}  # a calibration without factors measures as before
    scaled = plain.with_depth_scale(DepthScale({"crack": 4.2, "pit": 2.1}, {"crack": 30, "pit": 40}, "presses"))
    loaded = Calibration.load(scaled.save(tmp_path / "cal.npz"))
    assert loaded.depth_scale.factors == {"crack": 4.2, "pit": 2.1}
    assert loaded.depth_scale.presses == {"crack": 30, "pit": 40} and loaded.depth_scale.source == "presses"
    np.testing.assert_array_equal(loaded.table, plain.table.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("factors, field", [
    ({"crack": 0.0}, "factors.crack"), ({"crack": "4"}, "factors.crack"), ({"crack": math.inf}, "factors.crack"),
    ({"missing_fastener": 2.0}, "factors.missing_fastener"), ({"rust": 2.0}, "factors.rust"), ([1, 2], "factors"),
])
def test_a_bad_factor_is_named_with_its_file_when_the_calibration_loads(tmp_path, factors, field) -> None:
    shipped = Calibration.load(paths.model_file("tactile_calibration.npz"))
    bad = Calibration(shipped.table, shipped.low, shipped.high, shipped.pixel_size_m, {META_KEY: {"factors": factors}})
    path = bad.save(tmp_path / "bad.npz")
    with pytest.raises(InputError, match=f"{path}: meta.depth_scale.{field}"):
        Calibration.load(path)


def test_stage_two_and_the_evaluation_measure_with_the_factors(tmp_path) -> None:
    """The same frames, evaluated with the lookup alone and with factors fitted on other frames: the gel's known
    bias (it sinks only part of the way into a crack or a pit) comes out as factors above 1, and the measured /
    true depth of those classes moves towards 1; Stage II multiplies each press's depth by its class's factor."""
    fit, test = tmp_path / "fit", tmp_path / "test"
    for out, seed in ((fit, "5"), (test, "6")):
        result = run_cli("sim", "tactile", "--out", str(out), "--frames", "90", "--seed", seed)
        assert result.returncode == 0, result.stderr
    shipped = Calibration.load(paths.model_file("tactile_calibration.npz"))
    plain = Calibration(shipped.table, shipped.low, shipped.high, shipped.pixel_size_m, {}).save(tmp_path / "plain.npz")
    scaled = tmp_path / "scaled.npz"
    result = run_cli("tactile", "depth-scale", "--dataset", str(fit), "--calibration", str(plain), "--out", str(scaled))
    assert result.returncode == 0, result.stderr
    factors = Calibration.load(scaled).depth_scale.factors
    assert factors and all(f > 1.0 for f in factors.values()), factors

    reports = {}
    for name, calibration in (("plain", plain), ("scaled", scaled)):
        out = tmp_path / f"{name}.json"
        result = run_cli("eval", "tactile", "--dataset", str(test), "--json", str(out), "--calibration", str(calibration))
        assert result.returncode == 0, result.stderr
        reports[name] = json.loads(out.read_text())
    assert reports["plain"]["depth_scale"] == {} and reports["scaled"]["depth_scale"] == pytest.approx(factors, abs=1e-4)
    assert reports["plain"]["accuracy"] == reports["scaled"]["accuracy"]  # only the depth changes
    for name in ("crack", "pit"):  # the gel's largest biases, on frames the factors were not fitted on
        before = reports["plain"]["size_per_class"][name]["depth_ratio_median"]
        after = reports["scaled"]["size_per_class"][name]["depth_ratio_median"]
        assert before < 0.6 and abs(math.log(after)) < abs(math.log(before)), (name, before, after)

    from inspection.tactile.stage import StageTwo
    from inspection.datasets.tactile import TactileDataset

    dataset = TactileDataset(test)
    frame, label = next((f, lab) for f, lab in dataset if lab["class_name"] in factors)
    results = {}
    for name, calibration in (("plain", plain), ("scaled", scaled)):
        stage = StageTwo.load(calibration, paths.model_file("tactile_classifier.pt"))
        stage.set_background(dataset.background)
        results[name] = stage.analyse(frame, np.eye(4), "f0").finding
    called = results["plain"].class_name
    assert results["scaled"].class_name == called
    assert results["scaled"].depth_mm == pytest.approx(results["plain"].depth_mm * factors.get(called, 1.0), rel=1e-6)


def test_the_verdicts_are_scored_against_the_verdicts_on_the_true_sizes() -> None:
    """What a quality engineer asks of the sizes: does a defect beyond its limit get rejected? Scored with the
    shipped limits (default zone: scratch depth 0.10 mm, dent depth 0.25 mm) and the calibration's factors."""
    from inspection.tactile.acceptance import AcceptanceRules
    from inspection.tactile.evaluate import PressOutcome, acceptance_agreement, scale_depths
    from inspection.tactile.measure import Measurement

    def press(true_class, true_depth, called, measured_depth):
        label = {"class_name": true_class,
                 "defects": [] if true_class == "none" else [{"depth_mm": true_depth, "width_mm": 0.3, "length_mm": 5.0}]}
        measured = None if called == "none" or true_class == "none" else \
            Measurement(measured_depth, 0.3, 5.0, (0.0, 0.0), np.zeros((2, 2), bool))
        return PressOutcome(label, called, measured, 0.0)

    outcomes = [press("scratch", 0.15, "scratch", 0.09),  # beyond, read under the limit: passed
                press("scratch", 0.15, "none", 0.0),  # beyond, not felt: passed
                press("dent", 0.20, "dent", 0.30),  # within, read over: rejected
                press("scratch", 0.05, "scratch", 0.04),  # within, within
                press("none", 0.0, "none", 0.0)]  # a clean press: not a defect to judge
    rules = AcceptanceRules.load(None)
    assert acceptance_agreement(scale_depths(outcomes, DepthScale()), rules) == {
        "rules": rules.source, "zone": "default", "defects": 4, "beyond_limits": 2, "passed_beyond_limits": 2,
        "rejected_within_limits": 1}
    scaled = scale_depths(outcomes, DepthScale({"scratch": 1.3}))  # 0.09 -> 0.117, 0.04 -> 0.052
    verdicts = acceptance_agreement(scaled, rules)
    assert verdicts["passed_beyond_limits"] == 1 and verdicts["rejected_within_limits"] == 1


def test_bad_input_to_the_fit_is_one_line(tmp_path) -> None:
    cases = [
        ("tactile", "depth-scale", "--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "c.npz")),
        ("tactile", "depth-scale", "--dataset", str(tmp_path), "--calibration", str(tmp_path / "no.npz"),
         "--out", str(tmp_path / "c.npz")),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "c.npz").exists()
