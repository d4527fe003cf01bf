"""Readers on small datasets built here: good items survive, each bad one is skipped and named."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from inspection.datasets import DatasetError, dataset_stats, load_dataset
from tests.test_datasets_fixtures import (
    boxes_of, coco_document, reasons, voc_xml, write_image, write_json, write_text,
)


def test_voc_outside_canonical_folders_finds_images_by_filename(tmp_path: Path) -> None:
    write_image(tmp_path / "pics" / "batch1" / "a.jpg")
    write_image(tmp_path / "b.png", 64, 48)
    write_text(tmp_path / "labels_xml" / "deep" / "a.xml", voc_xml("a.jpg", [("scratch", 10, 20, 50, 60)]))
    # No <size>: read from the image header.
    write_text(tmp_path / "b.xml", voc_xml("b.png", [("dent", 1.5, 2.5, 30, 40)], size=None))
    dataset = load_dataset(tmp_path)
    assert dataset.format == "voc"
    assert boxes_of(dataset) == {"a.jpg": [("scratch", 10, 20, 50, 60)], "b.png": [("dent", 1.5, 2.5, 30, 40)]}
    assert {(r.path.name, r.width, r.height) for r in dataset.images} == {("a.jpg", 200, 120), ("b.png", 64, 48)}
    assert all(r.path.is_absolute() for r in dataset.images)
    assert dataset.class_names == ["dent", "scratch"] and dataset.skipped == []


def test_voc_keeps_the_valid_box_and_names_each_bad_one(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", 200, 200)
    objects = [("scratch", 10, 10, 50, 50), ("scratch", 150, 10, 240, 50), ("dent", 30, 30, 30, 60),
               ("gremlin", 1, 1, 5, 5), ("scratch", 0, 0, 200.5, 200)]  # last: within the 1 px tolerance
    write_text(tmp_path / "a.xml", voc_xml("a.jpg", objects, size=(200, 200)))
    dataset = load_dataset(tmp_path, class_names=["scratch", "dent"])
    assert boxes_of(dataset) == {"a.jpg": [("scratch", 0, 0, 200, 200), ("scratch", 10, 10, 50, 50)]}
    assert reasons(dataset) == [
        "a.xml: box 2 (scratch) outside the image 200x200: x2=240",
        "a.xml: box 3 (dent) has non-positive size 0x30",
        "a.xml: box 4: unknown class 'gremlin'",
    ]


def test_voc_bad_files_are_skipped_whole_and_named(tmp_path: Path) -> None:
    write_image(tmp_path / "good.jpg")
    write_text(tmp_path / "good.xml", voc_xml("good.jpg", [("pit", 5, 5, 25, 25)]))
    write_text(tmp_path / "broken.xml", voc_xml("good.jpg", [("pit", 5, 5, 25, 25)])[:-30])
    write_text(tmp_path / "escape.xml", voc_xml("../../etc/passwd.jpg", []))
    write_text(tmp_path / "absolute.xml", voc_xml("/etc/hosts.png", []))
    write_text(tmp_path / "missing.xml", voc_xml("nowhere.jpg", []))
    write_text(tmp_path / "entity.xml", '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]>' + voc_xml("good.jpg", []))
    write_text(tmp_path / "resized.xml", voc_xml("resized.jpg", [("pit", 1, 1, 9, 9)], size=(400, 240)))
    write_image(tmp_path / "resized.jpg")
    write_text(tmp_path / "notvoc.xml", "<config><a>1</a></config>")
    write_text(tmp_path / "huge.xml", voc_xml("good.jpg", [("pit", 1, 1, 9, 9)] * 200))
    dataset = load_dataset(tmp_path, max_annotation_bytes=8000)
    assert boxes_of(dataset) == {"good.jpg": [("pit", 5, 5, 25, 25)]}
    by_file = {s.file: s.reason for s in dataset.skipped}
    assert by_file["broken.xml"].startswith("broken xml:")
    assert "escape the dataset root" in by_file["escape.xml"]
    assert "escape the dataset root" in by_file["absolute.xml"]
    assert "not found" in by_file["missing.xml"]
    assert "DOCTYPE" in by_file["entity.xml"]
    assert by_file["resized.xml"] == "<size> 400x240 differs from the image file 200x120"
    assert "root element <config>" in by_file["notvoc.xml"]
    assert "over the 0.0 MiB limit" in by_file["huge.xml"]
    assert len(dataset_stats(dataset)["skipped"]) == 8


def test_damaged_images_are_skipped(tmp_path: Path) -> None:
    whole = write_image(tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # an interrupted download
    (tmp_path / "garbage.jpg").write_bytes(os.urandom(500))
    write_image(tmp_path / "cut.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "cut.png").read_bytes()[:-20])
    for name in ("whole.jpg", "cut.jpg", "garbage.jpg", "cut.png"):
        write_text(tmp_path / f"{name}.xml", voc_xml(name, [("pit", 5, 5, 25, 25)]))
    dataset = load_dataset(tmp_path)
    assert list(boxes_of(dataset)) == ["whole.jpg"]
    by_file = {s.file: s.reason for s in dataset.skipped}
    assert by_file["cut.jpg"] == "image truncated (JPEG end marker missing)"
    assert by_file["cut.png"] == "image truncated (PNG end marker missing)"
    assert by_file["garbage.jpg"].startswith("image unreadable")


def test_symlink_out_of_the_root_is_skipped(tmp_path: Path) -> None:
    outside = write_image(tmp_path / "outside" / "secret.jpg")
    root = tmp_path / "data"
    write_image(root / "ok.jpg")
    (root / "link").mkdir(parents=True)
    (root / "link" / "secret.jpg").symlink_to(outside)
    write_text(root / "ok.xml", voc_xml("ok.jpg", []))
    write_text(root / "s.xml", voc_xml("link/secret.jpg", []))
    dataset = load_dataset(root)
    assert [r.path.name for r in dataset.images] == ["ok.jpg"]
    assert "outside the dataset root" in reasons(dataset)[0]


def test_class_names_map_across_spellings(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    objects = [("Scratches", 1, 1, 9, 9), ("pitted_surface", 2, 2, 8, 8), ("PAINT-LOSS", 3, 3, 9, 9),
               ("crazing", 1, 1, 5, 5)]
    write_text(tmp_path / "a.xml", voc_xml("a.jpg", objects))
    dataset = load_dataset(tmp_path, class_names=["scratch", "pit", "paint_loss"],
                           class_map={"scratches": "scratch", "Pitted Surface": "pit"})
    assert sorted(b.class_name for b in dataset.images[0].boxes) == ["paint_loss", "pit", "scratch"]
    assert reasons(dataset) == ["a.xml: box 4: unknown class 'crazing'"]
    assert dataset.class_names == ["scratch", "pit", "paint_loss"]


def test_coco_reader_skips_bad_annotations_and_keeps_good_ones(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg")
    write_image(tmp_path / "elsewhere" / "b.jpg")
    images = [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 120},
              {"id": 2, "file_name": "b.jpg"},
              {"id": 2, "file_name": "a.jpg"},
              {"id": 3, "file_name": "../x.jpg"},
              {"id": 4, "file_name": "missing.jpg"}]
    annotations = [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40]},
                   {"id": 11, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2]},
                   {"id": 12, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2]},
                   {"id": 13, "image_id": 2, "category_id": 2, "bbox": [190, 1, 30, 2]},
                   {"id": 14, "image_id": 2, "category_id": 2, "bbox": [1, 1, "x", 2]},
                   {"id": 15, "image_id": 2, "category_id": 2, "bbox": [5, 5, 10, 10], "iscrowd": 1},
                   {"id": 16, "image_id": 2, "category_id": 2, "bbox": [5, 6, 10, 10]},
                   {"id": 17, "image_id": 4, "category_id": 2, "bbox": [5, 6, 10, 10]}]
    write_json(tmp_path / "annotations" / "instances_val.json", coco_document(images, annotations, ["scratch", "dent"]))
    write_text(tmp_path / "annotations" / "instances_train.json", '{"images": [{"id": 1,')
    dataset = load_dataset(tmp_path)
    assert dataset.format == "coco" and dataset.class_names == ["scratch", "dent"]
    assert boxes_of(dataset) == {"a.jpg": [("scratch", 10, 20, 40, 60)], "b.jpg": [("dent", 5, 6, 15, 16)]}
    assert {r.split for r in dataset.images} == {"val"}
    got = [s.reason for s in dataset.skipped]
    assert got[0].startswith("broken json")
    assert got[1:] == [
        "image 3 (a.jpg): repeats id 2",
        "image 4 (../x.jpg): file_name: path '../x.jpg' would escape the dataset root",
        "image 5 (missing.jpg): image 'missing.jpg' not found under the dataset root",
        "annotation 11: unknown category id 9",
        "annotation 12: unknown image id 7",
        "annotation 14: not a number: 'x'",
        "annotation 15: crowd region (iscrowd=1), not a single defect",
        "image b.jpg: annotation 13 (dent) outside the image 200x120: x2=220",
    ]


def _yolo_tree(root: Path) -> None:
    write_image(root / "images" / "train" / "a.jpg", 200, 100)
    write_image(root / "images" / "val" / "b.jpg", 200, 100)
    write_image(root / "images" / "val" / "empty.jpg", 200, 100)
    write_text(root / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1 0.9\n7 0.5 0.5 0.1 0.1\n"
               "1 0.95 0.5 0.2 0.2\n0 0.5 x 0.1 0.1\n\n")
    write_text(root / "labels" / "val" / "b.txt", "1 0.1 0.2 0.3 0.2 0.3 0.4\n")  # a polygon
    write_text(root / "labels" / "val" / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")


@pytest.mark.parametrize("names", [["scratch", "dent"], {0: "scratch", 1: "dent"}])
def test_yolo_data_yaml_in_list_or_dict_form(tmp_path: Path, names: object) -> None:
    _yolo_tree(tmp_path)
    write_text(tmp_path / "data.yaml", yaml.safe_dump({"path": "/nonexistent/on/this/machine",
                                                      "train": "images/train", "val": "images/val", "names": names}))
    dataset = load_dataset(tmp_path)
    assert dataset.format == "yolo" and dataset.class_names == ["scratch", "dent"]
    got = boxes_of(dataset)
    assert got["empty.jpg"] == []  # an image without a label file is a background image
    assert got["a.jpg"] == [("scratch", pytest.approx(80), pytest.approx(30), pytest.approx(120), pytest.approx(70))]
    assert got["b.jpg"] == [("dent", pytest.approx(20), pytest.approx(20), pytest.approx(60), pytest.approx(40))]
    assert {r.path.name: r.split for r in dataset.images} == {"a.jpg": "train", "b.jpg": "val", "empty.jpg": "val"}
    assert reasons(dataset) == [
        "labels/train/a.txt: line 2: expected 'class cx cy w h' or a polygon, got 6 values",
        "labels/train/a.txt: line 3: unknown class id 7 (names has 2)",
        "labels/train/a.txt: line 5: not numbers",
        "labels/train/a.txt: line 4 (dent) outside the image 200x100: x2=210",
        "labels/val/orphan.txt: label file without an image",
    ]
    assert [r.path.name for r in load_dataset(tmp_path / "data.yaml", split="valid").images] == ["b.jpg", "empty.jpg"]


def test_yolo_roboflow_yaml_image_lists_and_bare_tree(tmp_path: Path) -> None:
    _yolo_tree(tmp_path)
    write_text(tmp_path / "val_list.txt", "./images/val/b.jpg\n../../outside.jpg\n")
    write_text(tmp_path / "data.yaml", "train: ../images/train\nval: val_list.txt\nnc: 2\nnames: ['scratch', 'dent']\n")
    dataset = load_dataset(tmp_path)
    assert sorted(boxes_of(dataset)) == ["a.jpg", "b.jpg"]
    assert "val_list.txt: line 2: path '../../outside.jpg' would escape the dataset root" in reasons(dataset)
    (tmp_path / "data.yaml").unlink()
    (tmp_path / "val_list.txt").unlink()
    bare = load_dataset(tmp_path, class_names=["scratch", "dent"])
    assert bare.format == "yolo" and sorted(boxes_of(bare)) == ["a.jpg", "b.jpg", "empty.jpg"]
    assert bare.class_names == ["scratch", "dent"]
    ids_only = load_dataset(tmp_path)
    assert ids_only.class_names == ["0", "1", "7"]


def test_format_detection_errors_name_the_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "absent")
    write_image(tmp_path / "a.jpg")
    with pytest.raises(DatasetError, match="no annotations found"):
        load_dataset(tmp_path)
    write_text(tmp_path / "a.xml", voc_xml("a.jpg", [("pit", 1, 1, 5, 5)]))
    write_json(tmp_path / "coco.json", coco_document([{"id": 1, "file_name": "a.jpg"}], [], ["pit"]))
    with pytest.raises(DatasetError, match="ambiguous format, found COCO .* VOC"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, format="voc").format == "voc"
    assert load_dataset(tmp_path / "coco.json").format == "coco"
    with pytest.raises(DatasetError, match="no YOLO annotations"):
        load_dataset(tmp_path, format="yolo")
    with pytest.raises(DatasetError, match="split 'dev'"):
        load_dataset(tmp_path, format="voc", split="dev")


def test_yolo_yaml_absolute_path_inside_the_root_is_used(tmp_path: Path) -> None:
    _yolo_tree(tmp_path / "sub")
    write_text(tmp_path / "data.yaml", yaml.safe_dump({"path": str(tmp_path / "sub"), "train": "images/train",
                                                      "val": "images/val", "names": ["scratch", "dent"]}))
    assert sorted(boxes_of(load_dataset(tmp_path))) == ["a.jpg", "b.jpg", "empty.jpg"]


def test_linked_file_found_by_name_is_not_followed_out_of_the_root(tmp_path: Path) -> None:
    outside = write_image(tmp_path / "outside" / "secret.jpg")
    root = tmp_path / "data"
    (root / "link").mkdir(parents=True)
    (root / "link" / "secret.jpg").symlink_to(outside)
    (root / "linked_dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    write_image(root / "inside.jpg")
    (root / "link" / "alias.jpg").symlink_to(root / "inside.jpg")  # a link inside the root is fine
    write_text(root / "s.xml", voc_xml("secret.jpg", []))
    write_text(root / "a.xml", voc_xml("alias.jpg", []))
    dataset = load_dataset(root)
    assert [r.path.name for r in dataset.images] == ["alias.jpg"]
    assert reasons(dataset) == [  # each link out is named, not silently dropped
        f"linked_dir: link to {tmp_path / 'outside'}, outside the dataset root: not followed",
        f"link/secret.jpg: link to {outside}, outside the dataset root: not followed",
        "s.xml: image 'secret.jpg' not found under the dataset root"]


def test_voc_split_from_image_sets_or_folders(tmp_path: Path) -> None:
    write_image(tmp_path / "JPEGImages" / "a.jpg")
    write_image(tmp_path / "valid" / "b.jpg")
    write_image(tmp_path / "c.jpg")
    write_text(tmp_path / "Annotations" / "a.xml", voc_xml("a.jpg", []))
    write_text(tmp_path / "Annotations" / "b.xml", voc_xml("b.jpg", []))
    write_text(tmp_path / "test" / "c.xml", voc_xml("c.jpg", []))
    write_text(tmp_path / "ImageSets" / "Main" / "train.txt", "a\n")
    dataset = load_dataset(tmp_path)
    assert {r.path.name: r.split for r in dataset.images} == {"a.jpg": "train", "b.jpg": "val", "c.jpg": "test"}
