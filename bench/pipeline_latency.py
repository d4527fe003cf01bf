"""Message latency through the pipeline, measured by the coordinator in a real `inspection demo` run
(every node its own process, over DDS): from the header stamp of the sensor frame to the result.

    .venv/bin/python bench/pipeline_latency.py [--seed 7] [--views 3] [--out runs/bench-latency]
    .venv/bin/python bench/pipeline_latency.py --run-dir runs/demo/demo_.../run_...   # figures of a finished run

Paths: camera frame stamp -> Stage I hypotheses (transport to the vision node, sliced detection,
localisation, publication), and tactile press stamp -> Stage II finding (transport, reconstruction,
classification, measurement, judgement). Each to publication (DDS source timestamp) and to receipt
by the coordinator. The camera path has one sample per view: --views sets how many frames are taken.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection import runtime  # noqa: E402
from inspection.latency import summary_line  # noqa: E402


def run_demo(out: Path, seed: int, views: int) -> Path:
    """Run `inspection demo` into ``out`` (emptied first); returns its run folder."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, **runtime.configure_environment())
    command = [sys.executable, "-m", "inspection.cli.main", "demo", "--out", str(out), "--seed", str(seed),
               "--no-record", "--set", f"coordinator_node.capture_views={views}"]
    print(f"# {' '.join(command[2:])}", flush=True)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"demo failed (exit {result.returncode}): {result.stderr[-2000:]}")
    print(result.stdout.strip())  # the demo's summary (its progress bar goes to stderr)
    (run_dir,) = out.glob("demo_*/run_*/")  # the demo makes one demo_<time> folder per run
    return run_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="as `inspection demo --seed`")
    parser.add_argument("--views", type=int, default=3, help="camera frames taken (samples of the camera path)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-latency"), help="demo folder (emptied first)")
    parser.add_argument("--run-dir", type=Path, help="read latency.json of this finished run instead of running one")
    args = parser.parse_args()
    run_dir = args.run_dir or run_demo(args.out, args.seed, args.views)
    latency_file = run_dir / "latency.json"
    if not latency_file.is_file():
        raise SystemExit(f"{latency_file}: not found (a run from before latency was measured?)")
    summary = json.loads(latency_file.read_text())
    print(f"# {latency_file} ({os.cpu_count()} CPUs)")
    print(f"{'ms from the frame stamp':<28} {'n':>4} {'published: median':>18} {'p95':>7} {'max':>7} "
          f"{'received: median':>17} {'p95':>7} {'max':>7}")
    for path, figures in summary.items():
        published, received = figures["to_published_ms"], figures["to_received_ms"]
        print(f"{path:<28} {figures['count']:>4} {published['median']:>18.1f} {published['p95']:>7.1f} "
              f"{published['max']:>7.1f} {received['median']:>17.1f} {received['p95']:>7.1f} {received['max']:>7.1f}")
    print(summary_line(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
