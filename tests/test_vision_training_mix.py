"""Training on several datasets at once: per-source class maps and weights, per-source val figures, the
P2 architecture, class rows carried from a model with fewer classes, and the CLI syntax that says it."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES
from tests.conftest import run_cli
from tests.test_vision_cli import write_blob_dataset


def _foreign_dataset(root: Path, count: int = 8) -> Path:
    """A blob dataset whose classes are spelled like a foreign export ('paint-off' is our paint_loss)."""
    names = ("scratch", "dent", "pit", "bump", "crack", "stain-mark", "paint-off")
    return write_blob_dataset(root, count=count, names=names)


def _options(tmp_path: Path, *sources, **kwargs):
    from inspection.vision.training import TrainOptions

    return TrainOptions(datasets=tuple(sources), out=tmp_path / "m.pt", **kwargs)


def test_sources_keep_their_maps_and_weights(tmp_path):
    from inspection.vision.training import DatasetSource, read_training_datasets

    ours = write_blob_dataset(tmp_path / "ours", count=12)
    foreign = _foreign_dataset(tmp_path / "foreign", count=8)
    renamed = {"stain-mark": "stain", "paint-off": "paint_loss"}
    prepared = read_training_datasets(_options(
        tmp_path, DatasetSource(ours, weight=0.5), DatasetSource(foreign, class_map=renamed, weight=2.5)), log=print)
    first, second = prepared
    assert first.dataset.class_names == second.dataset.class_names == list(DEFECT_CLASSES)
    assert (first.train_images, second.train_images) == (6, 20)  # 12 x 0.5; 8 x 2 + half of 8 once more
    assert first.stats["splits"] == {"train": 12, "val": 4}  # figures of the source itself, before weighting
    train_paths = [image.path for image in second.dataset.images if image.split == "train"]
    assert len(set(train_paths)) == 8 and len(train_paths) == 20
    assert {box.class_name for image in second.dataset.images for box in image.boxes} <= {"stain", "paint_loss"}
    assert first.label != second.label


def test_fraction_and_weights_are_reproducible_and_checked(tmp_path):
    from inspection.vision.training import DatasetSource, read_training_datasets

    ours = write_blob_dataset(tmp_path / "ours", count=12)
    runs = [read_training_datasets(_options(tmp_path, DatasetSource(ours, weight=1.5), fraction=0.5), log=print)
            for _ in range(2)]
    assert [i.path for i in runs[0][0].dataset.images] == [i.path for i in runs[1][0].dataset.images]
    assert runs[0][0].stats["splits"] == {"train": 6, "val": 2}
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError, match="--weight"):
            read_training_datasets(_options(tmp_path, DatasetSource(ours, weight=bad)), log=print)
    with pytest.raises(InputError, match="--fraction"):
        read_training_datasets(_options(tmp_path, DatasetSource(ours), fraction=0.0), log=print)


def test_class_rows_are_carried_by_name_and_stride(tmp_path):
    """A model that learned (x, y, z) starts a (w, x, y, z) model: each known class keeps its classification
    row at each stride and the new class starts fresh. A P2 model's class branches are narrower (their width
    follows the stride-4 level), so nothing of the old head fits there and nothing is carried."""
    import torch
    from types import SimpleNamespace

    from ultralytics.nn.tasks import DetectionModel

    from inspection.vision.training import ARCHITECTURES, _carry_class_rows

    torch.manual_seed(0)
    old = DetectionModel("yolo11n.yaml", nc=3, verbose=False)
    old.names = {0: "x", 1: "y", 2: "z"}
    weights = tmp_path / "old.pt"
    torch.save({"model": old}, weights)
    names = {0: "w", 1: "x", 2: "y", 3: "z"}
    for arch, expected in (("yolo11n", 3), ("yolo11n-p2", 0)):
        new = DetectionModel(ARCHITECTURES[arch], nc=4, verbose=False)
        before = [branch[-1].weight.detach().clone() for branch in new.model[-1].cv3]
        carried = _carry_class_rows(SimpleNamespace(model=new, ema=None, data={"names": names}), weights,
                                    ["x", "y", "z"])
        assert carried == expected, arch
        old_by_stride = {float(s): b[-1] for s, b in zip(old.model[-1].stride, old.model[-1].cv3)}
        for stride, branch, fresh in zip(new.model[-1].stride, new.model[-1].cv3, before):
            conv = branch[-1]
            if not expected:
                assert torch.equal(conv.weight, fresh)
                continue
            source = old_by_stride[float(stride)]
            assert torch.equal(conv.weight[1:], source.weight) and torch.equal(conv.bias[1:], source.bias)
            assert torch.equal(conv.weight[0], fresh[0])  # 'w' is new


def test_weights_with_classes_outside_the_new_list_are_refused(tmp_path):
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from inspection.vision.training import _weights_classes

    old = DetectionModel("yolo11n.yaml", nc=2, verbose=False)
    old.names = {0: "scratch", 1: "rust"}
    torch.save({"model": old}, tmp_path / "old.pt")
    with pytest.raises(InputError, match="rust"):
        _weights_classes(tmp_path / "old.pt", list(DEFECT_CLASSES))
    old.names = {0: "scratch", 1: "stain"}
    torch.save({"model": old}, tmp_path / "old.pt")
    assert _weights_classes(tmp_path / "old.pt", list(DEFECT_CLASSES)) == ["scratch", "stain"]


@pytest.mark.parametrize("args,needle", [
    (["--map", "a=b", "--dataset", "{data}"], "after the --dataset"),
    (["--dataset", "{data}", "--weight", "2", "--weight", "3"], "given twice"),
    (["--dataset", "{data}", "--weight", "heavy"], "--weight 'heavy'"),
    (["--dataset", "{data}", "--map", "paint-off"], "expected OLD=NEW"),
    (["--dataset", "{data}", "--map", "=paint_loss"], "expected OLD=NEW"),
    (["--dataset", "{data}", "--arch", "yolo99"], "--arch yolo99"),
])
def test_bad_dataset_options_are_one_line(tmp_path, args, needle):
    data = write_blob_dataset(tmp_path / "data", count=4)
    words = [word.replace("{data}", str(data)) for word in args]
    done = run_cli("train", "vision", *words, "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "m.pt"))
    assert done.returncode in (1, 2) and needle in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_two_datasets_train_one_p2_model_with_val_per_source(tmp_path):
    """Our classes plus a foreign export renamed by --map, P2 head, one epoch at 64 px: the card lists both
    sources with their own val figures, the credit the foreign one's README gives, and the command."""
    ours = write_blob_dataset(tmp_path / "ours", count=8)
    foreign = _foreign_dataset(tmp_path / "foreign", count=8)
    (foreign / "README.md").write_text("# foreign\n\nSource: blobs by the test suite, CC BY 4.0.\n\nMore.\n")
    out = tmp_path / "models" / "det.pt"
    done = run_cli("train", "vision", "--dataset", str(ours), "--dataset", str(foreign),
                   "--map", "stain-mark=stain,paint-off=paint_loss", "--weight", "2", "--arch", "yolo11n-p2",
                   "--epochs", "1", "--imgsz", "64", "--batch", "8", "--workers", "0",
                   "--runs", str(tmp_path / "runs"), "--name", "mix", "--out", str(out), timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["architecture"] == "yolo11n-p2" and metadata["class_names"] == list(DEFECT_CLASSES)
    sources = metadata["training"]["sources"]
    assert [s["train_images_per_epoch"] for s in sources] == [8, 16]
    assert sources[1]["class_map"] == {"stain-mark": "stain", "paint-off": "paint_loss"}
    assert sources[1]["credit"] == "Source: blobs by the test suite, CC BY 4.0."
    assert all(set(s["val_metrics"]) == {"precision", "recall", "map50", "map50_95"} for s in sources)
    command = metadata["training"]["command"]
    assert "--map stain-mark=stain,paint-off=paint_loss --weight 2 --arch yolo11n-p2" in command
    card = out.with_suffix(".md").read_text()
    assert "CC BY 4.0" in card and "val alone" in card and command in card
    data_yaml = (tmp_path / "runs" / "mix" / "data" / "data.yaml").read_text()
    assert "ours/images/train" in data_yaml and "foreign/images/train" in data_yaml
    from ultralytics import YOLO

    assert len(YOLO(str(out)).model.model[-1].stride) == 4  # the P2 head: strides 4, 8, 16, 32

    # Fine-tuned in place under a time budget: the card names the weights it started from (their hash
    # before this run overwrote them), the budget, and a command that repeats it.
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    done = run_cli("train", "vision", "--dataset", str(ours), "--weights", str(out), "--epochs", "1",
                   "--time", "0.0003", "--imgsz", "64", "--batch", "8", "--workers", "0",
                   "--runs", str(tmp_path / "runs"), "--name", "again", "--out", str(out), timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    training = json.loads(out.with_suffix(".json").read_text())["training"]
    assert training["initial_weights"]["sha256"] == before != hashlib.sha256(out.read_bytes()).hexdigest()
    assert training["time_budget_h"] == 0.0003 and "--time 0.0003" in training["command"]
    assert "minute budget" in out.with_suffix(".md").read_text()
