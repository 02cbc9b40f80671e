"""The one retry policy for work that is not an HTTP request (HTTP retries: :mod:`.http`).

Built on tenacity (https://tenacity.readthedocs.io): exponential backoff with "equal jitter"
(AWS Architecture Blog, "Exponential Backoff And Jitter"): before retry n (1, 2, …) the wait is
``b/2 + uniform(0, b/2)`` seconds with ``b = min(max_wait, first * 2**(n-1))``, so waits grow
and writers racing each other spread out; tries stop at a deadline in seconds and/or a number
of attempts. Used for git pushes that lose a race to another
writer, and for polling waits (a server becoming ready, a port becoming free).

- :func:`retrying` gives a ``tenacity.Retrying`` to iterate (``for attempt in retrying(...):
  with attempt: ...``); after the deadline the last exception is re-raised unchanged.
- :func:`call` runs ``fn()`` under the same policy, its first try before tenacity is imported:
  a CLI process whose work succeeds at once (most) never loads tenacity (~5 ms of start-up).
- :func:`poll` calls ``check()`` until it returns a truthy value, or raises
  :class:`~pipeline_lib.core.errors.TimeoutExceeded`.

tenacity is imported by the function that needs it, not with this module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .errors import TimeoutExceeded

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

FIRST_WAIT = 0.05   # seconds: the first backoff cap
MAX_WAIT = 2.0      # seconds: the largest single wait


def backoff_delay(failures: int, first: float = FIRST_WAIT, max_wait: float = MAX_WAIT) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (1, 2, …): the policy above,
    for loops that cannot be a tenacity block (a resumable upload keeps its own state)."""
    base = min(max_wait, first * 2 ** (max(1, failures) - 1))
    return base / 2 + random.uniform(0, base / 2)


class EqualJitter:
    """:func:`backoff_delay` as a tenacity wait (any callable of the retry state)."""

    def __init__(self, first: float = FIRST_WAIT, max_wait: float = MAX_WAIT) -> None:
        self.first = first
        self.max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return backoff_delay(retry_state.attempt_number, self.first, self.max_wait)


def retrying(retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception, *,
             deadline: float = float("inf"), attempts: int | None = None,
             when: Callable[[BaseException], bool] | None = None, first: float = FIRST_WAIT,
             max_wait: float = MAX_WAIT, sleep: Callable[[float], None] = time.sleep,
             before_sleep: Callable[[tenacity.RetryCallState], None] | None = None) -> tenacity.Retrying:
    """Retry while the block raises ``retry_on`` (and ``when(exc)`` is true, when given), for at
    most ``deadline`` seconds in total and ``attempts`` tries; then the last exception is
    re-raised unchanged. ``before_sleep`` sees each retry (for a log line)."""
    import tenacity

    stop = tenacity.stop_after_delay(deadline)
    if attempts is not None:
        stop = stop | tenacity.stop_after_attempt(max(1, attempts))
    retry = tenacity.retry_if_exception_type(retry_on)
    if when is not None:
        retry = retry & tenacity.retry_if_exception(when)
    return tenacity.Retrying(retry=retry, wait=EqualJitter(first, max_wait), stop=stop, sleep=sleep,
                             before_sleep=before_sleep, reraise=True)


def call(fn: Callable[[], T], retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception, *,
         deadline: float = float("inf"), attempts: int | None = None, first: float = FIRST_WAIT,
         max_wait: float = MAX_WAIT, sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``'s result, retried as by :func:`retrying` (same waits, attempts and deadline; the
    last exception re-raised unchanged). The first try runs without tenacity; after it fails, the
    first wait is taken here and the remaining tries run under :func:`retrying` with ``first``
    doubled, which continues the schedule: ``backoff_delay(n, 2 * first) == backoff_delay(n + 1, first)``."""
    start = time.monotonic()
    try:
        return fn()
    except retry_on:
        if (attempts is not None and attempts <= 1) or time.monotonic() - start >= deadline:
            raise
    sleep(backoff_delay(1, first, max_wait))
    left = deadline - (time.monotonic() - start)
    for attempt in retrying(retry_on, deadline=left, attempts=None if attempts is None else attempts - 1,
                            first=first * 2, max_wait=max_wait, sleep=sleep):
        with attempt:
            return fn()
    raise AssertionError("unreachable: retrying re-raises the last exception")


def poll(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25,
         first: float = 0.02, describe: Callable[[], str] | None = None,
         on_wait: Callable[[float], None] | None = None) -> T:
    """``check()``'s first truthy result, trying for ``timeout`` seconds: waits double from
    ``first`` up to ``interval`` seconds, the last one cut so a check runs at the deadline;
    ``on_wait(seconds)`` is told each wait (for progress lines). Raises TimeoutExceeded(``what``,
    …) with ``describe()`` appended when given. Exceptions from ``check`` propagate (a server
    that died is not worth waiting for)."""
    import tenacity

    deadline = time.monotonic() + timeout
    grow = tenacity.wait_exponential(multiplier=first, max=interval)

    def wait(state: tenacity.RetryCallState) -> float:
        return min(grow(state), max(deadline - time.monotonic(), 0.01))

    waiter = tenacity.Retrying(retry=tenacity.retry_if_result(lambda r: not r), wait=wait,
                               stop=tenacity.stop_after_delay(timeout), reraise=True,
                               before_sleep=(lambda s: on_wait(s.next_action.sleep)) if on_wait else None)
    try:
        return waiter(check)
    except tenacity.RetryError:
        extra = f" ({describe()})" if describe else ""
        raise TimeoutExceeded(what, f"not ready after {timeout:g}s{extra}") from None
