"""Message latency through the pipeline, from the header stamp of the sensor frame a result came from.

For each path (e.g. camera frame -> hypotheses) a sample holds three wall-clock times in nanoseconds:
the frame's stamp (when the sensor took it), when the result was published (the DDS source timestamp)
and when the coordinator received it. Stamps and source timestamps are both the system clock, so this
holds on one machine or on machines synchronised by PTP/NTP, and not under simulated time.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

CAMERA_TO_HYPOTHESES = "camera frame -> hypotheses"
PRESS_TO_FINDING = "tactile press -> finding"


def _figures(values_ms: list[float]) -> dict[str, float]:
    values = np.asarray(values_ms, float)
    return {"median": round(float(np.median(values)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "max": round(float(values.max()), 2)}


class LatencyLog:
    """Samples per path (thread-safe); ``summary()`` gives count and median/p95/max in milliseconds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[tuple[int, int, int]]] = {}

    def add(self, path: str, stamp_ns: int, published_ns: int, received_ns: int) -> None:
        with self.lock:
            self.samples.setdefault(path, []).append((stamp_ns, published_ns, received_ns))

    def summary(self) -> dict[str, dict[str, Any]]:
        """{path: {"count", "to_published_ms": {median, p95, max}, "to_received_ms": {...}}}."""
        with self.lock:
            samples = {path: list(rows) for path, rows in self.samples.items()}
        result = {}
        for path, rows in samples.items():
            stamp, published, received = (np.asarray(column, np.int64) for column in zip(*rows))
            result[path] = {"count": len(rows), "to_published_ms": _figures(list((published - stamp) / 1e6)),
                            "to_received_ms": _figures(list((received - stamp) / 1e6))}
        return result


def summary_line(summary: dict[str, dict[str, Any]]) -> str:
    """One line: median/p95 from the frame stamp to publication, per path."""
    if not summary:
        return "latency: no samples"
    parts = [f"{path} {s['to_published_ms']['median']:.0f}/{s['to_published_ms']['p95']:.0f} ms (n={s['count']})"
             for path, s in summary.items()]
    return "latency median/p95, frame stamp to result published: " + ", ".join(parts)
