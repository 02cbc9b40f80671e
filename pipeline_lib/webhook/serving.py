"""uvicorn's HTTP/1.1 protocol (httptools) with a deadline for receiving each request.

uvicorn closes a keep-alive connection that stays idle *after* a response (``timeout_keep_alive``),
but never one that opens and sends nothing, nor a request trickling in a byte at a time: 1 000
such connections would stay open for good, each holding a file descriptor and a slot in any
connection limit in front of the receiver. With :func:`http_protocol`, a request must arrive
whole (headers and body) within ``request_timeout`` seconds of the connection opening or of its
first byte; otherwise the connection is closed. GitHub gives up on a delivery after 10 s, so a
request that takes longer to arrive is not one GitHub is still waiting for.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds to receive one whole request (GitHub's delivery timeout)
DEFAULT_KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open after a response


class RequestDeadlineProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` closing connections whose request does not arrive in time."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # until the first request has arrived

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a later request on a keep-alive connection

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def http_protocol(request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> type[RequestDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=…)`` with this deadline (seconds, > 0)."""
    return type("RequestDeadlineProtocol", (RequestDeadlineProtocol,), {"request_timeout": float(request_timeout)})
