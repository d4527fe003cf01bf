"""Retry within limits: for steps whose failure is usually transient (a camera frame lost on a
best-effort topic), never for stops (cancel, emergency stop) or bad input.
"""
from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


def with_retries(attempt: Callable[[int], T], attempts: int, retry_on: tuple[type[BaseException], ...],
                 on_retry: Callable[[int, BaseException], None] = lambda _n, _e: None) -> T:
    """``attempt(n)`` for n = 1.. until it returns; after ``attempts`` failures the last error is raised,
    its message saying how many tries were made. ``on_retry(n, error)`` runs before try n + 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for number in range(1, attempts + 1):
        try:
            return attempt(number)
        except retry_on as exc:
            if number == attempts:
                raise type(exc)(f"{exc} (tried {attempts} time{'s' if attempts > 1 else ''})") from exc
            on_retry(number, exc)
    raise AssertionError("unreachable")
