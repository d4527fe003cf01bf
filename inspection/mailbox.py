"""A one-slot mailbox: keep the latest item, drop older unprocessed ones, count everything.

Nodes that cannot keep up with their input (a detector on a 2-core machine, a tactile classifier
behind a 60 fps sensor) put each message here from the subscription callback and process from a
worker thread. Memory stays bounded (one pending item) and the counters say what was dropped.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class MailboxCounters:
    received: int
    taken: int
    dropped: int


class LatestMailbox(Generic[T]):
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._received = self._taken = self._dropped = 0

    def put(self, item: T) -> None:
        """Store ``item``, replacing (and counting as dropped) any item not yet taken."""
        with self._condition:
            if self._has_item:
                self._dropped += 1
            self._item, self._has_item = item, True
            self._received += 1
            self._condition.notify()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The latest item, waiting up to ``timeout_s``; None on timeout or once closed."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._has_item or self._closed, timeout_s):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            self._taken += 1
            return item

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
