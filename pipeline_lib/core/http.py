"""The one HTTP session factory: retries by urllib3's ``Retry``, timeouts always, one User-Agent.

Policy (defined once, here):

- Retried: connection failures, and the answers 429, 502, 503, 504 — up to ``total`` times with
  exponential backoff ``backoff * 2**(n-1)`` seconds plus up to ``backoff`` seconds of random
  jitter, capped at ``backoff_max`` (urllib3 ``Retry``). A ``Retry-After`` header (RFC 9110
  §10.2.3, seconds or HTTP date) is honoured instead of the backoff; one longer than
  ``retry_after_max`` is not waited for: the answer is returned at once, so the caller fails
  fast with a typed error.
- Methods: the idempotent ones (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE) are retried on
  every case above. POST and PATCH only where the request cannot have been processed: a
  connection that was never made, or a 429 answer (rate limited: rejected before processing).
- Timeouts: every request gets ``timeout`` (connect, read) seconds unless it passes its own.
- ``User-Agent: gantry/<version>``.

:func:`check` turns a non-2xx answer into the typed error of
:func:`pipeline_lib.core.errors.error_for_status`; :func:`send` also maps transport failures
(connection refused: Unavailable; timeout: TimeoutExceeded). Messages name the method, path and
status, never credentials or query strings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from pipeline_lib import __version__

from .errors import TimeoutExceeded, Unavailable, error_for_status

USER_AGENT = f"gantry/{__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
NOT_PROCESSED = frozenset({429})   # answers after which a POST/PATCH may be sent again
TOTAL = 4                          # retries after the first attempt
BACKOFF = 0.5                      # seconds: first backoff step, and the jitter's range
BACKOFF_MAX = 30.0                 # seconds: the longest backoff wait
RETRY_AFTER_MAX = 120.0            # seconds: the longest Retry-After honoured
TIMEOUT = (10.0, 60.0)             # seconds: (connect, read)


class GantryRetry(Retry):
    """urllib3 ``Retry`` with gantry's rules for non-idempotent methods and long Retry-After.

    ``sleep`` is the function waits go through (tests pass a recorder instead of waiting).
    """

    def __init__(self, *args: Any, sleep: Callable[[float], None] = time.sleep,
                 give_up_after: float = RETRY_AFTER_MAX, retry_after_statuses: Collection[int] = (),
                 not_processed: Collection[int] = NOT_PROCESSED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = sleep
        self.give_up_after = give_up_after
        self.not_processed = frozenset(not_processed)
        self.retry_after_statuses = frozenset(retry_after_statuses)
        if self.retry_after_statuses:   # statuses retried only when they carry Retry-After
            self.RETRY_AFTER_STATUS_CODES = Retry.RETRY_AFTER_STATUS_CODES | self.retry_after_statuses

    def new(self, **kw: Any) -> GantryRetry:
        fresh = super().new(**kw)
        fresh._sleep = self._sleep
        fresh.give_up_after = self.give_up_after
        fresh.not_processed = self.not_processed
        fresh.retry_after_statuses = self.retry_after_statuses
        fresh.RETRY_AFTER_STATUS_CODES = self.RETRY_AFTER_STATUS_CODES
        return fresh

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> GantryRetry:
        unsafe = method is not None and method.upper() not in IDEMPOTENT
        if response is not None:
            if unsafe and response.status not in self.not_processed:
                raise MaxRetryError(_pool, url, ResponseError(f"{method} not retried after HTTP {response.status}"))
            after = self.get_retry_after(response)
            if after is not None and after > self.give_up_after:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {after:.0f}s is too long"))
        if error is not None and unsafe and not isinstance(error, ConnectTimeoutError):
            raise error
        return super().increment(method, url, response=response, error=error, _pool=_pool,
                                 _stacktrace=_stacktrace)

    def sleep_for_retry(self, response: Any) -> bool:
        after = self.get_retry_after(response)
        if after:
            self._sleep(after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self._sleep(backoff)


def retry_policy(*, total: int = TOTAL, backoff: float = BACKOFF, backoff_max: float = BACKOFF_MAX,
                 statuses: Collection[int] = RETRY_STATUSES, methods: Collection[str] | None = None,
                 retry_after_max: float = RETRY_AFTER_MAX, retry_after_statuses: Collection[int] = (),
                 not_processed: Collection[int] = NOT_PROCESSED, sleep: Callable[[float], None] = time.sleep,
                 cls: type[GantryRetry] | None = None) -> GantryRetry:
    """The policy of the module docstring; ``methods`` defaults to the idempotent ones plus POST
    and PATCH (which :class:`GantryRetry` resends only when they cannot have been processed)."""
    retry = (cls or GantryRetry)(total=total, connect=total, read=total, status=total, other=0, redirect=5,
                        allowed_methods=frozenset(methods or IDEMPOTENT | {"POST", "PATCH"}),
                        status_forcelist=frozenset(statuses), backoff_factor=backoff, backoff_jitter=backoff,
                        backoff_max=backoff_max, respect_retry_after_header=True, raise_on_status=False,
                        raise_on_redirect=False, sleep=sleep, give_up_after=retry_after_max,
                        retry_after_statuses=retry_after_statuses, not_processed=not_processed)
    return retry


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that fills in the default timeout when a call gives none."""

    def __init__(self, timeout: float | tuple[float, float], **kwargs: Any) -> None:
        self.default_timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


def session(*, retry: Retry | None = None, timeout: float | tuple[float, float] = TIMEOUT,
            headers: Mapping[str, str] | None = None, pool_size: int = 10) -> requests.Session:
    """A ``requests.Session`` with :func:`retry_policy` (or ``retry``), default timeouts and
    gantry's User-Agent on http:// and https://. Close it (or use ``with``) when done."""
    s = requests.Session()
    adapter = _TimeoutAdapter(timeout, max_retries=retry if retry is not None else retry_policy(),
                              pool_connections=pool_size, pool_maxsize=pool_size)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    if headers:
        s.headers.update(headers)
    return s


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0] or "/"


def check(resp: requests.Response, where: str, ok: Iterable[int] = (), detail: str | None = None) -> requests.Response:
    """``resp`` when its status is 2xx or in ``ok``; else the typed error for its status:
    ``<where>: HTTP <status>: <detail or reason>``."""
    if 200 <= resp.status_code < 300 or resp.status_code in tuple(ok):
        return resp
    raise error_for_status(resp.status_code, where,
                           f"HTTP {resp.status_code}: {detail or resp.reason or 'error'}")


def _timed_out(exc: requests.RequestException) -> bool:
    """A timeout, also when urllib3 wrapped it in MaxRetryError (requests then says ConnectionError)."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return (isinstance(reason, urllib3_exceptions.TimeoutError)
            and not isinstance(reason, urllib3_exceptions.NewConnectionError))   # refused is not slow


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def failure_reason(exc: requests.RequestException) -> str:
    """``ConnectionError (Connection refused)``: the exception's class and, when urllib3 recorded
    one, the operating system's reason (``[Errno N] text``); never the URL (it may hold secrets)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    m = _ERRNO_TEXT.search(str(reason if reason is not None else exc))
    return f"{type(exc).__name__} ({m.group(1).strip()})" if m else type(exc).__name__


def send(s: requests.Session, method: str, url: str, *, where: str, ok: Iterable[int] = (),
         secrets: Iterable[str] = (), **kwargs: Any) -> requests.Response:
    """``s.request(method, url, **kwargs)`` then :func:`check`; transport failures become
    Unavailable (connection, retries exhausted) or TimeoutExceeded, with ``secrets`` masked."""
    try:
        resp = s.request(method, url, **kwargs)
    except requests.RequestException as exc:
        if _timed_out(exc):
            raise TimeoutExceeded(where, f"{method} {_path(url)} timed out") from None
        text = f"{method} {_path(url)} failed: {failure_reason(exc)}"
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        raise Unavailable(where, text) from None
    return check(resp, where, ok)

