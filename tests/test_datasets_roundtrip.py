"""VOC -> YOLO -> COCO -> load gives back the same boxes; writers refuse to clobber."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspection.datasets import DatasetError, assign_splits, load_dataset, write_coco, write_yolo
from tests.test_datasets_fixtures import assert_same_boxes, boxes_of, voc_xml, write_image, write_text

def _by_size(dataset) -> dict:
    """Boxes keyed by image size: the fixture's three images differ in size, not all in name."""
    return {(r.width, r.height): [(b.class_name, b.x1, b.y1, b.x2, b.y2) for b in r.boxes] for r in dataset.images}


def _voc_dataset(root: Path) -> None:
    write_image(root / "imgs" / "a.jpg", 200, 120)
    write_image(root / "imgs" / "sub" / "b.png", 64, 48)
    write_image(root / "other" / "a.jpg", 80, 80)  # same file name in another folder
    write_text(root / "xml" / "a.xml", voc_xml("imgs/a.jpg", [("scratch", 10.5, 20, 50, 60), ("dent", 0, 0, 200, 120)]))
    write_text(root / "xml" / "b.xml", voc_xml("b.png", [("Dent", 3, 4, 63, 47.5)], size=None))
    write_text(root / "other" / "a2.xml", voc_xml("a.jpg", [], size=(80, 80)))


def test_voc_to_yolo_to_coco_keeps_every_box(tmp_path: Path) -> None:
    _voc_dataset(tmp_path / "voc")
    voc = load_dataset(tmp_path / "voc")
    assert voc.skipped == [] and len(voc.images) == 3
    write_yolo(assign_splits(voc, 0.34), tmp_path / "yolo")
    yolo = load_dataset(tmp_path / "yolo")
    assert voc.class_names == ["dent", "scratch"]  # 'Dent' in b.xml is the same class, spelled as first met
    assert yolo.format == "yolo" and yolo.class_names == voc.class_names
    assert sorted(r.split for r in yolo.images) == ["train", "train", "val"]
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data == {"train": "images/train", "val": "images/val", "names": {0: "dent", 1: "scratch"}}
    write_coco(yolo, tmp_path / "coco")
    coco = load_dataset(tmp_path / "coco")
    assert coco.format == "coco" and coco.class_names == voc.class_names and coco.skipped == []
    assert sorted(r.split for r in coco.images) == ["train", "train", "val"]
    assert len({r.path for r in coco.images}) == 3  # two "a.jpg" from different folders stay apart
    assert_same_boxes(_by_size(voc), _by_size(coco))
    document = json.loads(next((tmp_path / "coco" / "annotations").glob("*.json")).read_text())
    assert [c["id"] for c in document["categories"]] == [1, 2]
    # Images are hard links, not copies.
    assert all(r.path.stat().st_nlink >= 2 for r in coco.images)


def test_writers_refuse_a_non_empty_output_or_one_inside_the_dataset(tmp_path: Path) -> None:
    _voc_dataset(tmp_path / "voc")
    voc = load_dataset(tmp_path / "voc")
    write_text(tmp_path / "taken" / "x.txt", "mine")
    with pytest.raises(DatasetError, match="not empty"):
        write_yolo(voc, tmp_path / "taken")
    with pytest.raises(DatasetError, match="inside the dataset"):
        write_coco(voc, tmp_path / "voc" / "converted")
    assert (tmp_path / "taken" / "x.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".*partial"))


_coordinate = st.floats(0, 1, allow_nan=False)


@st.composite
def _random_box(draw: st.DrawFn) -> tuple[str, float, float, float, float]:
    x1, x2 = sorted(draw(st.lists(_coordinate, min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(_coordinate, min_size=2, max_size=2, unique=True)))
    if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
        x2, y2 = min(1.0, x1 + 0.01), min(1.0, y1 + 0.01)
        x1, y1 = x2 - 0.01, y2 - 0.01
    return draw(st.sampled_from(["scratch", "dent", "pit"])), x1 * 200, y1 * 120, x2 * 200, y2 * 120


ROUND_TRIP_EXAMPLES = 25


@settings(max_examples=ROUND_TRIP_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(boxes=st.lists(_random_box(), max_size=8))
def test_random_boxes_survive_the_round_trip(tmp_path: Path, boxes: list) -> None:
    case = Path(tmp_path / f"case{len(list(tmp_path.iterdir()))}")
    write_image(case / "voc" / "a.png", 200, 120)
    write_text(case / "voc" / "a.xml", voc_xml("a.png", boxes))
    voc = load_dataset(case / "voc", class_names=["scratch", "dent", "pit"])
    assert voc.skipped == [] and len(voc.images[0].boxes) == len(boxes)
    write_yolo(voc, case / "yolo")
    write_coco(load_dataset(case / "yolo"), case / "coco")
    assert_same_boxes(boxes_of(voc), boxes_of(load_dataset(case / "coco", class_names=["scratch", "dent", "pit"])))


def test_unsplit_images_go_to_train_with_unique_names(tmp_path: Path) -> None:
    _voc_dataset(tmp_path / "voc")
    write_yolo(load_dataset(tmp_path / "voc"), tmp_path / "yolo")
    assert sorted(p.name for p in (tmp_path / "yolo" / "images" / "train").iterdir()) == ["a.jpg", "a_2.jpg", "b.png"]
    text = (tmp_path / "yolo" / "data.yaml").read_text()
    assert "val points at train" in text and yaml.safe_load(text)["val"] == "images/train"
    assert (tmp_path / "yolo" / "labels" / "train" / "a_2.txt").read_text() == ""


def test_copy_option_and_empty_dataset(tmp_path: Path) -> None:
    _voc_dataset(tmp_path / "voc")
    voc = load_dataset(tmp_path / "voc")
    write_coco(voc, tmp_path / "copied", copy_images=True)
    assert all(r.path.stat().st_nlink == 1 for r in load_dataset(tmp_path / "copied").images)
    with pytest.raises(DatasetError, match="no usable images"):
        write_yolo(load_dataset(tmp_path / "voc", split="test"), tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
