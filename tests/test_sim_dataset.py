"""`inspection sim dataset` end to end: layout, labels vs metadata, determinism, workers, errors."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from inspection.datasets.loader import load_dataset
from inspection.records import DEFECT_CLASSES
from inspection.sim.dataset import _clip, _tiles, is_val, structure_table
from inspection.sim.scene import Scene
from tests.conftest import run_cli

SMALL = ["--width", "480", "--height", "270"]


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def yolo_tiles(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "yolo"
    result = run_cli("sim", "dataset", "--out", str(out), "--images", "10", "--seed", "4", "--tile", "128",
                     "--val-fraction", "0.5", *SMALL)
    assert result.returncode == 0, result.stderr
    return out


def test_yolo_layout_and_names(yolo_tiles: Path) -> None:
    data = yaml.safe_load((yolo_tiles / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(DEFECT_CLASSES)) and "path" not in data
    assert data["train"] == "images/train" and data["val"] == "images/val"
    images = sorted((yolo_tiles / "images").rglob("*.jpg"))
    assert len(images) == 10 and {p.parent.name for p in images} == {"train", "val"}
    dataset = load_dataset(yolo_tiles)  # the project's own reader accepts it
    assert len(dataset.images) == 10 and list(dataset.class_names) == list(DEFECT_CLASSES)
    assert all((image.width, image.height) == (128, 128) for image in dataset.images)
    summary = json.loads((yolo_tiles / "dataset.json").read_text())
    assert sum(summary["images_per_split"].values()) == 10


def test_labels_match_metadata_and_scene_ground_truth(yolo_tiles: Path) -> None:
    labelled = 0
    for meta_path in sorted((yolo_tiles / "meta").rglob("*.json")):
        meta = json.loads(meta_path.read_text())
        split, name = meta_path.parent.name, meta_path.stem
        lines = (yolo_tiles / "labels" / split / f"{name}.txt").read_text().split("\n")
        lines = [line.split() for line in lines if line]
        assert len(lines) == len(meta["boxes"])
        scene = Scene.load(yolo_tiles / meta["scene"])
        view = {d["defect_id"]: d for d in scene.views[meta["view_id"]]["defects"]}
        x0, y0 = meta["tile_offset"]
        for line, record in zip(lines, meta["boxes"]):
            labelled += 1
            assert DEFECT_CLASSES[int(line[0])] == record["class_name"]
            cx, cy, w, h = (float(v) * 128 for v in line[1:])
            x1, y1, x2, y2 = record["box"]
            np.testing.assert_allclose([cx, cy, w, h], [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], atol=1e-3)
            full = record["box_full_frame"]
            assert view[record["defect_id"]]["camera_visible"] and view[record["defect_id"]]["box"] == full
            assert (x1 + x0, y1 + y0) == (max(full[0], x0), max(full[1], y0))  # tile box = clipped frame box
            defect = next(d for d in scene.defects if d.id == record["defect_id"])
            assert defect.class_name == record["class_name"]
        np.testing.assert_allclose(np.asarray(meta["camera"]["part_from_camera"])[3], [0, 0, 0, 1])
    assert labelled > 0


def test_same_seed_same_bytes_and_workers_do_not_matter(yolo_tiles: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    result = run_cli("sim", "dataset", "--out", str(out), "--images", "10", "--seed", "4", "--tile", "128",
                     "--val-fraction", "0.5", "--workers", "2", *SMALL)
    assert result.returncode == 0, result.stderr
    assert _hashes(out) == _hashes(yolo_tiles)
    other = tmp_path / "other"
    assert run_cli("sim", "dataset", "--out", str(other), "--images", "10", "--seed", "5", "--tile", "128",
                   "--val-fraction", "0.5", *SMALL).returncode == 0
    assert _hashes(other) != _hashes(yolo_tiles)


def test_coco_full_frames(tmp_path: Path) -> None:
    out = tmp_path / "coco"
    result = run_cli("sim", "dataset", "--out", str(out), "--images", "3", "--format", "coco", "--seed", "1",
                     "--val-fraction", "0.4", "--image-format", "png", *SMALL)
    assert result.returncode == 0, result.stderr
    train = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert [c["name"] for c in sorted(train["categories"], key=lambda c: c["id"])] == list(DEFECT_CLASSES)
    assert all((image["width"], image["height"]) == (480, 270) for image in train["images"])
    for image in train["images"]:
        assert (out / image["file_name"]).is_file()
    dataset = load_dataset(out)
    assert len(dataset.images) == 3 and sum(len(i.boxes) for i in dataset.images) == sum(
        len(json.loads(p.read_text())["boxes"]) for p in (out / "meta").rglob("*.json"))


@pytest.mark.parametrize("args, message", [
    (["--tile", "640"], "--tile 640"),
    (["--images", "0"], "--images 0"),
    (["--val-fraction", "1.5"], "--val-fraction"),
])
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    options = {"--images": "2"}
    for flag, value in zip(args[::2], args[1::2]):
        options[flag] = value
    flat = [item for pair in options.items() for item in pair]
    result = run_cli("sim", "dataset", "--out", str(tmp_path / "x"), *flat, *SMALL)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    result = run_cli("sim", "dataset", "--out", str(tmp_path / "busy"), "--images", "1", *SMALL)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_tiles_contain_their_defect_and_background_tiles_avoid_all_boxes() -> None:
    rng = np.random.default_rng(0)
    labels = [("dent", (100, 100, 140, 130)), ("pit", (900, 500, 904, 504))]
    boxes = [box for _, box in labels] + [(400, 300, 420, 310)]
    for _ in range(50):
        origins = _tiles(rng, labels, boxes, 256, 1920, 1080)
        assert len(origins) >= 2  # the two defects are too far apart to share a tile
        for (_, (x1, y1, x2, y2)), (x0, y0) in zip(labels, origins):
            assert x0 <= x1 and x2 <= x0 + 256 and y0 <= y1 and y2 <= y0 + 256
            assert 0 <= x0 <= 1920 - 256 and 0 <= y0 <= 1080 - 256
        for x0, y0 in origins[len(labels):]:
            assert not any(a < x0 + 256 and c > x0 and b < y0 + 256 and d > y0 for a, b, c, d in boxes)
    assert _clip((10, 10, 50, 50), 40, 40, 128, 128) == (0, 0, 10, 10)
    assert _clip((10, 10, 41, 50), 40, 40, 128, 128) is None  # a 1-pixel sliver is no label


def test_hard_negative_tile_is_the_structured_defect_free_one() -> None:
    """A frame that is flat except for a ring pattern (rivet look-alikes) in one corner, away from the defect."""
    gray = np.full((540, 960), 128, np.uint8)
    for cx in range(700, 940, 40):
        cv2.circle(gray, (cx, 450), 8, 60, 2)
    labels = [("dent", (100, 100, 140, 130))]
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(40):
        origins = _tiles(rng, labels, [box for _, box in labels], 128, 960, 540, structure_table(gray))
        assert 2 <= len(origins) <= 3
        for x0, y0 in origins[1:]:
            assert not (x0 < 140 and x0 + 128 > 100 and y0 < 130 and y0 + 128 > 100)
        hits += len(origins) == 3 and origins[2][0] + 128 > 700 and origins[2][1] + 128 > 450
    assert hits >= 30  # the extra tile lands on the rings nearly every time


def test_val_split_takes_the_requested_fraction_of_renders() -> None:
    assert sum(is_val(i, 0.2) for i in range(1000)) == 200
    assert not any(is_val(i, 0.0) for i in range(100))


def test_customer_mesh_part(tmp_path: Path) -> None:
    """An integrator's STL (here a parametric panel exported in millimetres) renders with defects on it."""
    from inspection.geometry.mesh_io import export_stl
    from inspection.sim.parts import build_part

    part = build_part({"kind": "dome", "radius_u_m": 1.2, "radius_v_m": 1.0, "width_m": 0.3, "length_m": 0.4})
    export_stl(part, tmp_path / "panel.stl")
    millimetres = tmp_path / "panel_mm.stl"
    import trimesh

    trimesh.Trimesh(part.vertices * 1000.0, part.triangles, process=False).export(millimetres)
    refused = run_cli("sim", "dataset", "--out", str(tmp_path / "no"), "--images", "1", "--part", str(millimetres),
                      *SMALL)
    assert refused.returncode == 1 and "millimetres" in refused.stderr and not (tmp_path / "no").exists()
    out = tmp_path / "mesh"
    result = run_cli("sim", "dataset", "--out", str(out), "--images", "2", "--part", str(millimetres), "--units", "mm",
                     "--seed", "3", *SMALL)
    assert result.returncode == 0, result.stderr
    scenes = sorted((out / "scenes").glob("*.json"))
    scene = Scene.load(scenes[0])
    assert scene.part.kind == "mesh" and scene.part.params["source"] == str(millimetres)
    np.testing.assert_allclose(np.sort(scene.part.vertices, axis=0), np.sort(part.vertices, axis=0), atol=1e-6)
    views = scene.views["v0"]["defects"]
    assert len(views) == len(scene.defects) and any(v["box"] is not None for v in views)


def test_a_frame_re_renders_exactly_from_its_scene_file(tmp_path: Path) -> None:
    import cv2

    from inspection.sim.camera import Camera
    from inspection.sim.lighting import Lighting
    from inspection.sim.render import Renderer

    out = tmp_path / "frames"
    result = run_cli("sim", "dataset", "--out", str(out), "--images", "1", "--seed", "9", "--image-format", "png",
                     "--val-fraction", "0", *SMALL)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "meta" / "train" / "000000.json").read_text())
    scene = Scene.load(out / meta["scene"])
    view = scene.views[meta["view_id"]]
    render = Renderer(scene).render(Camera.from_json(view["camera"]), Lighting.from_json(view["lighting"]),
                                    np.random.default_rng(view["noise_seed"]))
    written = cv2.cvtColor(cv2.imread(str(out / meta["image"])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(render.image, written)
    assert [d.to_json() for d in render.defects] == view["defects"]
