"""Latest-item mailbox: bounded, drops the stale, counts everything, never blocks the producer."""
from __future__ import annotations

import threading
import time

from inspection.mailbox import LatestMailbox


def test_keeps_latest_and_counts_drops() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    for i in range(5):
        box.put(i)
    assert box.take(0.1) == 4
    assert box.take(0.01) is None
    counters = box.counters
    assert (counters.received, counters.taken, counters.dropped) == (5, 1, 4)


def test_slow_consumer_under_fast_producer() -> None:
    box: LatestMailbox[bytes] = LatestMailbox()
    processed = []

    def worker() -> None:
        while (item := box.take(1.0)) is not None:
            time.sleep(0.005)  # slower than the producer
            processed.append(item)

    thread = threading.Thread(target=worker)
    thread.start()
    for i in range(500):
        box.put(i.to_bytes(4, "little"))
        time.sleep(0.0005)
    time.sleep(0.05)
    box.close()
    thread.join(5)
    counters = box.counters
    assert counters.received == 500
    assert counters.taken == len(processed) and counters.taken + counters.dropped == 500
    assert 0 < counters.taken < 500
    assert int.from_bytes(processed[-1], "little") == 499  # the newest item is never lost
