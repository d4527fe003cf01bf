"""`inspection train vision` and `inspection eval vision` as a user runs them (subprocess, tiny sizes),
and the two backends of the model they produce against each other."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.config import load_node_params
from inspection.records import DEFECT_CLASSES
from tests.conftest import run_cli


def write_blob_dataset(root: Path, count: int = 12, size: int = 64, names: tuple[str, ...] = DEFECT_CLASSES) -> Path:
    """A YOLO dataset of grey images, each with one dark (stain) or yellow (paint_loss) square."""
    rng = np.random.default_rng(3)
    for split, n in (("train", count), ("val", 4)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            image = np.full((size, size, 3), 190, np.uint8)
            side = int(rng.integers(size // 4, size // 2))
            x, y = (int(v) for v in rng.integers(2, size - side - 2, 2))
            cls = int(rng.choice([5, 6]))
            image[y:y + side, x:x + side] = (30, 30, 30) if cls == 5 else (60, 230, 200)
            cv2.imwrite(str(root / "images" / split / f"{i:03d}.png"), image)
            (root / "labels" / split / f"{i:03d}.txt").write_text(
                f"{cls} {(x + side / 2) / size:.5f} {(y + side / 2) / size:.5f} {side / size:.5f} {side / size:.5f}\n")
    names_yaml = "".join(f"  {i}: {name}\n" for i, name in enumerate(names))
    (root / "data.yaml").write_text(f"train: images/train\nval: images/val\nnames:\n{names_yaml}")
    return root


def test_train_writes_weights_onnx_sidecar_and_card(trained):
    data, out, log = trained
    assert "epoch 1/1" in log
    assert not any(word in log.lower() for word in ("downloading", "https://")), "something tried to download"
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["class_names"] == list(DEFECT_CLASSES) and metadata["imgsz"] == 64
    assert metadata["training"]["epochs"] == 1 and metadata["training"]["seed"] == 0
    assert metadata["training"]["dataset_stats"]["images"] == 16
    for path in (out, out.with_suffix(".onnx")):
        assert 0 < path.stat().st_size < 20 * 1024 * 1024
    card = out.with_suffix(".md").read_text()
    assert "epochs 1, image size 64" in card and "stain" in card
    assert (out.parent.parent / "runs" / "tiny" / "train" / "weights" / "best.pt").is_file()


def test_onnx_export_computes_what_the_weights_compute(trained):
    """Same input tensor through the .pt network and the exported .onnx: same raw head output."""
    import onnxruntime
    import torch
    from ultralytics import YOLO

    _, out, _ = trained
    batch = np.random.default_rng(0).uniform(0, 1, (3, 3, 64, 64)).astype(np.float32)
    network = YOLO(str(out)).model.float().eval()
    with torch.no_grad():
        reference = network(torch.from_numpy(batch))[0].numpy()
    session = onnxruntime.InferenceSession(str(out.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: batch})[0]
    assert exported.shape == reference.shape == (3, 4 + len(DEFECT_CLASSES), 84)
    assert np.allclose(exported, reference, rtol=1e-3, atol=1e-3)


def test_eval_writes_metrics_json_and_pr_plot(trained, tmp_path):
    data, out, _ = trained
    result_path = tmp_path / "eval" / "vision.json"
    done = run_cli("eval", "vision", "--dataset", str(data), "--model", str(out.with_suffix(".onnx")),
                   "--json", str(result_path), "--tile-size", "64", "--split", "val")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(result_path.read_text())
    for key in ("precision", "recall", "map50", "map50_95", "per_class", "per_size", "conf_threshold", "images"):
        assert key in result
    assert result["images"] == 4 and result["truths"] == 4
    assert set(result["per_class"]) == set(DEFECT_CLASSES)
    assert 0.0 <= result["map50"] <= 1.0 and 0.0 <= result["map50_95"] <= result["map50"] + 1e-9
    for row in result["per_class"].values():
        assert row["tp"] + row["fn"] == row["truths"] and row["tp"] + row["fp"] == row["predictions"]
    deployed_confidence = load_node_params("vision_node")["confidence"]  # config/pipeline.yaml, not overridden
    assert result["settings"]["tile_size"] == 64 and result["settings"]["confidence"] == deployed_confidence
    recalls = [p["recall"] for p in result["operating_points"]]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold never finds more
    plot = Path(result["plots"][0])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_names_classes_the_model_does_not_know(trained, tmp_path):
    _, out, _ = trained
    other = write_blob_dataset(tmp_path / "other", count=2, names=("a", "b", "c", "d", "e", "f", "g"))
    done = run_cli("eval", "vision", "--dataset", str(other), "--model", str(out), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 1 and "--map" in done.stderr and "Traceback" not in done.stderr
    agnostic = run_cli("eval", "vision", "--dataset", str(other), "--model", str(out.with_suffix(".onnx")),
                       "--json", str(tmp_path / "r.json"), "--agnostic", "--tile-size", "0")
    assert agnostic.returncode == 0, agnostic.stderr[-1000:]
    assert list(json.loads((tmp_path / "r.json").read_text())["per_class"]) == ["defect"]


@pytest.mark.parametrize("args,needle", [
    (["train", "vision", "--dataset", "/nonexistent/data"], "/nonexistent/data"),
    (["train", "vision", "--dataset", ".", "--imgsz", "100"], "--imgsz"),
    (["eval", "vision", "--dataset", ".", "--model", "/nonexistent/m.onnx", "--json", "/tmp/x.json"], "m.onnx"),
])
def test_bad_input_is_one_line_and_exit_1(args, needle):
    done = run_cli(*args)
    assert done.returncode == 1 and needle in done.stderr and "Traceback" not in done.stderr


def test_model_without_sidecar_is_named(trained, tmp_path):
    _, out, _ = trained
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(out.with_suffix(".onnx").read_bytes())
    done = run_cli("eval", "vision", "--dataset", str(trained[0]), "--model", str(bare), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 1 and "bare.json" in done.stderr


def test_unreadable_dataset_leaves_no_run_folder(tmp_path):
    done = run_cli("train", "vision", "--dataset", str(tmp_path / "missing"), "--runs", str(tmp_path / "runs"),
                   "--out", str(tmp_path / "m.pt"))
    assert done.returncode == 1 and "missing" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_record_puts_the_evaluation_in_the_sidecar_and_card(trained, tmp_path):
    data, out, _ = trained
    for suffix in (".onnx", ".json", ".md"):
        (tmp_path / f"m{suffix}").write_bytes(out.with_suffix(suffix).read_bytes())
    done = run_cli("eval", "vision", "--dataset", str(data), "--model", str(tmp_path / "m.onnx"), "--split", "val",
                   "--json", str(tmp_path / "r.json"), "--tile-size", "0", "--record")
    assert done.returncode == 0, done.stderr[-1000:]
    evaluation = json.loads((tmp_path / "m.json").read_text())["evaluation"]
    result = json.loads((tmp_path / "r.json").read_text())
    assert evaluation["recall"] == result["recall"] and evaluation["images"] == 4
    assert "Held-out evaluation" in (tmp_path / "m.md").read_text()


def test_fine_tune_records_where_it_started(trained, tmp_path):
    from inspection.vision.training import sha256

    data, out, _ = trained
    tuned = tmp_path / "tuned.pt"
    done = run_cli("train", "vision", "--dataset", str(data), "--epochs", "1", "--imgsz", "64", "--batch", "8",
                   "--workers", "0", "--runs", str(tmp_path / "runs"), "--out", str(tuned), "--weights", str(out),
                   timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    initial = json.loads(tuned.with_suffix(".json").read_text())["training"]["initial_weights"]
    assert initial["sha256"] == sha256(out) and initial["training"]["epochs"] == 1
    assert "fine-tuned from" in tuned.with_suffix(".md").read_text()


def test_fine_tune_refuses_weights_with_other_classes(trained, tmp_path):
    _, out, _ = trained
    other = write_blob_dataset(tmp_path / "other", count=4, names=("a", "b", "c", "d", "e", "f", "g"))
    done = run_cli("train", "vision", "--dataset", str(other), "--weights", str(out), "--runs", str(tmp_path / "runs"),
                   "--out", str(tmp_path / "m.pt"))
    assert done.returncode == 1 and "classes" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
