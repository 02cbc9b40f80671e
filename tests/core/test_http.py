"""The one HTTP session against a real local HTTP server (pytest-httpserver)."""

from __future__ import annotations

import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from pipeline_lib import __version__
from pipeline_lib.core.errors import Conflict, NotFound, TimeoutExceeded, Unauthorized, Unavailable
from pipeline_lib.core.http import retry_policy, send, session


def _fast(waits: list[float], **kw) -> object:
    return retry_policy(sleep=waits.append, **kw)


def test_retry_after_is_honoured_then_success(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v1/thing").respond_with_data("busy", status=503, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request("/v1/thing").respond_with_json({"ok": True})
    with session() as s:      # the real policy, real waiting
        start = time.monotonic()
        resp = send(s, "GET", httpserver.url_for("/v1/thing"), where="thing")
        waited = time.monotonic() - start
    assert resp.json() == {"ok": True}
    assert waited >= 1.0                       # Retry-After: 1 was waited for, not the 0 s first backoff
    assert len(httpserver.log) == 2
    assert httpserver.log[0][0].headers["User-Agent"] == f"gantry/{__version__}"


def test_503s_are_retried_then_surface_as_unavailable(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("down", status=503)
    waits: list[float] = []
    with session(retry=_fast(waits, total=3)) as s, pytest.raises(Unavailable) as info:
        send(s, "GET", httpserver.url_for("/down"), where="svc")
    assert len(httpserver.log) == 4            # the first attempt and 3 retries
    assert len(waits) == 2 and all(w > 0 for w in waits)   # exponential backoff with jitter
    assert str(info.value) == "svc: HTTP 503: SERVICE UNAVAILABLE"
    assert info.value.exit_code == 2


def test_post_is_retried_only_when_not_processed(httpserver: HTTPServer) -> None:
    waits: list[float] = []
    httpserver.expect_ordered_request("/items", method="POST").respond_with_data("", status=502)
    with session(retry=_fast(waits)) as s, pytest.raises(Unavailable):
        send(s, "POST", httpserver.url_for("/items"), where="items", json={"a": 1})
    assert len(httpserver.log) == 1            # a 502 after a POST may have created the item
    httpserver.clear()
    httpserver.expect_ordered_request("/items", method="POST").respond_with_data(
        "", status=429, headers={"Retry-After": "2"})
    httpserver.expect_ordered_request("/items", method="POST").respond_with_json({"id": 1}, status=201)
    with session(retry=_fast(waits)) as s:
        assert send(s, "POST", httpserver.url_for("/items"), where="items", json={"a": 1}).json() == {"id": 1}
    assert waits == [2.0]                      # 429: rejected unprocessed, resent after Retry-After


def test_a_retry_after_beyond_the_limit_fails_fast(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/slow").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    waits: list[float] = []
    with session(retry=_fast(waits, retry_after_max=60)) as s, pytest.raises(Unavailable, match="HTTP 429"):
        send(s, "GET", httpserver.url_for("/slow"), where="slow")
    assert waits == [] and len(httpserver.log) == 1


@pytest.mark.parametrize("status,kind", [(401, Unauthorized), (403, Unauthorized), (404, NotFound),
                                         (409, Conflict), (422, Conflict)])
def test_client_errors_are_typed_and_not_retried(httpserver: HTTPServer, status: int, kind: type) -> None:
    httpserver.expect_request("/x").respond_with_data("no", status=status)
    with session(retry=_fast([])) as s, pytest.raises(kind):
        send(s, "GET", httpserver.url_for("/x"), where="x")
    assert len(httpserver.log) == 1


def test_every_request_has_a_timeout(httpserver: HTTPServer) -> None:
    def slow(_request):  # type: ignore[no-untyped-def]
        time.sleep(1.5)
        return Response("late")
    httpserver.expect_request("/hang").respond_with_handler(slow)
    with session(retry=_fast([], total=0), timeout=(2, 0.3)) as s, pytest.raises(TimeoutExceeded):
        send(s, "GET", httpserver.url_for("/hang"), where="hang")


def test_connection_refused_is_unavailable() -> None:
    with session(retry=_fast([], total=1)) as s, pytest.raises(Unavailable, match="GET /v2/ failed"):
        send(s, "GET", "http://127.0.0.1:9/v2/?token=s3cr3t", where="registry")
