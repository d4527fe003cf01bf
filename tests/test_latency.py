"""Latency figures per path: median, p95 and max in milliseconds from the frame stamp."""
from __future__ import annotations

from inspection.latency import PRESS_TO_FINDING, LatencyLog, summary_line


def test_summary_in_milliseconds_to_publication_and_receipt() -> None:
    log = LatencyLog()
    for i in range(1, 21):  # 1..20 ms to publication, 1 ms more to receipt
        stamp = 1_000_000_000_000 + i * 50_000_000
        log.add(PRESS_TO_FINDING, stamp, stamp + i * 1_000_000, stamp + (i + 1) * 1_000_000)
    figures = log.summary()[PRESS_TO_FINDING]
    assert figures["count"] == 20
    assert figures["to_published_ms"] == {"median": 10.5, "p95": 19.05, "max": 20.0}
    assert figures["to_received_ms"]["median"] == 11.5
    assert summary_line(log.summary()).endswith("tactile press -> finding 10/19 ms (n=20)")
    assert summary_line({}) == "latency: no samples"
