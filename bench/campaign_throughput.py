"""Evaluation-campaign throughput: parts per minute with local worker processes against Ray actors.

    .venv/bin/python bench/campaign_throughput.py [--parts 4] [--ablation vision-only] [--workers 1 2]
        [--ray-address HOST:6379] [--part-scale 0.5 --width 960 --height 540]

Each setting runs `inspection eval campaign` as a user would, in a fresh output folder (nothing resumed):
``--workers K`` for each K given, then ``--executor ray`` with a private Ray instance sized to this machine,
then, with ``--ray-address``, on that cluster too. Parts per minute are end to end (start-up, model
loading and Ray start included), so few parts understate what a long campaign gets; beside them, the
mean seconds per part inside a worker and the rate the workers reach without start-up (workers x 60 /
seconds per part), which a long campaign approaches. The defaults (a few small parts, the vision-only
ablation, 960x540 frames) keep it to a couple of minutes on two cores; give more parts and ``--ablation
paper`` for figures closer to a real campaign. Wall-clock on a shared machine is an upper bound: the load average
after each setting is printed beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspection.campaign.executors import local_cpus

ROOT = Path(__file__).resolve().parent.parent


def run_campaign(out: Path, options: argparse.Namespace, extra: list[str]) -> tuple[float, dict]:
    """Run one campaign through the CLI; its wall time and summary."""
    command = [sys.executable, "-m", "inspection.cli.main", "eval", "campaign", "--json", str(out),
               "--parts", str(options.parts), "--seed", str(options.seed), "--ablation", options.ablation,
               "--part-scale", str(options.part_scale), "--width", str(options.width),
               "--height", str(options.height), *extra]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"campaign_throughput: {' '.join(extra)} failed:\n{result.stderr[-2000:]}")
    return wall, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=4, help="parts per setting")
    parser.add_argument("--seed", type=int, default=424)
    parser.add_argument("--ablation", default="vision-only", help="as for `inspection eval campaign`")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local worker counts to run")
    parser.add_argument("--ray-address", help="also run on this Ray cluster (HOST:6379)")
    parser.add_argument("--part-scale", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=540)
    options = parser.parse_args()

    cpus = local_cpus()
    # (label, flags, workers running at once; None: as many as the cluster has CPUs, not known here)
    settings: list[tuple[str, list[str], int | None]] = [
        (f"--workers {k}", ["--workers", str(k)], min(k, options.parts)) for k in options.workers]
    settings.append(("--executor ray (this machine)", ["--executor", "ray"], min(cpus, options.parts)))
    if options.ray_address:
        settings.append((f"--executor ray --ray-address {options.ray_address}",
                         ["--executor", "ray", "--ray-address", options.ray_address], None))
    print(f"campaign throughput: {options.parts} parts, ablation {options.ablation}, part scale "
          f"{options.part_scale}, {options.width}x{options.height}, seed {options.seed}; "
          f"{cpus} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="campaign-throughput-") as folder:
        for k, (label, extra, running) in enumerate(settings):
            wall, summary = run_campaign(Path(folder) / f"run{k}.json", options, extra)
            per_part = summary["ablations"][summary["headline_ablation"]]["wall_s_per_part"]
            # Without start-up: what a long campaign approaches, the workers busy all the time.
            steady = f"{running * 60 / per_part:.1f} parts/min" if running else "n/a"
            print(f"{label:45s} {options.parts * 60 / wall:6.1f} parts/min end to end ({wall:5.1f} s wall); "
                  f"{per_part:.1f} s per part in a worker, so {steady} without start-up; "
                  f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
