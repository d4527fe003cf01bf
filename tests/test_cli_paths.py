"""Every CLI verb's path arguments, fuzzed: an output at a folder, under a file, where nothing may be
written, a link loop or a name the OS refuses, and an input that is missing, of the wrong kind, empty,
a link loop or unnamable, each fail before any work with exit 1 and one line naming the option or the path, never
with an internal error or a traceback (issue #17, item 6)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from inspection.cli.main import main
from inspection.sim import shapes

TOO_LONG = "n" * 300  # one name over the usual 255-byte limit
UNWRITABLE = Path("/sys/inspection-test")  # sysfs refuses new files even to root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Valid inputs, for the arguments a case does not spoil, and things to spoil the others with."""
    root = tmp_path_factory.mktemp("paths")
    dataset = root / "dataset"
    (dataset / "images" / "train").mkdir(parents=True)
    (dataset / "labels" / "train").mkdir(parents=True)
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(dataset / "images" / "train" / "a.png")
    (dataset / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (dataset / "data.yaml").write_text("path: .\ntrain: images/train\nnames: [scratch]\n")
    vertices, triangles = shapes.cylinder_panel(1.0, 0.3, 0.3)
    trimesh.Trimesh(np.asarray(vertices), np.asarray(triangles)).export(root / "part.stl")
    (root / "a_file").write_text("not a folder\n")
    (root / "empty").write_bytes(b"")
    (root / "a_folder").mkdir()
    (root / "full").mkdir()
    (root / "full" / "something").write_text("the user's\n")
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    return {"root": root, "dataset": dataset, "mesh": root / "part.stl", "file": root / "a_file",
            "empty": root / "empty", "folder": root / "a_folder", "full": root / "full", "loop": root / "loop_a"}


def _bad_outputs(inputs: dict[str, Path], kind: str) -> dict[str, Path]:
    name = "out.json" if kind == "file" else "out"  # a name each verb would take, in a place it cannot write
    bad = {"under a file": inputs["file"] / name, "unwritable": UNWRITABLE / name,
           "name too long": inputs["root"] / TOO_LONG / name, "a link loop": inputs["loop"]}
    if kind == "file":
        bad["a folder"] = inputs["folder"]
    else:
        bad["a file"] = inputs["file"]
    return bad


# verb, the arguments before the output option (with {dataset}, {mesh}, {fresh} filled in), the option,
# whether it is a file or a folder, and whether the folder must be empty.
OUTPUTS = [
    (["demo"], "--out", "folder", False),
    (["data", "stats", "--dataset", "{dataset}"], "--json", "file", False),
    (["data", "convert", "--dataset", "{dataset}", "--to", "coco"], "--out", "folder", True),
    (["eval", "vision", "--dataset", "{dataset}"], "--json", "file", False),
    (["eval", "tactile", "--dataset", "{dataset}"], "--json", "file", False),
    (["eval", "campaign", "--parts", "1", "--seed", "1"], "--json", "file", False),
    (["plan", "--mesh", "{mesh}", "--full-coverage"], "--json", "file", False),
    (["sim", "dataset", "--images", "1"], "--out", "folder", True),
    (["sim", "tactile", "--frames", "1"], "--out", "folder", True),
    (["tactile", "calibrate", "--frames", "{dataset}", "--ball-radius-mm", "2"], "--out", "file", False),
    (["train", "tactile", "--dataset", "{dataset}"], "--out", "file", False),
    (["train", "vision", "--dataset", "{dataset}"], "--out", "file", False),
    (["train", "vision", "--dataset", "{dataset}", "--out", "{fresh}/model.pt"], "--runs", "folder", False),
    (["doctor"], "--json", "file", False),
]

# verb, the arguments (with {bad} where the spoilt input goes), the kind of input it expects.
INPUTS = [
    (["data", "stats", "--dataset", "{bad}"], "dataset"),
    (["data", "convert", "--dataset", "{bad}", "--to", "yolo", "--out", "{fresh}/out"], "dataset"),
    (["eval", "vision", "--dataset", "{bad}", "--json", "{fresh}/m.json"], "dataset"),
    (["eval", "vision", "--dataset", "{dataset}", "--model", "{bad}", "--json", "{fresh}/m.json"], "file"),
    (["eval", "vision", "--dataset", "{dataset}", "--params", "{bad}", "--json", "{fresh}/m.json"], "file"),
    (["eval", "tactile", "--dataset", "{bad}", "--json", "{fresh}/m.json"], "dataset"),
    (["plan", "--mesh", "{bad}", "--full-coverage", "--json", "{fresh}/p.json"], "file"),
    (["plan", "--mesh", "{mesh}", "--regions", "{bad}", "--json", "{fresh}/p.json"], "file"),
    (["plan", "--mesh", "{mesh}", "--full-coverage", "--cell", "{bad}", "--json", "{fresh}/p.json"], "file"),
    (["plan", "--mesh", "{mesh}", "--full-coverage", "--params", "{bad}", "--json", "{fresh}/p.json"], "file"),
    (["sim", "dataset", "--images", "1", "--cell", "{bad}", "--out", "{fresh}/d"], "file"),
    (["sim", "dataset", "--images", "1", "--part", "{bad}", "--out", "{fresh}/d"], "file"),
    (["sim", "tactile", "--frames", "1", "--cell", "{bad}", "--out", "{fresh}/t"], "file"),
    (["tactile", "calibrate", "--frames", "{bad}", "--ball-radius-mm", "2", "--out", "{fresh}/c.npz"], "dataset"),
    (["train", "tactile", "--dataset", "{bad}", "--out", "{fresh}/w.pt"], "dataset"),
    (["train", "tactile", "--dataset", "{dataset}", "--calibration", "{bad}", "--out", "{fresh}/w.pt"], "file"),
    (["train", "vision", "--dataset", "{bad}", "--out", "{fresh}/m.pt"], "dataset"),
    (["train", "vision", "--dataset", "{dataset}", "--weights", "{bad}", "--out", "{fresh}/m.pt"], "file"),
    (["report", "{bad}"], "dataset"),
    (["run", "--params", "{bad}"], "file"),
    (["run", "--part-mesh", "{bad}"], "file"),
]


def _bad_inputs(inputs: dict[str, Path], kind: str) -> dict[str, Path]:
    bad = {"missing": inputs["root"] / "missing", "name too long": inputs["root"] / TOO_LONG,
           "under a file": inputs["file"] / "x", "a link loop": inputs["loop"]}
    if kind == "file":
        bad["a folder"] = inputs["folder"]
        bad["an empty file"] = inputs["empty"]
    else:
        bad["a file"] = inputs["file"]
        bad["an empty folder"] = inputs["folder"]
    return bad


def _run(argv: list[str], capsys) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(argv)
    return code, capsys.readouterr().err, time.monotonic() - started


def _fill(argv: list[str], inputs: dict[str, Path], fresh: Path, **extra: Path) -> list[str]:
    values = {"dataset": inputs["dataset"], "mesh": inputs["mesh"], "fresh": fresh, **extra}
    return [item.format(**values) for item in argv]


def _assert_one_clear_line(code: int, err: str, argv: list[str]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, (argv, code, err[-2000:])
    assert lines and lines[-1].startswith("error: "), (argv, err[-2000:])
    assert "Traceback" not in err and "internal error" not in err, (argv, err[-2000:])


@pytest.mark.parametrize(("verb", "option", "kind", "must_be_empty"), OUTPUTS,
                         ids=[" ".join(v[0][:2] if v[0][0] in ("data", "eval", "sim", "tactile", "train") else v[0][:1])
                              + " " + v[1] for v in OUTPUTS])
def test_a_bad_output_path_is_named_before_any_work(inputs, tmp_path, capsys, verb, option, kind,
                                                      must_be_empty) -> None:
    bad = _bad_outputs(inputs, kind)
    if must_be_empty:
        bad["a folder with files"] = inputs["full"]
    for why, path in bad.items():
        argv = _fill(verb, inputs, tmp_path) + [option, str(path)]
        code, err, seconds = _run(argv, capsys)
        _assert_one_clear_line(code, err, argv)
        assert option in err.splitlines()[-1], (why, err)
        assert seconds < 20, (why, seconds)  # refused up front, not after the work
    assert (inputs["full"] / "something").read_text() == "the user's\n"


@pytest.mark.parametrize(("verb", "kind"), INPUTS, ids=[" ".join(a for a in v[0] if not a.startswith("{"))[:60]
                                                          for v in INPUTS])
def test_a_bad_input_path_is_one_clear_line(inputs, tmp_path, capsys, verb, kind) -> None:
    for why, path in _bad_inputs(inputs, kind).items():
        argv = _fill(verb, inputs, tmp_path, bad=path)
        code, err, _ = _run(argv, capsys)
        _assert_one_clear_line(code, err, [why] + argv)
