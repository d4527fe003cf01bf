"""Simulated-cell camera figures: render time, tiled-dataset speed, what fraction of defects the camera sees.

    .venv/bin/python bench/sim_render.py [--renders 30] [--tiles 50] [--examples docs/images]

* Render time: full 1920x1080 frames of random scenes at the cell camera (intrinsics from cell.yaml),
  wall-clock per `Renderer.render` after one warm-up (ray table and textures are cached per process).
* Tiled dataset: `write_dataset` with --tile 640 for ``--tiles`` images, one process, extrapolated
  linearly to 1,000 images (printed as an extrapolation).
* Coverage: per part kind, the surface share the fixed cell camera sees adequately, and a normal-view grid.
* Visible fraction per class: over the renders, of the defects with a footprint in the frame, the
  share the renderer marks ``camera_visible`` (changes >= 3 pixels by > 3 sigma of sensor noise).
The machine's load average and the process CPU time are printed too: wall-clock on a shared machine
is an upper bound; CPU time (all threads) is closer to what an idle machine of this kind would take.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection.cell import load_cell  # noqa: E402
from inspection.records import DEFECT_CLASSES  # noqa: E402
from inspection.sim.camera import Camera  # noqa: E402
from inspection.sim.dataset import DatasetOptions, write_dataset  # noqa: E402
from inspection.sim.lighting import Lighting  # noqa: E402
from inspection.sim.render import Render, Renderer  # noqa: E402
from inspection.sim.parts import PART_KINDS, random_part  # noqa: E402
from inspection.sim.scene import random_scene  # noqa: E402
from inspection.sim.views import coverage, grid_views, random_view  # noqa: E402


def draw_example(render: Render, path: Path, scale: float = 0.5) -> None:
    """Downscaled frame with boxes: green = camera-visible (a label), red = in view but not visible."""
    import cv2

    image = cv2.cvtColor(render.image, cv2.COLOR_RGB2BGR)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    for view in render.defects:
        if view.box is None:
            continue
        x1, y1, x2, y2 = (int(round(v * scale)) for v in view.box)
        colour = (60, 220, 60) if view.camera_visible else (60, 60, 230)
        cv2.rectangle(image, (x1 - 4, y1 - 4), (x2 + 4, y2 + 4), colour, 1)
        cv2.putText(image, view.class_name, (x1 - 4, y1 - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def bench_renders(count: int, examples: Path | None) -> None:
    cell = load_cell()
    base = Camera.from_cell(cell)
    times, cpu_times, in_view, visible = [], [], Counter(), Counter()
    written = 0
    for index in range(count + 1):
        rng = np.random.default_rng([2026, index])
        scene = random_scene(rng)
        camera = random_view(rng, scene.part, base)
        lighting = Lighting.random(rng)
        renderer = Renderer(scene)
        start, cpu_start = time.perf_counter(), time.process_time()
        render = renderer.render(camera, lighting, np.random.default_rng([2026, index, 1]))
        if index > 0:  # the first render pays for the ray table and texture caches
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        for defect, view in zip(scene.defects, render.defects):
            in_view[view.class_name] += view.box is not None
            visible[view.class_name] += view.camera_visible
            if view.box is not None:
                key = _condition(defect, scene.finish, lighting)
                if key:
                    in_view[key] += 1
                    visible[key] += view.camera_visible
        in_frame = [view for view in render.defects if view.box is not None]
        if examples is not None and written < 3 and len(in_frame) >= 5 and not all(v.camera_visible for v in in_frame):
            written += 1  # busy frames with at least one defect the camera cannot see make the best examples
            draw_example(render, examples / f"sim_example_{written}.png")
    print(f"render 1920x1080: median {statistics.median(times):.3f} s, mean {statistics.mean(times):.3f} s, "
          f"min {min(times):.3f} s over {len(times)} random scenes; CPU time median "
          f"{statistics.median(cpu_times):.3f} s (load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    print("camera-visible fraction of in-view defects per class:")
    for name in DEFECT_CLASSES:
        share = visible[name] / in_view[name] if in_view[name] else float("nan")
        print(f"  {name:<11} {visible[name]:>4} / {in_view[name]:<4} = {share:.2f}")
    total_visible = sum(visible[name] for name in DEFECT_CLASSES)
    total_in_view = sum(in_view[name] for name in DEFECT_CLASSES)
    print(f"  {'all':<11} {total_visible:>4} / {total_in_view:<4} = {total_visible / max(total_in_view, 1):.2f}")
    print("the hard cases, same measure:")
    for key in sorted(k for k in in_view if k not in DEFECT_CLASSES):
        print(f"  {key:<34} {visible[key]:>4} / {in_view[key]:<4} = {visible[key] / in_view[key]:.2f}")


def _condition(defect, finish, lighting: Lighting) -> str:
    """Which hard-case bucket a defect falls in ('' for none): grain-aligned scratches, dents by light."""
    if defect.class_name == "scratch" and finish.kind == "bare":
        aligned = abs(float(np.dot(defect.tangent, finish.grain_direction))) > 0.98
        return "scratch on bare metal, " + ("along the grain" if aligned else "across the grain")
    if defect.class_name in ("dent", "bump"):
        light = "grazing light on" if lighting.grazing_intensity >= 0.4 else "ring/diffuse light only"
        return f"{defect.class_name}, {light}"
    return ""


def bench_coverage() -> None:
    """Surface share seen at <= 0.5 mm/px and <= 60 deg: the fixed cell camera alone vs a normal-view grid."""
    camera = Camera.from_cell(load_cell())
    print("coverage (area share seen at <= 0.5 mm/px, <= 60 deg from the normal):")
    for kind in PART_KINDS:
        part = random_part(np.random.default_rng(5), kind)
        views = grid_views(part, camera, distance=0.5)
        fixed, grid = coverage(part, [camera]).fraction, coverage(part, views).fraction
        print(f"  {kind:<14} {part.uv_extent[0]:.2f} x {part.uv_extent[1]:.2f} m: cell camera {fixed:.1%}, "
              f"{len(views)} normal views at 0.5 m {grid:.1%}")


def bench_tiles(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        options = DatasetOptions(out=Path(folder) / "tiles", images=count, tile=640, seed=11)
        start = time.perf_counter()
        summary = write_dataset(options, progress=False)
        elapsed = time.perf_counter() - start
    print(f"tiled dataset (--tile 640, 1 worker): {count} images from {summary['renders']} renders in "
          f"{elapsed:.1f} s = {elapsed / count:.2f} s/image; extrapolated to 1,000 images: "
          f"{1000 * elapsed / count / 60:.1f} min (load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--tiles", type=int, default=50)
    parser.add_argument("--examples", type=Path, default=None, help="write sim_example_*.png here")
    args = parser.parse_args()
    bench_renders(args.renders, args.examples)
    bench_coverage()
    bench_tiles(args.tiles)


if __name__ == "__main__":
    main()
