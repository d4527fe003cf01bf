"""`inspection data stats|convert` as a user runs them: real subprocess, JSON output, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.test_datasets_fixtures import voc_xml, write_image, write_text


def _dataset(root: Path) -> Path:
    write_image(root / "jpg" / "a.jpg", 200, 200)
    write_image(root / "jpg" / "b.jpg", 200, 200)
    boxes = [("scratches", 10, 10, 50, 50), ("scratches", 150, 10, 240, 50)]
    write_text(root / "ann" / "a.xml", voc_xml("a.jpg", boxes, size=(200, 200)))
    write_text(root / "ann" / "b.xml", voc_xml("b.jpg", [("pitted_surface", 1, 1, 20, 20)], size=(200, 200)))
    return root


def test_stats_writes_counts_and_skipped_items(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    result = run_cli("data", "stats", "--dataset", str(root), "--json", str(tmp_path / "stats.json"),
                     "--map", "scratches=scratch,pitted_surface=pit")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["format"], stats["images"], stats["boxes"]) == ("voc", 2, 2)
    assert stats["classes"] == {"pit": 1, "scratch": 1}
    assert stats["skipped"] == [{"file": "ann/a.xml", "reason": "box 2 (scratch) outside the image 200x200: x2=240"}]
    assert "VOC, 2 images, 2 boxes, 1 skipped" in result.stdout
    strict = run_cli("data", "stats", "--dataset", str(root), "--strict")
    assert strict.returncode == 1 and "1 items skipped" in strict.stderr


def test_bad_input_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for args, expected in [
        (("--dataset", str(tmp_path / "absent")), "no such dataset"),
        (("--dataset", str(tmp_path / "empty")), "no annotations found"),
        (("--dataset", str(_dataset(tmp_path / "d")), "--map", "nonsense"), "--map 'nonsense': expected OLD=NEW"),
    ]:
        result = run_cli("data", "stats", *args)
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and expected in result.stderr and "Traceback" not in result.stderr


def test_convert_to_yolo_then_coco(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    first = run_cli("data", "convert", "--dataset", str(root), "--to", "yolo", "--out", str(tmp_path / "yolo"),
                    "--val-fraction", "0.5")
    assert first.returncode == 0, first.stderr
    assert sorted(p.parent.name for p in (tmp_path / "yolo" / "labels").rglob("*.txt")) == ["train", "val"]
    second = run_cli("data", "convert", "--dataset", str(tmp_path / "yolo" / "data.yaml"), "--to", "coco",
                     "--out", str(tmp_path / "coco"))
    assert second.returncode == 0, second.stderr
    files = sorted(p.name for p in (tmp_path / "coco" / "annotations").iterdir())
    assert files == ["instances_train.json", "instances_val.json"]
    again = run_cli("data", "convert", "--dataset", str(root), "--to", "coco", "--out", str(tmp_path / "coco"))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_real_dataset_names_map_onto_our_classes(tmp_path: Path) -> None:
    """The aircraft-skin photographs' names (``paint-off``, ``missing-head``) become ours with ``--map``."""
    from inspection.datasets import load_dataset
    from inspection.records import DEFECT_CLASSES

    root = tmp_path / "skin"
    write_text(root / "data.yaml", "path: .\ntrain: train/images\nval: valid/images\n"
                                   "names: ['crack', 'dent', 'missing-head', 'paint-off', 'scratch']\n")
    for split, name, lines in [("train", "a", ["2 0.5 0.5 0.1 0.1", "3 0.2 0.2 0.2 0.2"]),
                               ("train", "b", ["0 0.3 0.6 0.4 0.05"]), ("valid", "c", ["2 0.7 0.3 0.08 0.08"])]:
        write_image(root / split / "images" / f"{name}.jpg", 160, 120)
        write_text(root / split / "labels" / f"{name}.txt", "\n".join(lines) + "\n")
    renaming = "paint-off=paint_loss,missing-head=missing_fastener"
    stats = run_cli("data", "stats", "--dataset", str(root), "--map", renaming, "--json", str(tmp_path / "s.json"))
    assert stats.returncode == 0, stats.stderr
    assert json.loads((tmp_path / "s.json").read_text())["classes"] == {
        "crack": 1, "dent": 0, "missing_fastener": 2, "paint_loss": 1, "scratch": 0}
    converted = run_cli("data", "convert", "--dataset", str(root), "--map", renaming, "--to", "yolo",
                        "--out", str(tmp_path / "ours"))
    assert converted.returncode == 0, converted.stderr
    dataset = load_dataset(tmp_path / "ours")
    named = {box.class_name for image in dataset.images for box in image.boxes}
    assert named == {"crack", "missing_fastener", "paint_loss"} and named <= set(DEFECT_CLASSES)
