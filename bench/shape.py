"""Stage I's hand-written shape finder (inspection.vision.shape, photometric stereo) on the simulated
bursts of the campaign's parts: how many defects it finds, how many findings lie on no defect, and its
time per frame.

    .venv/bin/python bench/shape.py [--seed 5150] [--parts 8] [--cache DIR] [--params config/pipeline.yaml]

Each part of the seed is drawn as the campaign draws it (`PartSpec(seed, index)`, the sim node's view
plan) and each planned view's burst is captured. The bursts' noise has its own stream, so they are the
campaign's own bursts although no ring-lit frame is rendered here. The finder runs alone, with no detector
boxes to leave regions to (Stage I hands it the detector's boxes as ``covered``): these figures are what
it finds by itself, not what it adds to the detector.

A defect counts when some view gives it a box (its footprint, visible or not); it is found when a finding
of some view overlaps its box in that view, both grown by 3 px (a scratch's or crack's box is 1-2 px
across, where IoU says little). A finding that overlaps no defect's box, of any class, is false. The
finder is timed alone on one thread (OpenBLAS and OpenCV), every burst, the first included.

The settings are the `vision_node.shape_*` parameters; they were chosen on the tuning seed 5150 (the
default here), so its figures are the ones tuned on. `--cache DIR` keeps each view's burst and labels
there, keyed by seed and part only: empty it after changing the simulator or cell.yaml.
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads OpenBLAS: the finder is timed on one thread

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection.campaign.runner import PartSpec, make_scene  # noqa: E402
from inspection.cell import CellConfig, load_cell  # noqa: E402
from inspection.config import load_node_params  # noqa: E402
from inspection.errors import InputError  # noqa: E402
from inspection.records import Detection2D  # noqa: E402
from inspection.sim.cell_sim import SimulatedCell  # noqa: E402
from inspection.vision.shape import ShapeSettings, find_shape_defects  # noqa: E402

MATCH_PX = 3  # a finding and a defect's box match when they overlap, both grown by this much


@dataclass(frozen=True)
class Label:
    """One defect as one image of a burst shows it: its footprint box, if any, and whether it shows."""

    defect_id: str
    class_name: str
    box: tuple[int, int, int, int] | None
    visible: bool

    @staticmethod
    def from_json(item: dict[str, Any]) -> "Label":
        """From ``DefectView.to_json()`` or this bench's cache (the same keys)."""
        return Label(item["defect_id"], item["class_name"], tuple(item["box"]) if item["box"] else None,
                     bool(item["camera_visible"]))

    def to_json(self) -> dict[str, Any]:
        return {"defect_id": self.defect_id, "class_name": self.class_name,
                "box": list(self.box) if self.box else None, "camera_visible": self.visible}


@dataclass
class ViewBurst:
    """One planned view's burst and what each of its images shows of each defect."""

    burst: np.ndarray  # (H, W, N) uint8 grey, one image per flash
    labels: list[list[Label]]  # per image, in flash order

    def boxes(self) -> dict[str, Label]:
        """Each defect with a box in this view (the footprint, the same in every image), by id."""
        return {label.defect_id: label for image in self.labels for label in image if label.box is not None}

    def shows(self, defect_id: str) -> bool:
        """Whether some image of the burst shows the defect (its change beats the sensor noise)."""
        return any(label.visible for image in self.labels for label in image if label.defect_id == defect_id)


@dataclass
class Tally:
    """Counts over every part: defects with a box, those some burst shows, those found; false findings."""

    with_box: Counter = field(default_factory=Counter)  # class -> defects
    shown: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    found_shown: int = 0
    false: int = 0
    frames: int = 0
    seconds: list[float] = field(default_factory=list)


def capture_part(cell: CellConfig, sim_params: dict[str, Any], seed: int, index: int) -> list[ViewBurst]:
    """Every planned view's burst of part ``index`` of ``seed``, as the campaign's simulated cell takes it."""
    scene, noise_seed = make_scene(PartSpec(seed, index))
    sim = SimulatedCell(cell, scene, seed=noise_seed, views=sim_params["camera_views"],
                        view_overlap=sim_params["view_overlap"])
    bursts = []
    for view in range(len(sim.views)):
        burst = sim.capture_burst(view)
        bursts.append(ViewBurst(burst, [[Label.from_json(d.to_json()) for d in image]
                                        for image in sim.burst_defect_views(view)]))
    return bursts


def cached_part(cache: Path | None, cell: CellConfig, sim_params: dict[str, Any], seed: int,
                index: int) -> list[ViewBurst]:
    """Part ``index``'s bursts from ``cache`` when it holds them for the same view plan, else rendered
    (and saved there when a cache is given)."""
    plan = {"camera_views": sim_params["camera_views"], "view_overlap": sim_params["view_overlap"]}
    labels_file = cache / f"s{seed}_p{index}.json" if cache is not None else None
    if labels_file is not None and labels_file.exists():
        try:
            document = json.loads(labels_file.read_text())
            if document["plan"] == plan:
                return [load_view(cache / f"s{seed}_p{index}_v{k}.npz", labels)
                        for k, labels in enumerate(document["views"])]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            sys.exit(f"{labels_file}: not a cache file of this bench ({exc}); delete it to render again")
    bursts = capture_part(cell, sim_params, seed, index)
    if labels_file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for k, view in enumerate(bursts):
            np.savez_compressed(cache / f"s{seed}_p{index}_v{k}.npz", burst=view.burst)
        # Written last: a part whose labels file exists has every view's burst saved.
        labels_file.write_text(json.dumps({"plan": plan, "views": [
            [[label.to_json() for label in image] for image in view.labels] for view in bursts]}))
    return bursts


def load_view(path: Path, labels: list[list[dict[str, Any]]]) -> ViewBurst:
    """One cached view; a missing or broken burst file is named and ends the bench."""
    try:
        with np.load(path) as data:
            burst = data["burst"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        sys.exit(f"{path}: cannot read the cached burst ({exc}); delete the cache to render again")
    return ViewBurst(burst, [[Label.from_json(item) for item in image] for image in labels])


def overlaps(finding: Detection2D, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    return (finding.x1 <= x2 + MATCH_PX and x1 - MATCH_PX <= finding.x2
            and finding.y1 <= y2 + MATCH_PX and y1 - MATCH_PX <= finding.y2)


def score_part(tally: Tally, views: list[ViewBurst], light_directions: np.ndarray, settings: ShapeSettings) -> None:
    """Run the finder on each view's burst of one part; add its defects found and false findings to ``tally``."""
    classes: dict[str, str] = {}
    shown: set[str] = set()
    found: set[str] = set()
    for k, view in enumerate(views):
        boxes = view.boxes()
        classes.update({defect_id: label.class_name for defect_id, label in boxes.items()})
        shown.update(defect_id for defect_id in boxes if view.shows(defect_id))
        started = time.perf_counter()
        findings = find_shape_defects(view.burst, light_directions, settings, f"frame{k}")
        tally.seconds.append(time.perf_counter() - started)
        tally.frames += 1
        for finding in findings:
            hits = [defect_id for defect_id, label in boxes.items() if overlaps(finding, label.box)]
            found.update(hits)
            tally.false += not hits
    tally.with_box.update(classes.values())
    tally.shown.update(classes[defect_id] for defect_id in shown)
    tally.found.update(classes[defect_id] for defect_id in found)
    tally.found_shown += len(found & shown)


def parts_captured(args: argparse.Namespace, cell: CellConfig,
                   sim_params: dict[str, Any]) -> Iterator[list[ViewBurst]]:
    for index in range(args.parts):
        started = time.perf_counter()
        views = cached_part(args.cache, cell, sim_params, args.seed, index)
        print(f"part {index}: {len(views)} views' bursts ready in {time.perf_counter() - started:.1f} s", flush=True)
        yield views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=5150, help="campaign seed (default 5150, the tuning seed)")
    parser.add_argument("--parts", type=int, default=8, help="parts 0..N-1 of the seed (default 8)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder to keep the captured bursts in and reuse them from (keyed by seed and part)")
    parser.add_argument("--params", default=None, help="parameter file (default config/pipeline.yaml)")
    args = parser.parse_args()
    if args.parts < 1:
        parser.error("--parts: at least 1")
    cv2.setNumThreads(1)
    try:
        cell = load_cell()
        settings = ShapeSettings.configured(load_node_params("vision_node", args.params))
        sim_params = load_node_params("sim_node", args.params)
    except InputError as exc:
        sys.exit(str(exc))
    rig = cell.camera.photometric
    if rig is None:
        sys.exit("config/cell.yaml camera.photometric: no photometric-stereo lights, so no bursts to bench")
    print(f"shape settings: {settings}")
    tally = Tally()
    size = ""
    for views in parts_captured(args, cell, sim_params):
        height, width, lights = views[0].burst.shape
        size = f"{width}x{height}x{lights}"
        score_part(tally, views, rig.light_directions(), settings)
    per_class = ", ".join(f"{name} {tally.found[name]}/{count}" for name, count in sorted(tally.with_box.items()))
    print(f"seed {args.seed}, parts 0-{args.parts - 1}, {tally.frames} simulated {size} bursts; "
          "the finder alone (no detector boxes), one thread")
    print(f"defects found {sum(tally.found.values())}/{sum(tally.with_box.values())} with a box ({per_class}); "
          f"of those some burst shows {tally.found_shown}/{sum(tally.shown.values())}")
    print(f"false findings {tally.false} ({tally.false / tally.frames:.2f} per burst); time per {size} burst: "
          f"median {1000 * statistics.median(tally.seconds):.0f} ms, max {1000 * max(tally.seconds):.0f} ms")


if __name__ == "__main__":
    main()
