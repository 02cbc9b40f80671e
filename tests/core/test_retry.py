"""The one non-HTTP retry policy (tenacity): attempts, deadlines, predicates, polling."""

from __future__ import annotations

import time

import pytest

from pipeline_lib.core.errors import Conflict, NotFound, TimeoutExceeded
from pipeline_lib.core.retry import backoff_delay, poll, retrying


def test_retries_the_named_error_then_reraises_it_unchanged() -> None:
    waits: list[float] = []
    calls = 0
    with pytest.raises(Conflict, match="lost the race 3"):
        for attempt in retrying(Conflict, attempts=3, first=0.1, max_wait=1.0, sleep=waits.append):
            with attempt:
                calls += 1
                raise Conflict("git", f"lost the race {calls}")
    assert calls == 3 and len(waits) == 2
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2     # equal jitter: b/2..b, b doubling


def test_other_errors_and_refused_predicates_are_not_retried() -> None:
    calls = 0
    with pytest.raises(NotFound):
        for attempt in retrying(Conflict, attempts=5, sleep=lambda s: None):
            with attempt:
                calls += 1
                raise NotFound("x", "gone")
    with pytest.raises(Conflict):
        for attempt in retrying(Conflict, attempts=5, when=lambda e: "retry" in str(e), sleep=lambda s: None):
            with attempt:
                calls += 1
                raise Conflict("x", "final")
    assert calls == 2


def test_success_returns_from_inside_the_block() -> None:
    def work() -> int:
        n = 0
        for attempt in retrying(Conflict, attempts=4, sleep=lambda s: None):
            with attempt:
                n += 1
                if n < 3:
                    raise Conflict("x", "again")
                return n
        raise AssertionError("unreachable")
    assert work() == 3


def test_backoff_delay_is_bounded() -> None:
    for n in range(1, 20):
        assert 0 < backoff_delay(n, 0.05, 2.0) <= 2.0
    assert backoff_delay(30, 0.05, 2.0) >= 1.0


def test_poll_returns_the_first_truthy_value_and_times_out_cleanly() -> None:
    seen = iter([None, 0, "ready"])
    waits: list[float] = []
    assert poll(lambda: next(seen), timeout=5, what="x", first=0.01, on_wait=waits.append) == "ready"
    assert len(waits) == 2
    start = time.monotonic()
    with pytest.raises(TimeoutExceeded, match=r"^slow: not ready after 0.3s \(still starting\)$"):
        poll(lambda: False, timeout=0.3, what="slow", first=0.01, interval=0.05, describe=lambda: "still starting")
    assert time.monotonic() - start < 2
