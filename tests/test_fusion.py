"""Fusion rules R1-R5 and ground-truth scoring."""
from __future__ import annotations

import pytest

from inspection.fusion.fuse import FusionConfig, fuse
from inspection.fusion.scoring import TruthDefect, match
from inspection.records import DefectHypothesis, Source, TactileFinding, Verdict

UP = (0.0, 0.0, 1.0)


def hypothesis(id_: str, cls: str, x: float, conf: float = 0.8, extent: float = 0.005) -> DefectHypothesis:
    return DefectHypothesis(id_, cls, conf, (x, 0.0, 0.0), UP, (extent, extent / 2))


def finding(id_: str, cls: str, x: float, conf: float = 0.9, depth: float = 0.2) -> TactileFinding:
    return TactileFinding(id_, "r", 0, cls, conf, (x, 0.0, 0.0), UP, depth if cls != "none" else 0.0, 3.0, 5.0)


def test_confirmed_by_touch_takes_tactile_measurement_and_class() -> None:
    result = fuse([hypothesis("h0", "scratch", 0.100, conf=0.6)], [finding("t0", "dent", 0.102, conf=0.95)])
    (defect,) = result.defects
    assert defect.source is Source.BOTH and defect.class_name == "dent"
    assert defect.position == (0.102, 0.0, 0.0) and defect.depth_mm == 0.2
    assert defect.confidence == pytest.approx(1 - 0.4 * 0.05)
    assert defect.vision_ids == ("h0",) and defect.tactile_ids == ("t0",)


def test_vision_class_kept_when_touch_is_unsure() -> None:
    config = FusionConfig(tactile_class_min_confidence=0.9, tactile_min_confidence=0.3)
    result = fuse([hypothesis("h0", "pit", 0.1, conf=0.8)], [finding("t0", "dent", 0.1, conf=0.5)], config)
    assert result.defects[0].class_name == "pit"


def test_clean_contact_rejects_a_geometric_false_alarm() -> None:
    result = fuse([hypothesis("h0", "dent", 0.100)], [finding("t0", "none", 0.101)])
    assert result.defects == [] and result.rejected[0].rule.startswith("R3")


def test_weak_tactile_calls_back_the_camera_but_never_clear_or_stand_alone() -> None:
    """Below tactile_min_confidence (0.5): a dent called at 0.49 on the camera's 0.74 dent confirms it (touch
    agrees, places and measures it), unless a sure clean contact covers the spot; it never confirms what the
    camera alone would not report (below 0.25), and alone it adds nothing. "none" at 0.45 (the defect
    classes sum to 0.55) clears nothing: the camera's dent stays, unconfirmed (R4)."""
    camera_dent = hypothesis("h0", "dent", 0.100, conf=0.74)
    weak_dent, weak_clean = finding("t0", "dent", 0.103, conf=0.49), finding("t1", "none", 0.104, conf=0.45)
    (confirmed,) = fuse([camera_dent], [weak_dent, weak_clean]).defects
    assert confirmed.source is Source.BOTH and confirmed.position == (0.103, 0.0, 0.0)
    assert confirmed.confidence == pytest.approx(1 - 0.26 * 0.51)
    cleared = fuse([camera_dent], [weak_dent, finding("t2", "none", 0.101, conf=0.9)])
    assert cleared.defects == [] and cleared.rejected[0].rule.startswith("R3")
    faint = fuse([hypothesis("h0", "dent", 0.100, conf=0.2)], [weak_dent])
    assert faint.defects == [] and faint.rejected[0].rule.startswith("R4")
    assert fuse([], [weak_dent]).defects == []
    doubted = fuse([camera_dent], [weak_clean])
    assert [d.source for d in doubted.defects] == [Source.VISION] and doubted.unconfirmed_ids == ["h0"]


def test_uncovered_hypothesis_is_kept_unconfirmed() -> None:
    result = fuse([hypothesis("h0", "dent", 0.100)], [finding("t0", "none", 0.300)])
    assert [d.source for d in result.defects] == [Source.VISION] and result.unconfirmed_ids == ["h0"]


def test_optical_defects_stay_vision_only_even_under_a_clean_contact() -> None:
    result = fuse([hypothesis("h0", "stain", 0.1, conf=0.5), hypothesis("h1", "paint_loss", 0.2, conf=0.1)],
                  [finding("t0", "none", 0.1)])
    assert [(d.class_name, d.source) for d in result.defects] == [("stain", Source.VISION)]
    assert result.rejected[0].hypothesis_id == "h1"


def test_touch_only_defects_are_added_and_overlapping_presses_merge() -> None:
    findings = [finding("t0", "pit", 0.200, conf=0.8), finding("t1", "pit", 0.203, conf=0.9),
                finding("t2", "none", 0.1)]
    result = fuse([], findings)
    (defect,) = result.defects
    assert defect.source is Source.TACTILE and set(defect.tactile_ids) == {"t0", "t1"}
    assert defect.confidence == 0.9


def test_presses_that_each_see_part_of_one_defect_merge_but_separate_defects_do_not() -> None:
    def sized(id_: str, cls: str, x: float, conf: float, length_mm: float) -> TactileFinding:
        return TactileFinding(id_, "r", 0, cls, conf, (x, 0.0, 0.0), UP, 0.01, 6.0, length_mm)

    # A 12 mm dent pressed twice: its two halves are placed 7 mm apart, beyond the 6 mm gate.
    (dent,) = fuse([], [sized("t0", "dent", 0.100, 0.9, 5.7), sized("t1", "dent", 0.107, 0.6, 12.4)]).defects
    assert set(dent.tactile_ids) == {"t0", "t1"} and dent.class_name == "dent"
    # One spot called a crack by one press and a scratch by the next: one defect, the surer call's class.
    (line,) = fuse([], [finding("t0", "crack", 0.200, conf=0.6), finding("t1", "scratch", 0.204, conf=0.8)]).defects
    assert line.class_name == "scratch" and len(line.tactile_ids) == 2
    # Two small pits 8 mm apart, and a dent and a pit 7 mm apart, stay apart.
    assert len(fuse([], [sized("a", "pit", 0.300, 0.9, 1.5), sized("b", "pit", 0.308, 0.9, 1.5)]).defects) == 2
    assert len(fuse([], [sized("a", "dent", 0.400, 0.9, 12.0), sized("b", "pit", 0.407, 0.9, 1.5)]).defects) == 2


def test_presses_along_a_scratch_longer_than_the_gel_are_one_defect_that_the_camera_confirms_anywhere() -> None:
    """Five presses along a scratch longer than the gel each see a 12 mm stretch of it: neighbours overlap,
    the ends do not (simulated tuning part 5150-3 reported a 58 mm scratch three times). One defect, as
    long as the presses cover together, confirmed by a camera hypothesis near its end although the
    surest press is 16 mm away. Two scratches 40 mm apart stay two."""
    def stretch(id_: str, x: float, conf: float, length_mm: float = 12.0) -> TactileFinding:
        return TactileFinding(id_, "r", 0, "scratch", conf, (x, 0.0, 0.0), UP, 0.13, 0.5, length_mm)

    presses = [stretch(f"t{k}", 0.100 + 0.007 * k, conf) for k, conf in enumerate((0.9, 0.95, 0.99, 0.92, 0.96))]
    camera_end = DefectHypothesis("h0", "scratch", 0.3, (0.130, 0.0, 0.0), UP, (0.004, 0.001))
    result = fuse([camera_end], presses)
    (scratch,) = result.defects
    assert scratch.source is Source.BOTH and scratch.vision_ids == ("h0",)
    assert sorted(scratch.tactile_ids) == ["t0", "t1", "t2", "t3", "t4"]
    assert scratch.position == (0.114, 0.0, 0.0)  # where the surest press placed it
    assert scratch.length_mm == pytest.approx(28.0 + 12.0)
    (alone,) = fuse([], presses).defects
    assert alone.source is Source.TACTILE and alone.length_mm == pytest.approx(40.0)
    apart = fuse([], [stretch("a", 0.100, 0.9), stretch("b", 0.140, 0.9)]).defects
    assert [d.length_mm for d in apart] == [12.0, 12.0]


def test_two_stretches_of_a_line_meet_end_to_end_where_two_dents_that_far_apart_stay_two() -> None:
    """A shallow 35 mm scratch pressed every 11.5 mm is read as 14.7 mm stretches (simulated part 424244-10):
    they overlap, so one scratch. Two 14.7 mm dents as far apart are two: a dent's centre is where a press
    places it only within half its size."""
    def stretch(id_: str, cls: str, x: float) -> TactileFinding:
        return TactileFinding(id_, "r", 0, cls, 0.95, (x, 0.0, 0.0), UP, 0.045, 0.5, 14.7)

    (scratch,) = fuse([], [stretch("t43", "scratch", 0.1000), stretch("t44", "scratch", 0.1115)]).defects
    assert sorted(scratch.tactile_ids) == ["t43", "t44"] and scratch.length_mm == pytest.approx(11.5 + 14.7)
    assert len(fuse([], [stretch("a", "dent", 0.1000), stretch("b", "dent", 0.1115)]).defects) == 2


def test_scratches_side_by_side_are_two_where_stretches_of_one_line_are_one() -> None:
    """Presses beside two parallel scratches each see one of them (simulated part 424245-12: an 8.5 mm
    scratch 7.4 mm from a 14.9 mm one joined its group, and was lost). The longer stretch's measured
    direction says whether the other lies on its line: side by side 4.5 mm apart they are two, each
    confirming its own camera hypothesis, and R6 keeps them two; along the line they are one, whatever
    either press called it. Findings without a direction keep the distance rule."""
    along_x = (1.0, 0.0, 0.0)

    def line(id_: str, x: float, y: float, length_mm: float, cls: str = "scratch",
             direction: tuple[float, float, float] = along_x) -> TactileFinding:
        return TactileFinding(id_, "r", 0, cls, 0.9, (x, y, 0.0), UP, 0.1, 0.5, length_mm, direction)

    def camera(id_: str, x: float, y: float) -> DefectHypothesis:
        return DefectHypothesis(id_, "scratch", 0.3, (x, y, 0.0), UP, (0.012, 0.001))

    side_by_side = [line("a", 0.100, 0.0, 12.0), line("b", 0.102, 0.0045, 8.0)]
    assert len(fuse([], side_by_side).defects) == 2
    result = fuse([camera("h0", 0.100, 0.0), camera("h1", 0.102, 0.0045)], side_by_side)
    assert sorted((d.vision_ids, d.tactile_ids) for d in result.defects) == [(("h0",), ("a",)), (("h1",), ("b",))]
    assert all(d.direction == along_x for d in result.defects)
    assert len(fuse([], [line("a", 0.100, 0.0, 12.0), line("b", 0.102, 0.0045, 8.0, "crack")]).defects) == 2
    (one,) = fuse([], [line("a", 0.100, 0.0, 12.0), line("b", 0.105, 0.0008, 8.0, "crack")]).defects
    assert sorted(one.tactile_ids) == ["a", "b"]
    (end_to_end,) = fuse([], [line("a", 0.100, 0.0, 14.7), line("b", 0.1115, 0.0008, 14.7)]).defects
    assert end_to_end.length_mm == pytest.approx(26.2, abs=0.1)
    unknown = (0.0, 0.0, 0.0)
    assert len(fuse([], [line("a", 0.100, 0.0, 12.0, direction=unknown),
                         line("b", 0.102, 0.0045, 8.0, direction=unknown)]).defects) == 1


def test_a_pit_read_long_does_not_take_in_a_pit_beside_it() -> None:
    """A press on a leading edge read a "pit" 31 mm long (a misread region) 9 mm from a true pit another
    press found (simulated part 424245-17): a pit is seen whole, so two pits further apart than the gate
    are two, whatever size was measured. Two dents as far apart, one measured that long, are one: a press
    that sees part of a large dent places it off its centre."""
    def spot(id_: str, cls: str, x: float, length_mm: float) -> TactileFinding:
        return TactileFinding(id_, "r", 0, cls, 0.97, (x, 0.0, 0.0), UP, 0.06, 2.0, length_mm)

    assert len(fuse([], [spot("t35", "pit", 0.100, 30.9), spot("t36", "pit", 0.109, 0.9)]).defects) == 2
    assert len(fuse([], [spot("a", "missing_fastener", 0.100, 30.9), spot("b", "missing_fastener", 0.109, 4.0)]
                    ).defects) == 2
    assert len(fuse([], [spot("a", "dent", 0.100, 30.9), spot("b", "dent", 0.109, 9.0)]).defects) == 1


def test_a_group_confirms_the_hypothesis_near_any_of_its_presses() -> None:
    """A bump pressed three times on a curved part: the surest press placed it 6.5 mm from the camera's
    dent, beyond the 6 mm gate, another press 1.9 mm from it (simulated tuning part 5150-2 reported the
    camera's call and the touch's apart). One defect, touched by both."""
    def press(id_: str, x: float, conf: float, length_mm: float) -> TactileFinding:
        return TactileFinding(id_, "r", 0, "bump", conf, (x, 0.0, 0.0), UP, 0.1, 7.0, length_mm)

    camera = DefectHypothesis("h0", "dent", 0.46, (0.1000, 0.0, 0.0), UP, (0.008, 0.0067))
    touch = [press("t10", 0.1065, 0.93, 26.7), press("t8", 0.1019, 0.92, 11.2), press("t9", 0.1004, 0.64, 25.9)]
    (bump,) = fuse([camera], touch).defects
    assert bump.source is Source.BOTH and bump.class_name == "bump" and bump.vision_ids == ("h0",)
    assert len(bump.tactile_ids) == 3


def test_one_spot_is_one_defect_whatever_each_stage_called_it() -> None:
    """R6: the camera calls one spot both a stain and a dent, the dent is confirmed by touch: one defect, the
    touched one, carrying both camera ids and its measurement. Spots farther apart than the gate stay apart,
    and ids stay d0, d1, ... in report order."""
    hypotheses = [hypothesis("h0", "dent", 0.100, conf=0.6), hypothesis("h1", "stain", 0.1016, conf=0.9),
                  hypothesis("h2", "stain", 0.300, conf=0.9)]
    findings = [finding("t0", "dent", 0.100, conf=0.95), finding("t1", "bump", 0.105, conf=0.9)]
    result = fuse(hypotheses, findings)
    assert [(d.id, d.class_name, d.source) for d in result.defects] == [
        ("d0", "stain", Source.VISION), ("d1", "dent", Source.BOTH)]
    dent = result.defects[1]
    assert set(dent.vision_ids) == {"h0", "h1"} and set(dent.tactile_ids) == {"t0", "t1"}
    assert dent.position == (0.100, 0.0, 0.0) and dent.depth_mm == 0.2  # the touched entry's measurement
    apart = fuse([hypothesis("h0", "stain", 0.100), hypothesis("h1", "dent", 0.108)], [])
    assert [d.class_name for d in apart.defects] == ["stain", "dent"]


def test_long_scratch_length_comes_from_the_camera() -> None:
    result = fuse([hypothesis("h0", "scratch", 0.1, extent=0.040)], [finding("t0", "scratch", 0.11)])
    assert result.defects[0].length_mm == pytest.approx(40.0)


def test_judge_sets_verdicts() -> None:
    result = fuse([], [finding("t0", "dent", 0.1, depth=0.3)],
                  judge=lambda d: Verdict(d.depth_mm is not None and d.depth_mm < 0.1, "dent depth <= 0.1 mm"))
    assert result.defects[0].verdict == Verdict(False, "dent depth <= 0.1 mm")


def test_scoring_matches_once_nearest_first() -> None:
    truths = [TruthDefect("g0", "dent", (0.0, 0.0, 0.0), (0.01, 0.01), 0.2),
              TruthDefect("g1", "scratch", (0.1, 0.0, 0.0), (0.04, 0.0003), 0.05)]
    result = match([(0.001, 0.0, 0.0), (0.002, 0.0, 0.0), (0.115, 0.0, 0.0), (0.5, 0.0, 0.0)], truths)
    assert sorted(result.pairs) == [(0, 0), (2, 1)]
    assert result.recall == 1.0 and result.precision == 0.5
    assert match([], truths).recall == 0.0 and match([], truths).precision is None
