"""The demo's cycle: `inspection demo` (every node its own process, over DDS) timed as a user runs it,
with the wall time of each coordinator phase from the run's journal and the figures of its report.

    .venv/bin/python bench/demo_cycle.py [--seed 7] [--time-scale 10] [--out runs/bench-demo] [--set NODE.KEY=VALUE]

Prints the command's wall time (node start-up included), the phases (capture, detect, plan, execute,
fuse, report), the arm cycle time the plan asks for, and two ratios from the same run: presses over
the full-coverage raster's, and the execute phase's wall time over the arm time it had to take
(cycle time / time scale; 1.0 means Stage II kept up with the simulated arm exactly).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection import runtime  # noqa: E402
from inspection.journal import read_journal  # noqa: E402


def phase_seconds(journal: Path) -> dict[str, float]:
    """Wall time from each phase's start to the next one's (the last one ends at the report)."""
    marks = [(r["phase"], r["t"]) for r in read_journal(journal) if r["event"] == "phase"]
    marks += [("end", r["t"]) for r in read_journal(journal) if r["event"] == "report"]
    return {name: round(end - start, 2) for (name, start), (_, end) in zip(marks[:-1], marks[1:])}


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="as `inspection demo --seed`")
    parser.add_argument("--time-scale", type=float, default=10.0, help="as `inspection demo --time-scale`")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-demo"), help="run folder (emptied first)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    env = dict(os.environ, **runtime.configure_environment())
    command = [sys.executable, "-m", "inspection.cli.main", "demo", "--out", str(args.out), "--seed", str(args.seed),
               "--time-scale", str(args.time_scale), "--no-record"] + [f"--set={item}" for item in args.set]
    print(f"# Demo cycle ({os.cpu_count()} CPUs): {' '.join(command[2:])}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout + result.stderr[-3000:], file=sys.stderr)
        return 1
    (report_file,) = args.out.glob("demo_*/run_*/report.json")  # one demo_<time> folder per run
    summary = json.loads(report_file.read_text())["summary"]
    phases = phase_seconds(report_file.parent / "journal.jsonl")
    presses, full = summary["tactile_presses"], summary["full_coverage_presses"]
    cycle = summary["cycle_time_s"] or 0.0
    print(f"  demo wall time {wall:.1f} s (node start-up and shutdown included); coordinator phases: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    print(f"  Stage I recall {_rate(summary['stage1_recall'])}, final recall {_rate(summary['final_recall'])}, "
          f"precision {_rate(summary['final_precision'])}")
    print(f"  presses {presses} vs full coverage {full}: ratio {presses / full:.3f}" if full else
          f"  presses {presses} (no full-coverage figure)")
    print(f"  arm cycle time {cycle:.1f} s at time scale {args.time_scale:g} = {cycle / args.time_scale:.1f} s of wall "
          f"time; execute phase {phases.get('execute', 0.0):.1f} s: ratio "
          + (f"{phases['execute'] / (cycle / args.time_scale):.2f}" if cycle and "execute" in phases else "n/a"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
