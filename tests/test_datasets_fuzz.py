"""Hypothesis fuzzing of the readers and writers with random and malformed xml, json, label lines
and boxes: nothing but DatasetError escapes, and a valid file beside the bad one always survives whole.

Case counts are fixed by ``max_examples`` below (total FUZZ_CASES); each case writes a fresh file.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspection.datasets import dataset_stats, load_dataset, write_coco, write_yolo
from tests.test_datasets_fixtures import (
    assert_same_boxes, boxes_of, coco_document, voc_xml, write_image, write_json, write_text,
)

EXAMPLES = {"voc_text": 250, "voc_boxes": 250, "coco": 300, "yolo": 250, "yolo_yaml": 150, "convert": 40}
FUZZ_CASES = sum(EXAMPLES.values())
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

GOOD_BOX = ("scratch", 10.0, 20.0, 50.0, 60.0)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                    st.floats(-50, 250))
_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)), max_leaves=12)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A dataset folder holding one valid image; each test adds a valid annotation read first ('a_good')."""
    write_image(tmp_path / "good.png", 200, 120)
    write_image(tmp_path / "other.png", 200, 120, seed=1)
    return tmp_path


def _assert_good_survives(root: Path, fmt: str) -> None:
    dataset = load_dataset(root, format=fmt)
    assert boxes_of(dataset)["good.png"] == [GOOD_BOX]
    stats = dataset_stats(dataset)
    assert stats["boxes"] == sum(len(r.boxes) for r in dataset.images)
    assert all(s.file and s.reason for s in dataset.skipped)


def _mutate(text: str, data: st.DataObject) -> str:
    """Truncate, insert junk or swap a field value: the damage real files have."""
    action = data.draw(st.sampled_from(["truncate", "insert", "field"]))
    if action == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    if action == "insert":
        at = data.draw(st.integers(0, len(text)))
        junk = data.draw(st.one_of(st.sampled_from(["<", ">", "&", "</object>", "<object>", "]]>", "\x00"]), _text))
        return text[:at] + junk + text[at:]
    field = data.draw(st.sampled_from(["xmin", "ymax", "width", "height", "name", "filename"]))
    value = escape(str(data.draw(st.one_of(_number, _text, st.sampled_from(["../good.png", "/etc/passwd", "other"])))))
    start, end = text.find(f"<{field}>"), text.find(f"</{field}>")
    return text[: start + len(field) + 2] + value + text[end:] if start >= 0 and end > start else text


@settings(max_examples=EXAMPLES["voc_text"], **FUZZ)
@given(data=st.data(), raw=st.binary(max_size=300))
def test_voc_malformed_xml(root: Path, data: st.DataObject, raw: bytes) -> None:
    write_text(root / "a_good.xml", voc_xml("good.png", [GOOD_BOX]))
    bad = root / "b_bad.xml"
    if data.draw(st.booleans()):
        bad.write_bytes(b"<annotation>" + raw)
    else:
        write_text(bad, _mutate(voc_xml("other.png", [("dent", 1, 2, 30, 40), ("pit", 5, 5, 9, 9)]), data))
    _assert_good_survives(root, "voc")


@st.composite
def _voc_object(draw: st.DrawFn) -> tuple[str, float, float, float, float]:
    corners = draw(st.lists(st.one_of(st.floats(-20, 220), st.floats(allow_nan=True)), min_size=4, max_size=4))
    return (draw(st.sampled_from(["scratch", "dent", "pit", "gremlin"])), *corners)


def _expected_valid(name: str, x1: float, y1: float, x2: float, y2: float) -> bool:
    finite = all(math.isfinite(v) for v in (x1, y1, x2, y2))
    inside = finite and -1 <= x1 and -1 <= y1 and x2 <= 201 and y2 <= 121
    # Clipping to the image must leave some area.
    return name != "gremlin" and inside and min(x2, 200) > max(x1, 0) and min(y2, 120) > max(y1, 0)


@settings(max_examples=EXAMPLES["voc_boxes"], **FUZZ)
@given(objects=st.lists(_voc_object(), max_size=6))
def test_voc_random_boxes_kept_exactly_when_valid(root: Path, objects: list) -> None:
    write_text(root / "a_good.xml", voc_xml("good.png", [GOOD_BOX]))
    write_text(root / "b.xml", voc_xml("other.png", objects))
    dataset = load_dataset(root, class_names=["scratch", "dent", "pit"])
    assert boxes_of(dataset)["good.png"] == [GOOD_BOX]
    kept = boxes_of(dataset)["other.png"]
    expected = [o for o in objects if _expected_valid(*o)]
    assert len(kept) == len(expected)
    assert len([s for s in dataset.skipped if s.file == "b.xml"]) == len(objects) - len(expected)
    strictly_inside = sorted(o for o in expected if 0 <= o[1] and 0 <= o[2] and o[3] <= 200 and o[4] <= 120)
    # untouched, not rounded (a box clipped into the image may equal one of these, hence a multiset)
    assert not Counter(strictly_inside) - Counter(kept)


_file_names = st.sampled_from(["other.png", "../x.png", "/etc/x.png", "nope.png"])


@st.composite
def _coco_document(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 4)) == 0:
        return draw(_json_value)
    image = st.fixed_dictionaries({"id": st.one_of(st.integers(0, 3), _json_value),
                                   "file_name": st.one_of(_file_names, _json_value)},
                                  optional={"width": st.one_of(st.just(200), _json_value), "height": _json_value})
    annotation = st.fixed_dictionaries({"image_id": st.one_of(st.integers(0, 3), _json_value),
                                        "category_id": st.one_of(st.integers(0, 3), _json_value),
                                        "bbox": st.one_of(st.lists(_number, min_size=4, max_size=4), _json_value)},
                                       optional={"id": _json_value, "iscrowd": _json_value})
    document = {"images": draw(st.lists(st.one_of(image, _json_value), max_size=4)),
                "annotations": draw(st.lists(st.one_of(annotation, _json_value), max_size=6)),
                "categories": draw(st.one_of(st.just([{"id": 1, "name": "dent"}, {"id": 2, "name": "pit"}]),
                                             st.lists(_json_value, max_size=3)))}
    if draw(st.booleans()):
        del document[draw(st.sampled_from(sorted(document)))]
    return document


@settings(max_examples=EXAMPLES["coco"], **FUZZ)
@given(document=_coco_document(), truncate=st.one_of(st.none(), st.integers(0, 200)))
def test_coco_malformed_json(root: Path, document: object, truncate: int | None) -> None:
    good = coco_document([{"id": 1, "file_name": "good.png", "width": 200, "height": 120}],
                         [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10.0, 20.0, 40.0, 40.0]}], ["scratch"])
    write_json(root / "a_good.json", good)
    text = json.dumps(document)
    write_text(root / "b_bad.json", text[:truncate] if truncate is not None else text)
    _assert_good_survives(root, "coco")


_label_line = st.one_of(
    st.lists(st.one_of(_number.map(str), _text), max_size=9).map(" ".join),
    st.tuples(st.integers(-1, 3), *[st.floats(-0.2, 1.2)] * 4).map(lambda t: " ".join(map(str, t))),
    _text,
)


@settings(max_examples=EXAMPLES["yolo"], **FUZZ)
@given(lines=st.lists(_label_line, max_size=6))
def test_yolo_malformed_label_lines(root: Path, lines: list[str]) -> None:
    for name in ("good.png", "other.png"):
        if not (root / "images" / "train" / name).exists():
            write_image(root / "images" / "train" / name, 200, 120)
    write_text(root / "labels" / "train" / "good.txt", "0 0.15 0.333333333 0.2 0.333333333\n")
    write_text(root / "labels" / "train" / "other.txt", "\n".join(lines).replace("\r", ""))
    write_text(root / "data.yaml", "train: images/train\nval: images/train\nnames: [scratch, dent, pit]\n")
    dataset = load_dataset(root, format="yolo")
    good = boxes_of(dataset)["good.png"]
    assert len(good) == 1 and good[0][0] == "scratch"
    assert good[0][1:] == pytest.approx(GOOD_BOX[1:], abs=1e-6)
    assert len(dataset.images) == 2


_yaml_document = st.one_of(
    st.fixed_dictionaries({}, optional={"path": _json_value, "train": st.one_of(st.just("images/train"), _json_value),
                                        "val": _json_value, "names": st.one_of(st.just(["scratch"]), _json_value)}),
    _json_value,
)


@settings(max_examples=EXAMPLES["yolo_yaml"], **FUZZ)
@given(document=_yaml_document, raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_yolo_malformed_data_yaml(root: Path, document: object, raw: bytes | None) -> None:
    import yaml

    from inspection.datasets import DatasetError

    if not (root / "images" / "train" / "good.png").exists():
        write_image(root / "images" / "train" / "good.png", 200, 120)
        write_text(root / "labels" / "train" / "good.txt", "0 0.15 0.333333333 0.2 0.333333333\n")
    data = b"names:\n" + raw if raw is not None else yaml.safe_dump(document).encode()
    (root / "data.yaml").write_bytes(data)
    try:
        dataset = load_dataset(root, format="yolo")
    except DatasetError as exc:  # a data.yaml that cannot describe a dataset is a dataset-level error
        assert "data.yaml" in str(exc) or "no YOLO annotations" in str(exc)
        return
    assert all(s.file and s.reason for s in dataset.skipped)


_class_name = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@settings(max_examples=EXAMPLES["convert"], **FUZZ)
@given(names=st.lists(_class_name, min_size=1, max_size=3, unique=True), data=st.data())
def test_converters_keep_random_datasets(root: Path, names: list[str], data: st.DataObject) -> None:
    case = root / f"case{len(list(root.glob('case*')))}"
    objects = []
    for _ in range(data.draw(st.integers(0, 5))):
        x1, y1 = data.draw(st.floats(0, 190)), data.draw(st.floats(0, 110))
        x2, y2 = data.draw(st.floats(x1 + 0.5, 200)), data.draw(st.floats(y1 + 0.5, 120))
        objects.append((data.draw(st.sampled_from(names)), x1, y1, x2, y2))
    write_image(case / "src" / "a.png", 200, 120)
    write_text(case / "src" / "a.xml", voc_xml("a.png", objects))
    source = load_dataset(case / "src")
    write_coco(source, case / "coco")
    write_yolo(load_dataset(case / "coco"), case / "yolo")
    result = load_dataset(case / "yolo")
    assert result.skipped == [] and sorted(result.class_names) == sorted(set(o[0] for o in objects))
    assert_same_boxes(boxes_of(source), boxes_of(result))
