"""Planner figures on the default cell: planning time, targeted vs full-coverage presses, IK success rate.

    .venv/bin/python bench/planning.py [--full-coverage-size 0.3]

Part: a cylindrical panel (radius 1 m, 0.6 m arc x 0.6 m long, convex up, origin at the top centre),
the shape the default cell.yaml is laid out for. Regions are 10 mm in radius (a Stage I box of a few
millimetres plus margin), at deterministic random places within 0.25 m of the origin. Timings are
wall-clock after a warm-up plan (imports and the open3d scene are paid once per process).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection.cell import load_cell  # noqa: E402
from inspection.geometry.surface import PartSurface, tangent_frame  # noqa: E402
from inspection.records import ScanRegion  # noqa: E402
from inspection.planning.interfaces import Press  # noqa: E402
from inspection.planning.motion import MotionError  # noqa: E402
from inspection.planning.planner import TactileScanPlanner  # noqa: E402
from inspection.sim import shapes  # noqa: E402


def panel_regions(count: int, radius: float, seed: int) -> list[ScanRegion]:
    rng = np.random.default_rng(seed)
    regions = []
    for i in range(count):
        angle, y = rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25)
        regions.append(ScanRegion(f"r{i}", (math.sin(angle), y, math.cos(angle) - 1.0),
                                  (math.sin(angle), 0.0, math.cos(angle)), radius))
    return regions


def planning_time(planner: TactileScanPlanner, surface: PartSurface) -> None:
    planner.plan(surface, panel_regions(2, 0.01, 99))  # warm-up
    singles, cpu = [], []
    for region in panel_regions(20, 0.01, 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        plan = planner.plan(surface, [region])
        singles.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert plan.presses, plan.unreachable
    # CPU time as well: on a shared machine wall-clock time also counts other people's work.
    print(f"planning time, 1 region (r = 10 mm, incl. coverage, IK, checks, timing): "
          f"median {statistics.median(singles):.1f} ms, max {max(singles):.1f} ms over 20 regions "
          f"(CPU time median {statistics.median(cpu):.1f} ms, max {max(cpu):.1f} ms)")
    started, started_cpu = time.perf_counter(), time.process_time()
    plan = planner.plan(surface, panel_regions(20, 0.01, 1))
    total, total_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"planning time, 20 regions together: {total * 1000:.0f} ms, CPU {total_cpu * 1000:.0f} ms "
          f"({total * 1000 / 20:.1f} ms per region; "
          f"coverage {plan.timings_s['coverage'] * 1000:.0f} ms, kinematics + trajectory "
          f"{plan.timings_s['kinematics'] * 1000:.0f} ms); {len(plan.presses)} presses, "
          f"{len(plan.unreachable)} unreachable, cycle time {plan.cycle_time_s:.1f} s")


def targeted_vs_full(planner: TactileScanPlanner, size: float) -> None:
    surface = PartSurface.from_arrays(*shapes.cylinder_panel(1.0, size, size))
    inside = size / 2 - 0.01
    regions = [r for r in panel_regions(20, 0.01, 1)
               if abs(r.center[1]) < inside and abs(math.asin(r.center[0])) < inside]
    targeted = planner.plan(surface, regions)
    started = time.perf_counter()
    full = planner.plan(surface, full_coverage=True)
    seconds = time.perf_counter() - started
    print(f"panel {size:.2f} m x {size:.2f} m ({surface.area:.3f} m^2), {len(regions)} regions of r = 10 mm:")
    print(f"  targeted:      {len(targeted.presses):5d} presses, {len(targeted.unreachable)} unreachable, "
          f"cycle time {targeted.cycle_time_s:8.1f} s")
    print(f"  full coverage: {len(full.presses):5d} presses, {len(full.unreachable)} unreachable, "
          f"cycle time {full.cycle_time_s:8.1f} s (planned in {seconds:.1f} s)")
    print(f"  targeted / full: presses {len(targeted.presses) / max(len(full.presses), 1):.3f}, "
          f"cycle time {targeted.cycle_time_s / max(full.cycle_time_s, 1e-9):.3f}")


def ik_success(planner: TactileScanPlanner, surface: PartSurface, spacing: float) -> None:
    """Every surface point within 0.3 m of the origin, tool along the normal: approach + press line + checks."""
    grid = np.arange(-0.3, 0.3 + 1e-9, spacing)
    queries = np.array([[x, y, 0.0] for x in grid for y in grid if math.hypot(x, y) <= 0.3])
    hit = surface.closest(queries)
    inside = np.linalg.norm(hit.points, axis=1) <= 0.3
    tactile = planner.cell.tactile
    checker = planner.clearance_checker(surface)
    seed, failures = planner.kinematics.home, {}
    points = hit.points[inside]
    for point, normal, axis in zip(points, hit.normals[inside], tangent_frame(hit.normals[inside])[0]):
        press = Press(("ws",), point, normal, axis, tactile.press_depth_m, tactile.approach_standoff_m,
                      tactile.approach_standoff_m)
        try:
            seed = planner.press_motion(press, checker, seed)[0]
        except MotionError as exc:
            reason = str(exc).split(":")[0]
            failures[reason] = failures.get(reason, 0) + 1
    ok = len(points) - sum(failures.values())
    print(f"IK success over the default cell's workspace (surface points within 0.3 m of the part origin, "
          f"{spacing * 100:.0f} cm grid): {ok}/{len(points)} = {100 * ok / len(points):.1f} %"
          + (f"; failures {failures}" if failures else ""))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full-coverage-size", type=float, default=0.3,
                        help="side of the square panel rastered for the full-coverage comparison (m)")
    parser.add_argument("--workspace-spacing", type=float, default=0.02, help="grid spacing of the IK sweep (m)")
    args = parser.parse_args()
    cell = load_cell()
    planner = TactileScanPlanner(cell)
    surface = PartSurface.from_arrays(*shapes.cylinder_panel(1.0, 0.6, 0.6))
    print(f"cell: {cell.robot.urdf}, part at {list(cell.part.pose.xyz)} m; footprint "
          f"{cell.tactile.footprint_m[0] * 1000:.1f} x {cell.tactile.footprint_m[1] * 1000:.1f} mm, overlap "
          f"{planner.settings.footprint_overlap}; load average {load_average()}")
    planning_time(planner, surface)
    ik_success(planner, surface, args.workspace_spacing)
    targeted_vs_full(planner, args.full_coverage_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
