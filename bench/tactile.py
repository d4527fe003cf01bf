"""Tactile Stage II figures: simulator and reconstruction+anomaly map+classification time per frame, simulated vs
real GelSight Mini optics, and contact/reconstruction/nick checks on the real sample frames.

    .venv/bin/python bench/tactile.py [--real /work/shared/data/gelsight-mini-sample] [--images docs/images]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from inspection import paths
from inspection.cell import load_cell
from inspection.datasets.tactile import read_rgb
from inspection.records import TACTILE_CLASSES
from inspection.sim.tactile_dataset import local_part_mesh, pressed_pose, sample_scene
from inspection.sim.tactile_realism import frame_statistics
from inspection.sim.tactile_sensor import TactileSimulator, surface_gap, threaded_rod_gap
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier
from inspection.tactile.difference import estimate_background
from inspection.tactile.footprint import beyond_part
from inspection.tactile.measure import surface_residual
from inspection.tactile.reconstruct import Reconstructor
from inspection.tactile.reference import fit_reference
from inspection.tactile.runtime import tune_for_frames
from inspection.tactile.stage import PART_EDGE_MARGIN_M

CONFIG = load_cell().tactile
PNG_SMALL = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def _median_ms(samples: list[float]) -> float:
    return round(1e3 * statistics.median(samples), 2)


def bench_speed(calibration: Calibration, classifier: TactileClassifier, frames: int = 60) -> dict:
    """Median wall and CPU time per frame, one thread: simulate a press; reconstruct (with the question the
    stage asks of every press: is there a contact?) + anomaly map against a reference of 4 simulated clean
    presses + residual + classify (every frame classified: the worst case; with the gate only flagged frames
    are). CPU time is what the process itself used, so it is the fairer figure on a shared machine. Apart:
    where the part ends under the gel, from the part's mesh around the press (``footprint.beyond_part``, the
    tactile node with ``part_mesh``; the mesh's ray-casting scene built beforehand, as the node does once)."""
    rng = np.random.default_rng(2024)
    simulator = TactileSimulator(CONFIG)
    background = simulator.background(rng)
    reconstructor = Reconstructor(calibration, background)
    reference = fit_reference([sample_scene(rng, "none", CONFIG)[1].image for _ in range(4)], ["sim"] * 4)
    sim_t, sim_cpu, rec_t, map_t, res_t, cls_t, total_cpu, images = [], [], [], [], [], [], [], []
    parts, poses, footprint_t = [], [], []
    with_contact = 0
    for index in range(frames):
        scene, _ = sample_scene(rng, TACTILE_CLASSES[index % len(TACTILE_CLASSES)], CONFIG)
        started, cpu = time.perf_counter(), time.process_time()
        gap, heights = surface_gap(CONFIG, scene.pose, scene.surface, scene.defects)
        frame = simulator.press(gap, scene.press_depth_m, rng, scene.defects, scene.drift, scene.contrast, heights)
        sim_t.append(time.perf_counter() - started)
        sim_cpu.append(time.process_time() - cpu)
        images.append(frame.image)
        parts.append(local_part_mesh(scene))
        poses.append(pressed_pose(scene, frame))
        # The first cast builds the mesh's ray-casting scene and its search tree: once per part on the cell.
        beyond_part(parts[-1], poses[-1], frame.image.shape[:2], calibration.pixel_size_m, PART_EDGE_MARGIN_M)
    classifier.predict(reconstructor.reconstruct(images[0]), np.zeros((240, 320), np.float32))  # warm-up
    for image in images:
        t0, cpu = time.perf_counter(), time.process_time()
        rec = reconstructor.reconstruct(image)
        with_contact += rec.contact_found
        t1 = time.perf_counter()
        reference.anomaly(image)
        t2 = time.perf_counter()
        residual = surface_residual(rec)
        t3 = time.perf_counter()
        classifier.predict(rec, residual)
        t4 = time.perf_counter()
        total_cpu.append(time.process_time() - cpu)
        rec_t.append(t1 - t0)
        map_t.append(t2 - t1)
        res_t.append(t3 - t2)
        cls_t.append(t4 - t3)
    for image, part, pose in zip(images, parts, poses):
        started = time.perf_counter()
        beyond_part(part, pose, image.shape[:2], calibration.pixel_size_m, PART_EDGE_MARGIN_M)
        footprint_t.append(time.perf_counter() - started)
    total = [sum(parts) for parts in zip(rec_t, map_t, res_t, cls_t)]
    return {"frames": frames, "frames_with_contact": with_contact, "simulate_ms": _median_ms(sim_t),
            "reconstruct_ms": _median_ms(rec_t),
            "anomaly_map_ms": _median_ms(map_t), "surface_fit_ms": _median_ms(res_t), "classify_ms": _median_ms(cls_t),
            "reconstruct_anomaly_and_classify_ms": _median_ms(total), "part_footprint_ms": _median_ms(footprint_t),
            "cpu_ms_simulate": _median_ms(sim_cpu), "cpu_ms_reconstruct_anomaly_and_classify": _median_ms(total_cpu)}


def _thread_anomalies(rec) -> dict:
    """How far a threaded part departs from a perfect thread (which is uniform along the image rows):
    colour change and height relief minus their running mean along the rows, 99.9th percentile inside
    the contact. A nick breaks the thread and stands out; a clean thread stays low."""
    inner = cv2.erode(rec.contact.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    if not inner.any():
        return {"relief_p1_p99_mm": None, "colour_anomaly": None, "height_anomaly_mm": None, "anomaly_at_px": None}
    relief = rec.height_mm - cv2.GaussianBlur(rec.height_mm, (0, 0), 15)
    diff = cv2.GaussianBlur(rec.diff, (0, 0), 1.0)
    colour = np.abs(diff - cv2.blur(diff, (61, 1))).sum(axis=2)
    height = np.abs(relief - cv2.blur(relief, (61, 1)))
    peak = np.unravel_index(int(np.argmax(np.where(inner, colour, 0))), colour.shape)
    return {"relief_p1_p99_mm": [round(float(v), 3) for v in np.percentile(relief[inner], [1, 99])],
            "colour_anomaly": round(float(np.percentile(colour[inner], 99.9)), 1),
            "height_anomaly_mm": round(float(np.percentile(height[inner], 99.9)), 3),
            "anomaly_at_px": [int(peak[1]), int(peak[0])]}


def bench_real(folder: Path, calibration: Calibration, classifier: TactileClassifier) -> dict:
    """Per real frame: contact, height range, thread anomaly, classifier output; plus optics stats."""
    rows, stats = [], {}
    for path in sorted(folder.glob("*/*.png")):
        frame = read_rgb(path)
        rec = Reconstructor(calibration, estimate_background(frame)).reconstruct(frame)
        inside = rec.height_mm[rec.contact] if rec.contact.any() else np.zeros(1)
        prediction = classifier.predict(rec, surface_residual(rec))
        rows.append({"frame": f"{path.parent.name}/{path.name}", "contact_found": rec.contact_found,
                     "contact_fraction": round(float(rec.contact.mean()), 3),
                     "height_p1_p99_mm": [round(float(v), 3) for v in np.percentile(inside, [1, 99])],
                     **_thread_anomalies(rec),
                     "classifier": f"{prediction.class_name} {prediction.confidence:.2f}"})
        stats.setdefault(path.parent.name, []).append(frame_statistics(frame).as_dict())
    simulator = TactileSimulator(CONFIG)
    rng = np.random.default_rng(0)
    background = simulator.background(rng)
    rod = simulator.press(threaded_rod_gap(CONFIG, 0.004, 0.00105, 0.0005, -0.0008), 0.0012, rng)
    stats["sim_threaded_rod_known_background"] = [frame_statistics(rod.image, background).as_dict()]
    stats["sim_threaded_rod_estimated_background"] = [frame_statistics(rod.image).as_dict()]
    return {"frames": rows, "optics": {k: _mean_stats(v) for k, v in stats.items()}}


def _mean_stats(items: list[dict]) -> dict:
    return {key: (np.round(np.mean([item[key] for item in items], axis=0), 1).tolist()) for key in items[0]}


def _heat(values: np.ndarray, span: float) -> np.ndarray:
    """Signed values to an RGB colour map (blue low, red high) over +-span."""
    scaled = np.clip((values / span + 1.0) * 127.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def write_images(folder: Path, calibration: Calibration) -> None:
    """One simulated press per class over its residual height map; a simulated threaded rod press."""
    rng = np.random.default_rng(7)
    simulator = TactileSimulator(CONFIG)
    reconstructor = Reconstructor(calibration, simulator.background(rng))
    tiles = []
    for name in TACTILE_CLASSES:
        scene, frame = sample_scene(rng, name, CONFIG)
        rec = reconstructor.reconstruct(frame.image)
        residual = surface_residual(rec)
        span = max(0.02, float(np.abs(residual).max()))
        tile = np.vstack([frame.image, _heat(residual, span)])
        cv2.putText(tile, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "tactile_classes.png"), cv2.cvtColor(np.hstack(tiles), cv2.COLOR_RGB2BGR), PNG_SMALL)
    # Simulated only: the real sample frames stay out of the repository.
    rod = simulator.press(threaded_rod_gap(CONFIG, 0.004, 0.00105, 0.0005, -0.0008), 0.0012, rng).image
    cv2.imwrite(str(folder / "tactile_sim_threaded_rod.png"), cv2.cvtColor(rod, cv2.COLOR_RGB2BGR), PNG_SMALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="/work/shared/data/gelsight-mini-sample", help="real GelSight Mini frames")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--images", help="also write example images to this folder (e.g. docs/images)")
    args = parser.parse_args()
    tune_for_frames()  # as the tactile node does
    calibration = Calibration.load(paths.model_file("tactile_calibration.npz"))
    classifier = TactileClassifier(paths.model_file("tactile_classifier.pt"))
    print("speed, one CPU thread, median ms per frame:", json.dumps(bench_speed(calibration, classifier, args.frames)))
    real = Path(args.real)
    if args.images:
        write_images(Path(args.images), calibration)
    if real.is_dir():
        result = bench_real(real, calibration, classifier)
        print("real GelSight Mini frames (background estimated from each frame):")
        for row in result["frames"]:
            print("  ", json.dumps(row))
        print("optics statistics, R G B grey levels (real: mean of 4 frames):")
        for name, values in result["optics"].items():
            print(f"   {name}: " + json.dumps(values))


if __name__ == "__main__":
    main()
