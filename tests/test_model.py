"""Core data model: JSON round-trip with schema version, and errors that name the bad field."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspection.records import (
    DefectHypothesis, Detection2D, FusedDefect, InspectionReport, ReportSummary, ScanRegion, Source,
    TactileFinding, Verdict,
)
from inspection.json_codec import SCHEMA_VERSION, SchemaError

EXAMPLES = [
    Detection2D(10, 20, 30, 45, "scratch", 0.9, "view_0"),
    DefectHypothesis("h1", "dent", 0.7, (0.1, -0.02, 0.0), (0, 0, 2), (0.01, 0.004), view_ids=("v0", "v1")),
    ScanRegion("r1", (0.1, 0.0, 0.0), (0, 0, 1), 0.015, ("h1",)),
    TactileFinding("t1", "r1", 0, "dent", 0.95, (0.1, 0.0, 0.0), (0, 0, 1), 0.2, 8.0, 9.5),
    TactileFinding("t2", "r1", 1, "scratch", 0.9, (0.1, 0.0, 0.0), (0, 0, 1), 0.1, 0.5, 12.0, (0.6, 0.8, 0.0)),
    Verdict(False, "dent.max_depth_mm <= 0.1 (zone A)"),
    FusedDefect("d1", "dent", Source.BOTH, 0.95, (0.1, 0.0, 0.0), (0, 0, 1), 8.0, 9.5, 0.2,
                Verdict(False, "dent depth"), ("h1",), ("t1",)),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_json_round_trip(record) -> None:
    data = json.loads(json.dumps(record.to_json()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert type(record).from_json(data) == record


def test_report_round_trip_through_file(tmp_path) -> None:
    report = InspectionReport(
        "run1", "panel_7", "2026-11-24T10:00:00Z", ReportSummary(0.85, 1.0, 0.97, 12, 400, 95.0),
        [EXAMPLES[-1]], complete=False, missing=["region r3: tactile sensor silent"],
    )
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report.to_json()))
    assert InspectionReport.load(path) == report


def test_normal_is_normalised_and_zero_normal_is_rejected() -> None:
    assert ScanRegion("r", (0, 0, 0), (0, 0, 5), 0.01).normal == (0.0, 0.0, 1.0)
    with pytest.raises(SchemaError, match="normal: zero-length"):
        ScanRegion("r", (0, 0, 0), (0, 0, 0), 0.01)


def test_a_direction_is_normalised_or_left_unknown() -> None:
    """A finding's direction along its length is a unit vector, or zeros where none was measured (a clean
    contact, a record from before directions were); a non-finite one names the field."""
    def line(direction: tuple[float, float, float]) -> TactileFinding:
        return TactileFinding("t", "r", 0, "scratch", 0.9, (0, 0, 0), (0, 0, 1), 0.1, 0.5, 9.0, direction)

    assert line((0.0, 3.0, 4.0)).direction == pytest.approx((0.0, 0.6, 0.8))
    assert line((0.0, 0.0, 0.0)).direction == (0.0, 0.0, 0.0)
    assert TactileFinding("t", "r", 0, "none", 0.9, (0, 0, 0), (0, 0, 1)).direction == (0.0, 0.0, 0.0)
    with pytest.raises(SchemaError, match=r"direction\[0\]: expected a finite number"):
        line((float("nan"), 0.0, 0.0))
    fused = FusedDefect("d", "crack", Source.TACTILE, 0.9, (0, 0, 0), (0, 0, 1), 0.2, 9.0, direction=(2.0, 0.0, 0.0))
    assert fused.direction == (1.0, 0.0, 0.0)
    older = line((0.6, 0.8, 0.0)).to_json()  # a journal or report written before directions were measured
    del older["direction"]
    assert TactileFinding.from_json(older).direction == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ({"radius_m": 15.0}, "were millimetres given"),
        ({"radius_m": -1.0}, "radius_m"),
        ({"center": [0, "x", 0]}, r"ScanRegion.center\[1\]: expected a number"),
        ({"center": [0, 0]}, "ScanRegion.center: expected 3 values"),
        ({"colour": "red"}, "unknown field"),
        ({"schema_version": "2.0"}, "not compatible"),
    ],
)
def test_bad_fields_are_named(mutation, message) -> None:
    data = ScanRegion("r", (0, 0, 0), (0, 0, 1), 0.01).to_json()
    data.update(mutation)
    with pytest.raises(SchemaError, match=message):
        ScanRegion.from_json(data)


def test_missing_field_and_wrong_kind_are_named() -> None:
    data = TactileFinding("t", "r", 0, "none", 0.5, (0, 0, 0), (0, 0, 1)).to_json()
    del data["region_id"]
    with pytest.raises(SchemaError, match="TactileFinding.region_id: required field is missing"):
        TactileFinding.from_json(data)
    with pytest.raises(SchemaError, match="kind"):
        ScanRegion.from_json(EXAMPLES[0].to_json())


def test_unknown_class_lists_valid_ones() -> None:
    with pytest.raises(SchemaError, match="class_name: 'rust' is not one of"):
        DefectHypothesis("h", "rust", 0.5, (0, 0, 0), (0, 0, 1), (0.01, 0.01))


def test_load_names_the_file(tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SchemaError, match="broken.json: not valid JSON"):
        ScanRegion.load(broken)


finite = st.floats(min_value=-10, max_value=10, allow_nan=False)


@given(center=st.tuples(finite, finite, finite), normal=st.tuples(finite, finite, finite),
       radius=st.floats(min_value=1e-4, max_value=1.0))
def test_scan_region_round_trip_property(center, normal, radius) -> None:
    try:
        region = ScanRegion("r", center, normal, radius)
    except SchemaError:
        assert sum(c * c for c in normal) < 1e-17
        return
    assert ScanRegion.from_json(json.loads(json.dumps(region.to_json()))) == region
