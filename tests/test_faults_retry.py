"""Retry within limits: transient failures are retried, the last error says how often, stops are not retried."""
from __future__ import annotations

import pytest

from inspection.retry import with_retries


def test_a_transient_failure_is_retried_and_the_result_returned() -> None:
    retried: list[tuple[int, str]] = []

    def attempt(number: int) -> str:
        if number < 3:
            raise TimeoutError(f"no frame on try {number}")
        return "frame"

    assert with_retries(attempt, 3, (TimeoutError,), lambda n, e: retried.append((n, str(e)))) == "frame"
    assert retried == [(1, "no frame on try 1"), (2, "no frame on try 2")]


def test_the_last_failure_is_raised_saying_how_many_tries() -> None:
    calls: list[int] = []

    def attempt(number: int) -> None:
        calls.append(number)
        raise TimeoutError("camera view 0: nothing after 5 s")

    with pytest.raises(TimeoutError, match=r"camera view 0: nothing after 5 s \(tried 3 times\)"):
        with_retries(attempt, 3, (TimeoutError,))
    assert calls == [1, 2, 3]


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def attempt(number: int) -> None:
        calls.append(number)
        raise RuntimeError("emergency stop pressed")

    with pytest.raises(RuntimeError, match="emergency stop"):
        with_retries(attempt, 5, (TimeoutError,))
    assert calls == [1]
    with pytest.raises(ValueError, match="at least 1"):
        with_retries(attempt, 0, (TimeoutError,))
