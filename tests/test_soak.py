"""Load: nodes fed faster than they can process keep the latest input, count what they drop, and keep
their memory bounded (a short run of bench/soak.py; the lead runs the 10-minute one)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from inspection.mailbox import LatestMailbox

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


def test_mailbox_with_capacity_keeps_the_newest_items_oldest_first() -> None:
    box: LatestMailbox[int] = LatestMailbox(capacity=3)
    for i in range(7):
        box.put(i)
    assert [box.take(0.1) for _ in range(4)] == [4, 5, 6, None]
    counters = box.counters
    assert (counters.received, counters.taken, counters.dropped) == (7, 3, 4)


def test_short_soak_drops_with_counters_and_memory_stays_bounded(ros_env, tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "0.3", "--report-every", "6", "--width", "640", "--height", "360", "--tactile-hz", "250",
         "--out", str(tmp_path), "--json", str(tmp_path / "soak.json")],
        env=ros_env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + (tmp_path / "nodes.log").read_text()[-3000:]
    assert "verdict: ok" in result.stdout and "high-water" in result.stdout
    report = json.loads((tmp_path / "soak.json").read_text())
    final = {row["node"]: row for row in report["rows"][-2:]}
    assert set(final) == {"vision_node", "tactile_node"}
    for name, row in final.items():
        assert row["alive"] and row["hwm_mb"] > 0, name
        assert row["processed"] > 0 and row["dropped"] > 0, row  # faster than it can process: it drops, counted
        assert row["frames_in"] >= row["processed"] + row["dropped"] - 1, row
    assert report["sent"]["tactile"] > final["tactile_node"]["processed"]
