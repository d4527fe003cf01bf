"""A bounded mailbox: keep the latest item (or the latest ``capacity``), drop older unprocessed ones,
count everything.

Nodes that cannot keep up with their input (a detector on a 2-core machine, a tactile classifier
behind a 60 fps sensor) put each message here from the subscription callback and process from a
worker thread. Memory stays bounded (``capacity`` pending items, taken oldest first) and the counters
say what was dropped. A camera wants only the newest frame (capacity 1); press measurements, which
must not be lost in a burst, get a few slots.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class MailboxCounters:
    received: int
    taken: int
    dropped: int


class LatestMailbox(Generic[T]):
    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._condition = threading.Condition()
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._closed = False
        self._received = self._taken = self._dropped = 0

    def put(self, item: T) -> None:
        """Store ``item``; when full, the oldest item not yet taken is dropped (and counted)."""
        with self._condition:
            if len(self._items) == self._capacity:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            self._received += 1
            self._condition.notify()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The oldest kept item, waiting up to ``timeout_s``; None on timeout or once closed and empty."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._items or self._closed, timeout_s):
                return None
            if not self._items:
                return None
            self._taken += 1
            return self._items.popleft()

    def close(self) -> None:
        """Wake any waiting worker so that it can exit."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    @property
    def counters(self) -> MailboxCounters:
        with self._condition:
            return MailboxCounters(self._received, self._taken, self._dropped)
