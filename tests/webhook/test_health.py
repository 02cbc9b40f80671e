"""Issue 20 #14: health tells the truth. ``/readyz`` and ``/healthz`` answer 503 while the store
cannot take a write (a SQLite file locked by another process or deleted, a read-only or stopped
PostgreSQL) and 200 again once it can; a real ``gantry webhook serve`` closes 1 000 idle
connections (and a trickling one) after ``--request-timeout`` while answering others promptly."""

from __future__ import annotations

import http.client
import json
import os
import resource
import selectors
import socket
import sqlite3
import time
import urllib.request

import pytest
from starlette.testclient import TestClient

from pipeline_lib.webhook.app import PROBE_EVERY, create_app
from tests.support.postgres import LocalPostgres, postgres_bin

from .conftest import SHA_A, commit, headers_for, make_receiver, push
from .test_serve import Served

IDLE = 1000
REQUEST_TIMEOUT = 3.0


def _status(client, path: str) -> tuple[int, str]:
    resp = client.get(path)
    return resp.status_code, resp.json()["status"]


def _after_probe_interval() -> None:
    time.sleep(PROBE_EVERY + 0.2)


def test_a_sqlite_store_that_cannot_be_written_is_not_ready(test_catalog, jenkins, tmp_path) -> None:
    db = tmp_path / "deliveries.sqlite3"
    r = make_receiver(test_catalog, jenkins, db)
    with TestClient(create_app(r)) as c:
        assert _status(c, "/readyz") == (200, "ready")
        assert _status(c, "/healthz")[0] == 200
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock (reads still work: WAL)
        try:
            _after_probe_interval()
            status, why = _status(c, "/readyz")
            assert status == 503 and "not writable" in why and "locked" in why, why
            status, why = _status(c, "/healthz")
            assert status == 503 and "not writable" in why
        finally:
            other.execute("ROLLBACK")
            other.close()
        _after_probe_interval()
        assert _status(c, "/readyz") == (200, "ready")
        os.remove(db)  # the file is gone: the open connection would write to a deleted inode
        _after_probe_interval()
        status, why = _status(c, "/readyz")
        assert status == 503 and "not writable" in why, why
        assert _status(c, "/healthz")[0] == 503
    r.store.close()


def test_a_read_only_postgresql_is_not_ready(test_catalog, jenkins, local_postgres) -> None:
    import psycopg

    r = make_receiver(test_catalog, jenkins, local_postgres.new_database())
    with TestClient(create_app(r)) as c, psycopg.connect(local_postgres.url, autocommit=True) as admin:
        assert _status(c, "/readyz") == (200, "ready")
        # What a failed-over RDS primary (now a reader) does: reads work, writes are refused.
        admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        admin.execute("SELECT pg_reload_conf()")
        try:
            _after_probe_interval()
            status, why = _status(c, "/readyz")
            assert status == 503 and "read-only" in why, why
            status, why = _status(c, "/healthz")  # the pending-trigger counts are still readable
            assert status == 503 and "not writable" in why
        finally:
            admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
            admin.execute("SELECT pg_reload_conf()")
        _after_probe_interval()
        assert _status(c, "/readyz") == (200, "ready")
    r.store.close()


def test_a_stopped_postgresql_is_not_ready(test_catalog, jenkins) -> None:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (`make deps` installs Debian's postgresql)")
    with LocalPostgres() as pg:
        r = make_receiver(test_catalog, jenkins, pg.new_database())
        with TestClient(create_app(r)) as c:
            assert _status(c, "/readyz") == (200, "ready")
            pg.stop()
            _after_probe_interval()
            status, why = _status(c, "/readyz")
            assert status == 503 and "not writable" in why, why
            assert _status(c, "/healthz")[0] == 503
        r.store.close()


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"ulimit -n is {soft} (hard {hard}); {need} file descriptors needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def test_idle_connections_are_closed_and_hold_nothing(test_catalog_path, jenkins, tmp_path) -> None:
    _raise_fd_limit(IDLE + 512)  # this process's sockets; the server inherits the limit
    served = Served(test_catalog_path, tmp_path / "db.sqlite3", jenkins.url,
                    "--request-timeout", str(REQUEST_TIMEOUT), "--keep-alive-timeout", "1")
    idle: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", served.port), timeout=5))
        trickle = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and a header every 0.5 s
        opened = time.monotonic()

        # A normal client is answered promptly while the idle ones are open.
        started = time.monotonic()
        with urllib.request.urlopen(served.url + "/readyz", timeout=5) as resp:
            assert resp.status == 200
        body = push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")])
        raw = json.dumps(body).encode()
        req = urllib.request.Request(served.url + "/github-webhook/", data=raw, headers=headers_for("push", raw),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 202
        assert time.monotonic() - started < 1.0

        # A keep-alive client idle after its response is closed after --keep-alive-timeout.
        keep = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
        keep.request("GET", "/readyz")
        answer = keep.getresponse()
        assert answer.status == 200 and answer.read()

        # Every idle connection is closed by the server once --request-timeout has passed.
        sel = selectors.DefaultSelector()
        for s in idle:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed_at: dict[int, float] = {}
        trickled = 0
        next_trickle = time.monotonic() + 0.5
        deadline = opened + REQUEST_TIMEOUT + 5
        while len(closed_at) < IDLE and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(1)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                assert data == b"", data
                closed_at[key.fileobj.fileno()] = time.monotonic()
                sel.unregister(key.fileobj)
            if time.monotonic() > next_trickle:
                try:
                    trickle.sendall(f"X-Slow-{trickled}: 1\r\n".encode())
                    trickled += 1
                except OSError:
                    pass
                next_trickle += 0.5
        assert len(closed_at) == IDLE, f"{IDLE - len(closed_at)} idle connections still open"
        first = min(closed_at.values()) - t0
        assert first >= REQUEST_TIMEOUT - 0.5, f"closed after {first:.2f}s, before the timeout"
        assert max(closed_at.values()) - opened < REQUEST_TIMEOUT + 3
        assert trickled >= 4  # it kept sending, and was cut off anyway
        trickle.settimeout(2)
        assert trickle.recv(1) == b""
        keep.sock.settimeout(2)
        assert keep.sock.recv(1) == b""  # closed by the keep-alive timeout

        with urllib.request.urlopen(served.url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        deadline = time.monotonic() + 10
        while not jenkins.state.builds and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b.job for b in jenkins.state.builds] == ["dev/hello-world"]
    finally:
        for s in idle:
            s.close()
        served.stop()
    assert "Traceback" not in served.output, served.output[-3000:]
