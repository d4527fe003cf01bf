"""What the kernel says about a process: resident memory now and its high-water mark (Linux /proc)."""
from __future__ import annotations

from pathlib import Path


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """{"rss_kb": VmRSS, "hwm_kb": VmHWM} of process ``pid``; empty where /proc has no such process."""
    fields = {"VmRSS": "rss_kb", "VmHWM": "hwm_kb"}
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in fields and value.split():
            found[fields[key]] = int(value.split()[0])
    return found
