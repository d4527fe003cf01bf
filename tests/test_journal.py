"""Run journal: records survive a crash mid-write; a torn line is skipped."""
from __future__ import annotations

import subprocess
import sys

from inspection.journal import Journal, read_journal
from inspection.records import TactileFinding


def test_records_round_trip_and_torn_line_is_skipped(tmp_path) -> None:
    path = tmp_path / "journal.jsonl"
    finding = TactileFinding("t0", "r0", 0, "dent", 0.9, (0.1, 0.0, 0.0), (0, 0, 1), 0.2, 4.0, 5.0)
    with Journal(path) as journal:
        journal.append("finding", finding=finding.to_json())
        journal.append("state", state="plan")
    with open(path, "a") as handle:
        handle.write('{"t": 1, "event": "finding", "finding": {"id": "t1"')  # crash mid-write
    records = list(read_journal(path))
    assert [r["event"] for r in records] == ["finding", "state"]
    assert TactileFinding.from_json(records[0]["finding"]) == finding


def test_data_is_on_disk_before_a_hard_kill(tmp_path) -> None:
    path = tmp_path / "journal.jsonl"
    code = (f"from inspection.journal import Journal\nimport os\nj = Journal({str(path)!r})\n"
            "for i in range(3):\n    j.append('press', index=i)\nos._exit(9)  # no flush, no close, no atexit\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert [r["index"] for r in read_journal(path)] == [0, 1, 2]
