"""Values keyed by a header stamp, kept briefly so a message can be paired with another one of the same
stamp that travels on another topic (a camera frame with the camera's pose at that instant).

The two arrive in either order and through different QoS (a best-effort image, a reliable pose), so
the consumer waits a little for its partner; only the latest ``capacity`` stamps are kept.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class StampedBuffer(Generic[T]):
    def __init__(self, capacity: int = 16) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[int, T] = OrderedDict()
        self._condition = threading.Condition()
        self.ever = False  # whether anything was ever put: a source that never publishes is not late

    def put(self, stamp_ns: int, value: T) -> None:
        with self._condition:
            self._items[stamp_ns] = value
            self._items.move_to_end(stamp_ns)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            self.ever = True
            self._condition.notify_all()

    def get(self, stamp_ns: int, timeout_s: float = 0.0) -> T | None:
        """The value put under exactly ``stamp_ns``, waiting up to ``timeout_s`` for it; None if it never came."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while stamp_ns not in self._items:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)
            return self._items[stamp_ns]
