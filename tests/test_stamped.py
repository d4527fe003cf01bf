"""Pairing by stamp: exact stamps only, late partners are waited for, old stamps are forgotten."""
from __future__ import annotations

import threading
import time

import pytest

from inspection.stamped import StampedBuffer


def test_exact_stamp_only_and_bounded() -> None:
    buffer: StampedBuffer[str] = StampedBuffer(capacity=2)
    assert not buffer.ever and buffer.get(1) is None
    for stamp in (1, 2, 3):
        buffer.put(stamp, f"pose{stamp}")
    assert buffer.ever
    assert buffer.get(1) is None  # forgotten: only the latest two are kept
    assert buffer.get(2) == "pose2" and buffer.get(3) == "pose3" and buffer.get(4) is None
    with pytest.raises(ValueError, match="capacity"):
        StampedBuffer(capacity=0)


def test_a_late_partner_is_waited_for_within_the_timeout() -> None:
    buffer: StampedBuffer[str] = StampedBuffer()
    timer = threading.Timer(0.2, buffer.put, args=(7, "late"))
    timer.start()
    started = time.monotonic()
    assert buffer.get(7, timeout_s=5.0) == "late"
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    assert buffer.get(8, timeout_s=0.3) is None and time.monotonic() - started >= 0.3
