"""Stage I figures: per-tile latency of ONNX Runtime vs PyTorch, sliced full frames (1920x1080 and
12 MP) on both with their ratio, slicing overhead, and defect recall/precision per class and per size
on a simulated test set.

    .venv/bin/python bench/vision.py [--model models/defect_detector] [--test-set DIR | --seed 90000 --images 40]

The test set is rendered by `inspection sim dataset` from seeds far from the training seeds (the
shipped model's card names those), full frames, untiled, and scored with the deployed settings of
config/pipeline.yaml (`inspection eval vision` does the same). Timings are wall-clock medians after
a warm-up, on whatever this machine is; the bench prints the CPU count because they depend on it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection import runtime  # noqa: E402
from inspection.cell import Pose  # noqa: E402
from inspection.records import Detection2D  # noqa: E402
from inspection.config import load_node_params  # noqa: E402
from inspection.vision.detector import DefectDetector, DetectorSettings, read_metadata  # noqa: E402
from inspection.vision.slicing import tile_grid  # noqa: E402


def median_seconds(action, repeats: int) -> float:
    action()  # warm-up: first-call allocations and thread pools are not what a running node pays
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def textured_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A grey, lightly textured frame: what the model sees most of (clean surface)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(150, 6, (height // 8 + 1, width // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)[:height, :width]
    return np.clip(base + rng.normal(0, 3, (height, width, 3)), 0, 255).astype(np.uint8)


def tile_latency(model: Path, imgsz: int, repeats: int) -> None:
    tile = textured_frame(imgsz, imgsz)
    print(f"\n## Per-tile latency ({imgsz}x{imgsz}, {os.cpu_count()} CPUs, median of {repeats})")
    measured = {}
    for suffix, label in ((".onnx", "ONNX Runtime"), (".pt", "PyTorch (Ultralytics)")):
        backend = DefectDetector.load(model.with_suffix(suffix), DetectorSettings(tile_size=0)).backend
        single = median_seconds(lambda: backend.infer([tile]), repeats)
        batched = median_seconds(lambda: backend.infer([tile] * 16), max(3, repeats // 4)) / 16
        measured[suffix] = (single, batched)
        print(f"  {label:22s} batch 1: {single * 1000:7.1f} ms/tile   batch 16: {batched * 1000:7.1f} ms/tile")
    (onnx_1, onnx_16), (torch_1, torch_16) = measured[".onnx"], measured[".pt"]
    print(f"  ONNX / PyTorch: batch 1 {onnx_1 / torch_1:.2f}x, batch 16 {onnx_16 / torch_16:.2f}x")


def sliced_frames(model: Path, settings: DetectorSettings, repeats: int) -> None:
    detectors = {suffix: DefectDetector.load(model.with_suffix(suffix), settings) for suffix in (".onnx", ".pt")}
    print(f"\n## Sliced frames (tile {settings.tile_size}, overlap {settings.tile_overlap}, "
          f"full-frame pass {settings.full_frame_pass}, batch {settings.tile_batch})")
    for width, height in ((1920, 1080), (4000, 3000)):
        frame = textured_frame(width, height, seed=width)
        tiles = tile_grid(width, height, settings.tile_size, settings.tile_overlap)
        crops = [frame[t.y0:t.y1, t.x0:t.x1] for t in tiles]
        sliced = {suffix: median_seconds(lambda d=detector: d.detect(frame), repeats)
                  for suffix, detector in detectors.items()}
        detector = detectors[".onnx"]
        bare_each = median_seconds(lambda: [detector.backend.infer([c]) for c in crops], max(1, repeats // 2))
        extra = 0.0
        if settings.full_frame_pass:
            extra = median_seconds(lambda: detector.backend.infer([frame]), repeats)
        print(f"  {width}x{height} ({width * height / 1e6:.1f} MP): {len(tiles)} tiles, sliced ONNX "
              f"{sliced['.onnx'] * 1000:.0f} ms, PyTorch {sliced['.pt'] * 1000:.0f} ms (ONNX / PyTorch "
              f"{sliced['.onnx'] / sliced['.pt']:.2f}x); ONNX sum of bare tile inferences {bare_each * 1000:.0f} ms "
              f"(+ full frame {extra * 1000:.0f} ms) -> overhead {sliced['.onnx'] / (bare_each + extra):.2f}x")


def simulated_test_set(out: Path, seed: int, images: int) -> Path:
    if (out / "data.yaml").is_file():
        return out
    command = [sys.executable, "-m", "inspection.cli.main", "sim", "dataset", "--out", str(out), "--images",
               str(images), "--format", "yolo", "--seed", str(seed), "--val-fraction", "0"]
    print(f"rendering the test set: {' '.join(command[2:])}", flush=True)
    subprocess.run(command, check=True)
    return out


def score(model: Path, settings: DetectorSettings, dataset: Path) -> dict:
    from inspection.vision.evaluation import evaluate_detector

    detector = DefectDetector.load(model.with_suffix(".onnx"), replace(settings, confidence=0.001))
    return evaluate_detector(detector, dataset, settings.confidence, dataset_format="yolo")


def recall_precision(model: Path, settings: DetectorSettings, dataset: Path) -> None:
    result = score(model, settings, dataset)
    print(f"\n## Stage I on {dataset} ({result['images']} frames, {result['truths']} visible defects; "
          f"deployed settings, confidence >= {settings.confidence}, IoU 0.5)")
    print(f"  all classes: recall {result['recall'] or 0:.3f}  precision {result['precision'] or 0:.3f}  "
          f"mAP50 {result['map50']:.3f}  mAP50-95 {result['map50_95']:.3f}  ({result['seconds_per_image']:.2f} s/frame)")
    for name, row in result["per_class"].items():
        if row["truths"] or row["predictions"]:
            print(f"  {name:12s} defects {row['truths']:4d}  recall {_pct(row['recall'])}  "
                  f"precision {_pct(row['precision'])}  AP50 {_pct(row['ap50'])}")
    print("  recall by defect size (square root of the box area):")
    for label, row in result["per_size"].items():
        print(f"    {label:10s} {row['detected']:4d}/{row['truths']:<4d} {row['recall'] * 100:5.1f} %")
    print("  the same frames with other slicing settings:")
    for label, variant in (("no full-frame pass", replace(settings, full_frame_pass=False)),
                           ("no slicing (whole frame at the model input size)", replace(settings, tile_size=0))):
        other = score(model, variant, dataset)
        print(f"    {label}: recall {other['recall'] or 0:.3f}  precision {other['precision'] or 0:.3f}  "
              f"mAP50 {other['map50']:.3f}")


def localisation_on_renders(model: Path, settings: DetectorSettings, dataset: Path) -> None:
    """3D error of the localiser on rendered frames: from the true boxes (the localiser alone) and from
    the detector's boxes matched to them (the whole of Stage I), against each defect's true centre."""
    import json

    from inspection.cell import CameraConfig
    from inspection.geometry.surface import PartSurface
    from inspection.sim.scene import Scene
    from inspection.vision.backends import box_iou_one
    from inspection.vision.evaluation import read_rgb
    from inspection.vision.localize import CameraView, Localizer

    detector = DefectDetector.load(model.with_suffix(".onnx"), settings)
    from_truth, from_detections = [], []
    for meta_file in sorted((dataset / "meta").rglob("*.json")):
        meta = json.loads(meta_file.read_text())
        scene = Scene.load(dataset / meta["scene"])
        centres = {d.id: np.asarray(d.center) for d in scene.defects}
        cam = meta["camera"]
        config = CameraConfig("camera", cam["width"], cam["height"], cam["fx"], cam["fy"], cam["cx"], cam["cy"],
                              Pose(), distortion=tuple(cam["distortion"]))
        view = CameraView(meta["view_id"], config, np.asarray(cam["part_from_camera"]))
        localizer = Localizer(PartSurface.from_arrays(scene.part.vertices, scene.part.triangles))
        boxes = [b for b in meta["boxes"] if _inside(b.get("box_full_frame", b["box"]), cam["width"], cam["height"])]
        truths = [Detection2D(*map(float, b.get("box_full_frame", b["box"])), b["class_name"], 1.0, view.view_id)
                  for b in boxes]
        for truth, box in zip(truths, boxes):
            (hypothesis,), _ = localizer.localize([truth], view)
            from_truth.append(np.linalg.norm(np.subtract(hypothesis.position, centres[box["defect_id"]])))
        dx, dy = meta.get("tile_offset", (0, 0))
        detections = [replace(d, x1=d.x1 + dx, x2=d.x2 + dx, y1=d.y1 + dy, y2=d.y2 + dy)
                      for d in detector.detect(read_rgb(dataset / meta["image"]), view.view_id)]
        for truth, box in zip(truths, boxes):
            same = [d for d in detections if d.class_name == truth.class_name]
            ious = [box_iou_one(np.array([truth.x1, truth.y1, truth.x2, truth.y2]),
                                np.array([[d.x1, d.y1, d.x2, d.y2]]))[0] for d in same]
            if ious and max(ious) >= 0.5:
                hypotheses, _ = localizer.localize([same[int(np.argmax(ious))]], view)
                if hypotheses:
                    from_detections.append(np.linalg.norm(np.subtract(hypotheses[0].position,
                                                                      centres[box["defect_id"]])))
    print("\n## 3D localisation on rendered frames (defects wholly in view; centre vs the defect's true centre)")
    for label, errors in (("true boxes", from_truth), ("detected boxes (IoU >= 0.5)", from_detections)):
        if errors:
            mm = np.asarray(errors) * 1000
            print(f"  {label:28s} n={len(mm):4d}  median {np.median(mm):.2f} mm  90th percentile "
                  f"{np.percentile(mm, 90):.2f} mm  max {mm.max():.2f} mm")


def _inside(box: list[float], width: int, height: int) -> bool:
    """A box that touches the frame border shows part of its defect, so its centre is not the defect's."""
    return box[0] > 0 and box[1] > 0 and box[2] < width and box[3] < height


def _pct(value: float | None) -> str:
    return "  n/a " if value is None else f"{value * 100:5.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/defect_detector"), help="model path without suffix")
    parser.add_argument("--test-set", type=Path, help="labelled dataset to score (default: render one)")
    parser.add_argument("--seed", type=int, default=90000, help="first seed of the rendered test set")
    parser.add_argument("--images", type=int, default=40, help="frames in the rendered test set")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-accuracy", action="store_true", help="timings only")
    args = parser.parse_args()
    runtime.configure_environment()
    model = args.model.with_suffix("")
    metadata = read_metadata(model.with_suffix(".onnx"))
    settings = DetectorSettings.from_params(load_node_params("vision_node"))
    training = metadata["training"]
    earlier = (training.get("initial_weights") or {}).get("training") or {}
    history = f" after {earlier.get('epochs')} from scratch" if earlier else ""
    print(f"# Stage I vision bench: {model}, trained {training['epochs']} epochs{history} at "
          f"{metadata['imgsz']} px, seed {training['seed']}")
    tile_latency(model, metadata["imgsz"], args.repeats)
    sliced_frames(model, settings, max(3, args.repeats // 4))
    if not args.skip_accuracy:
        test_set = args.test_set or simulated_test_set(Path("runs/vision/bench-test-set") / f"seed{args.seed}",
                                                       args.seed, args.images)
        recall_precision(model, settings, test_set)
        localisation_on_renders(model, settings, test_set)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
