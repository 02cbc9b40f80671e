"""The one retry policy for work that is not an HTTP request (HTTP retries: :mod:`.http`).

Built on tenacity (https://tenacity.readthedocs.io): "full jitter" exponential backoff (a wait
drawn uniformly from ``[0, min(max_wait, first * 2**n)]``, as AWS's "Exponential Backoff And
Jitter" recommends) until a deadline in seconds. Used for git pushes that lose a race to another
writer, and for polling waits (a server becoming ready, a port becoming free).

- :func:`retrying` gives a ``tenacity.Retrying`` to iterate (``for attempt in retrying(...):
  with attempt: ...``); after the deadline the last exception is re-raised unchanged.
- :func:`poll` calls ``check()`` until it returns a truthy value, or raises
  :class:`~pipeline_lib.core.errors.TimeoutExceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from .errors import TimeoutExceeded

T = TypeVar("T")

FIRST_WAIT = 0.05   # seconds: the first backoff cap
MAX_WAIT = 2.0      # seconds: the largest single wait


def retrying(retry_on: type[BaseException] | tuple[type[BaseException], ...], *, deadline: float,
             attempts: int | None = None, first: float = FIRST_WAIT, max_wait: float = MAX_WAIT,
             sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
    """Retry while the block raises ``retry_on``, for at most ``deadline`` seconds in total
    (and at most ``attempts`` tries when given); then the last exception is re-raised."""
    stop = tenacity.stop_after_delay(deadline)
    if attempts is not None:
        stop = stop | tenacity.stop_after_attempt(max(1, attempts))
    return tenacity.Retrying(retry=tenacity.retry_if_exception_type(retry_on),
                             wait=tenacity.wait_random_exponential(multiplier=first, max=max_wait),
                             stop=stop, sleep=sleep, reraise=True)


def poll(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25,
         first: float = 0.02, describe: Callable[[], str] | None = None) -> T:
    """``check()``'s first truthy result, trying for ``timeout`` seconds (waits grow from ``first``
    to ``interval``); raises TimeoutExceeded(``what``, …) with ``describe()`` appended when given.
    Exceptions from ``check`` propagate (a server that died is not worth waiting for)."""
    waiter = tenacity.Retrying(retry=tenacity.retry_if_result(lambda r: not r),
                               wait=tenacity.wait_exponential(multiplier=first, max=interval),
                               stop=tenacity.stop_after_delay(timeout), reraise=True)
    try:
        return waiter(check)
    except tenacity.RetryError:
        extra = f" ({describe()})" if describe else ""
        raise TimeoutExceeded(what, f"not ready after {timeout:g}s{extra}") from None
