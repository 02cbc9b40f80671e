"""The one non-HTTP retry policy (tenacity): attempts, deadlines, predicates, polling."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline_lib.core.errors import Conflict, NotFound, TimeoutExceeded
from pipeline_lib.core.retry import backoff_delay, call, poll, retrying


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


def test_call_keeps_the_schedule_of_retrying_and_reraises_the_last_error() -> None:
    waits: list[float] = []
    calls = 0

    def lose() -> None:
        nonlocal calls
        calls += 1
        raise Conflict("git", f"lost the race {calls}")
    with pytest.raises(Conflict, match="lost the race 4"):
        call(lose, Conflict, attempts=4, first=0.1, max_wait=1.0, sleep=waits.append)
    assert calls == 4 and len(waits) == 3
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2 and 0.2 <= waits[2] <= 0.4   # as retrying's
    seen = iter([Conflict("x", "again"), Conflict("x", "again")])

    def flaky() -> str:
        exc = next(seen, None)
        if exc is not None:
            raise exc
        return "done"
    assert call(flaky, Conflict, attempts=3, sleep=lambda s: None) == "done"
    with pytest.raises(NotFound):   # not the named error: no retry
        call(lambda: (_ for _ in ()).throw(NotFound("x", "gone")), Conflict, attempts=5, sleep=lambda s: None)
    with pytest.raises(Conflict, match="once"):   # one attempt: no wait, no retry
        call(lambda: (_ for _ in ()).throw(Conflict("x", "once")), Conflict, attempts=1, sleep=waits.append)
    assert len(waits) == 3


def test_a_first_try_that_succeeds_loads_no_tenacity() -> None:
    code = ("import sys; from pipeline_lib.core.retry import call; "
            "assert call(lambda: 7, attempts=3) == 7; print('tenacity' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
