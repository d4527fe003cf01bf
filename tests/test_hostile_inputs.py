"""Small hostile or malformed files (issue #17): each is refused or read in bounded time, with one line
naming the file, never an internal error, a blank result, or a name the user never wrote."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from inspection.cli.main import main
from inspection.config import ConfigError, load_node_params
from inspection.errors import InputError
from inspection.params import NODE_PARAMETERS
from inspection.yaml_safe import YamlTooLarge, safe_load


def _alias_chain(prefix: str, levels: int) -> list[str]:
    """YAML lines of an alias chain whose level k holds nine copies of level k-1 (9**levels scalars)."""
    lines = [f"{prefix}0: &{prefix}0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{prefix}{k}: &{prefix}{k} [" + ", ".join([f"*{prefix}{k - 1}"] * 9) + "]" for k in range(1, levels)]
    return lines


def _run(argv: list[str], capsys) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(argv)
    return code, capsys.readouterr().err, time.monotonic() - started


def test_yolo_data_yaml_with_two_alias_chains_is_refused_at_once(tmp_path, capsys) -> None:
    # ~1 KB: before, comparing val with train walked both chains (10 levels: 7 s, each level 9x more).
    lines = _alias_chain("a", 10) + _alias_chain("b", 10) + ["train: *a9", "val: *b9", "names: [scratch]"]
    (tmp_path / "data.yaml").write_text("\n".join(lines) + "\n")
    assert (tmp_path / "data.yaml").stat().st_size < 1500
    code, err, seconds = _run(["data", "stats", "--dataset", str(tmp_path)], capsys)
    assert code == 1 and seconds < 2.0, (code, seconds, err)
    assert f"{tmp_path / 'data.yaml'}: " in err and "alias" in err and "Traceback" not in err


@pytest.mark.parametrize("document", [
    "\n".join(_alias_chain("a", 10)) + "\n",
    "a: &a [*a, *a]\n",  # a recursive alias
])
def test_every_yaml_reader_refuses_an_alias_bomb(tmp_path, document) -> None:
    with pytest.raises(YamlTooLarge):
        safe_load(document)
    path = tmp_path / "pipeline.yaml"
    path.write_text(document + "vision_node:\n  ros__parameters:\n    confidence: 0.3\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_node_params("vision_node", path)


def test_yaml_with_ordinary_anchors_still_loads() -> None:
    defaults = ("base: &base {confidence: 0.3, iou: 0.5}\nvision: {<<: *base, tile_size: 640}\n"
                "list: &l [1, 2]\nagain: *l\n")
    assert safe_load(defaults)["vision"] == {"confidence": 0.3, "iou": 0.5, "tile_size": 640}
    assert safe_load("- x\n" * 150_000) == ["x"] * 150_000  # large, but no alias multiplies it


def test_a_set_value_that_is_not_yaml_or_a_bomb_is_named(capsys) -> None:
    bomb = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"] + [f"&a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]"
                                                                    for k in range(1, 10)]) + "]"
    for value in ("[", bomb):
        code, err, seconds = _run(["run", "--set", f"vision_node.confidence={value}"], capsys)
        assert code == 1 and seconds < 2.0 and "--set 'vision_node.confidence=" in err, err
    with pytest.raises(InputError):
        from inspection.cli.run import parse_overrides

        parse_overrides([f"vision_node.confidence={bomb}"])


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not a readable part outline"),
    ('{"x": 1}', "expected a list of 3"),
    ("[[0, 0], [1, 0]]", "expected a list of 3"),
    ("[[0, 0], [1, 0], [NaN, 1]]", "point 2: expected [x, y] as two finite numbers"),
    ("[[0, 0], [1, 0], [1e400, 1]]", "point 2"),
    ('[[0, 0], [1, 0], ["1", 1]]', "point 2"),
    ("[[0, 0], [1, 0], [1, 1, 1]]", "point 2"),
    ("[[0, 0], [1, 0], [true, 1]]", "point 2"),
])
def test_a_malformed_part_outline_is_named_by_inspection_report(tmp_path, capsys, text, message) -> None:
    from inspection.fusion.report import write_report
    from inspection.records import InspectionReport, ReportSummary

    write_report(tmp_path, InspectionReport("run_1", "panel", "2026-11-24T10:00:00Z",
                                            ReportSummary(None, None, None, 0, 0, None), [], True, []))
    (tmp_path / "part_outline.json").write_text(text)
    code, err, _ = _run(["report", str(tmp_path)], capsys)
    assert code == 1 and f"{tmp_path / 'part_outline.json'}: {message}" in err, err
    assert '"nan"' not in (tmp_path / "report.html").read_text()  # the page of before stays as it was


def _yolo_tree(root: Path, names: list[str]) -> None:
    """A bare YOLO tree with one box per image, each image a real 32x32 PNG."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for name in names:
        Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(root / "images" / "train" / f"{name}.png")
        (root / "labels" / "train" / f"{name}.txt").write_text("0 0.5 0.5 0.25 0.25\n")


def test_linked_files_that_leave_the_root_or_loop_are_named(tmp_path) -> None:
    from inspection.datasets import load_dataset

    outside = tmp_path / "elsewhere"
    _yolo_tree(outside, ["a"])
    root = tmp_path / "dataset"
    _yolo_tree(root, ["b"])
    images = root / "images" / "train"
    (images / "linked.png").symlink_to(outside / "images" / "train" / "a.png")
    (images / "gone.png").symlink_to(tmp_path / "dataset" / "missing.png")
    (images / "loop_a.png").symlink_to(images / "loop_b.png")
    (images / "loop_b.png").symlink_to(images / "loop_a.png")
    dataset = load_dataset(root)
    reasons = {item.file: item.reason for item in dataset.skipped}
    assert [image.path.name for image in dataset.images] == ["b.png"]
    assert "outside the dataset root" in reasons["images/train/linked.png"]
    assert reasons["images/train/gone.png"] == "link to a missing file"
    assert "loop" in reasons["images/train/loop_a.png"] and "loop" in reasons["images/train/loop_b.png"]


@pytest.mark.parametrize("written", ["../photo", "/abs/photo", "images/../../photo"])
def test_voc_filename_without_suffix_is_named_as_written(tmp_path, written) -> None:
    from inspection.datasets import load_dataset

    (tmp_path / "a.xml").write_text(
        f"<annotation><filename>{written}</filename><object><name>dent</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    (skipped,) = load_dataset(tmp_path, "voc").skipped
    assert f"path {written!r} would escape the dataset root" in skipped.reason
    assert ".bmp" not in skipped.reason


@pytest.mark.parametrize("target", ["coco", "yolo"])
def test_converted_names_are_utf8_even_when_the_source_file_names_are_not(tmp_path, capsys, target) -> None:
    name = os.fsdecode(b"pi\xe8ce")  # Latin-1 'pièce', as an old Windows export names it
    source = tmp_path / "source"
    _yolo_tree(source, [name, "plain"])
    out = tmp_path / "out"
    code, err, _ = _run(["data", "convert", "--dataset", str(source), "--to", target, "--out", str(out)], capsys)
    assert code == 0, err
    for path in out.rglob("*"):
        os.fsencode(path.name).decode("utf-8")  # every name written is UTF-8
        if path.suffix in (".json", ".yaml"):
            text = path.read_bytes().decode("utf-8")
            assert "\\ud" not in text.lower()  # no escaped lone surrogate
            json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert len(list(out.glob("images/train/*.png"))) == 2 and list(out.glob("images/train/pi\ufffdce.png"))


def _pipeline_yaml_with(tmp_path: Path, extra: str) -> Path:
    from inspection import paths

    path = tmp_path / "pipeline.yaml"
    path.write_text(paths.config_file("pipeline.yaml").read_text() + "\n" + extra)
    return path


@pytest.mark.parametrize(("extra", "message"), [
    ("visoin_node:\n  ros__parameters:\n    confidence: 0.9\n", "unknown section 'visoin_node'; did you mean 'vision_node'?"),
    ("junk: 3\n", "unknown section 'junk'; sections are '/**' and ["),
    ("/tactile_nodes:\n  ros__parameters: {}\n", "unknown section '/tactile_nodes'; did you mean 'tactile_node'?"),
    ("/vision_node:\n  ros__parameters: {}\n  remap: {}\n", "'/vision_node' holds ['remap'] beside 'ros__parameters'"),
])
def test_a_misspelt_or_junk_section_of_the_parameter_file_is_named(tmp_path, capsys, extra, message) -> None:
    path = _pipeline_yaml_with(tmp_path, extra)
    for node in ("vision_node", "sim_node"):  # whichever node reads the file, the whole file is checked
        with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
            load_node_params(node, path)
    code, err, _ = _run(["run", "--params", str(path)], capsys)
    assert code == 1 and message in err, err


def test_a_shared_parameter_no_node_has_is_named(tmp_path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("/**:\n  ros__parameters:\n    use_sim_time: false\n    confidance: 0.3\n")
    with pytest.raises(ConfigError, match=r"unknown shared parameter '/\*\*.confidance'; did you mean 'confidence'"):
        load_node_params("vision_node", path)


def test_a_node_started_with_a_junk_parameter_file_says_so_in_one_line(tmp_path) -> None:
    """As `ros2 launch` starts it on the cell: rclpy's parser would stop on the junk key with a traceback."""
    from tests.conftest import isolated_ros_env

    path = _pipeline_yaml_with(tmp_path, "junk: 3\n")
    result = subprocess.run([sys.executable, "-m", "inspection.nodes.recorder_node", "--ros-args", "--params-file",
                             str(path), "-p", f"output:={tmp_path / 'r.mcap'}"], env=isolated_ros_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.strip() == f"error: {path}: unknown section 'junk'; sections are '/**' and " \
                                     f"{sorted(NODE_PARAMETERS)}"
    assert "Traceback" not in result.stderr


FOREIGN_CLASSES = ["scratches", "dents", "pits", "bumps", "cracks", "stains", "paint-off"]  # a user's own names


@pytest.fixture()
def foreign_model(tmp_path) -> Path:
    """The shipped detector under a user's class names, as their own fine-tune would come."""
    from inspection.paths import model_file

    shipped = model_file("defect_detector.onnx")
    if not shipped.is_file():
        pytest.skip("no shipped detector")
    model = tmp_path / "their_detector.onnx"
    model.symlink_to(shipped)
    metadata = json.loads(shipped.with_suffix(".json").read_text())
    metadata["class_names"] = FOREIGN_CLASSES[:len(metadata["class_names"])]
    model.with_suffix(".json").write_text(json.dumps(metadata))
    return model


def test_a_detector_with_foreign_classes_is_refused_before_the_demo_starts_a_node(tmp_path, capsys,
                                                                                   foreign_model) -> None:
    # Before: the vision node dropped every frame ("skipped a bad frame") and the demo sat out its 170 s timeout.
    out = tmp_path / "demo"
    code, err, seconds = _run(["demo", "--out", str(out), "--set", f"vision_node.model={foreign_model}"], capsys)
    assert code == 1 and seconds < 15, (code, seconds, err)
    assert "detector classes ['scratches', 'dents'" in err and "vision_node.class_map" in err, err
    assert not out.exists() or not list(out.iterdir())  # refused before a run folder or a node


def test_class_map_renames_a_foreign_detector_to_ours(foreign_model) -> None:
    from inspection.records import DEFECT_CLASSES
    from inspection.vision.detector import DefectDetector, DetectorSettings, check_pipeline_model

    ours = dict(zip(FOREIGN_CLASSES, DEFECT_CLASSES))
    mapping = ",".join(f"{theirs}={name}" for theirs, name in ours.items())
    detector = DefectDetector.load(foreign_model, DetectorSettings(class_map=mapping, tile_size=0))
    assert detector.class_names == [ours[name] for name in FOREIGN_CLASSES[:len(detector.class_names)]]
    check_pipeline_model({"model": str(foreign_model), "class_map": mapping})
    with pytest.raises(InputError, match=r"\['scratches'\]"):  # one class left unmapped is named
        check_pipeline_model({"model": str(foreign_model), "class_map": mapping.split(",", 1)[1]})
    with pytest.raises(InputError, match=r"\['scratchs'\] are not classes of their_detector.onnx"):
        check_pipeline_model({"model": str(foreign_model), "class_map": "scratchs=scratch"})
    with pytest.raises(InputError, match="expected THEIRS=OURS"):
        check_pipeline_model({"model": str(foreign_model), "class_map": "scratches"})


def test_the_vision_node_refuses_a_foreign_detector_at_start_in_one_line(tmp_path, foreign_model) -> None:
    """On the cell (ros2 launch) no CLI checks first: the node itself fails its start-up, naming the classes."""
    import trimesh

    from inspection.sim import shapes
    from tests.conftest import isolated_ros_env

    mesh = tmp_path / "part.stl"
    trimesh.Trimesh(*(np.asarray(a) for a in shapes.cylinder_panel(1.0, 0.3, 0.3))).export(mesh)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "inspection.nodes.vision_node", "--ros-args", "-p",
                             f"model:={foreign_model}", "-p", f"part_mesh:={mesh}"], env=isolated_ros_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert "detector classes ['scratches', 'dents'" in line and "vision_node.class_map" in line
    assert "Traceback" not in result.stdout + result.stderr and time.monotonic() - started < 60
