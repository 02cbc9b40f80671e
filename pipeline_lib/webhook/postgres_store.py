"""The trigger store for replicas: PostgreSQL (RDS in prod) through psycopg 3.

Same semantics as :mod:`.sqlite_store` (see :mod:`.store`): a claim is one transaction of
upserts; :meth:`PostgresStore.acquire` takes due rows with ``SELECT … FOR UPDATE SKIP LOCKED``
so two replicas never take the same row, and a row whose owner died is taken over when its
lease ends. One connection per thread; a broken connection is dropped and opened again on the
next call, and the failure is a :class:`GantryError` (the HTTP path answers 503, GitHub shows
the delivery as failed and it can be redelivered).
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg

from pipeline_lib.core.errors import GantryError
from .store import (DEFAULT_TTL, EXPIRE, FINISH, NOW, PENDING_ROWS, PROBE, PROBE_TIMEOUT, RESCHEDULE, RETRY,
                    SCHEMA, STATES, STATS, UPSERT, ClaimResult, PendingStats, TriggerRow, TriggerStore, encode_params, row_from, sql)

# The store's clock: the server's now() (the transaction's start), epoch seconds, microseconds.
NOW_SQL = "extract(epoch from now())::double precision"
_UPSERT = sql(UPSERT, "%s", NOW_SQL)
_FINISH = sql(FINISH, "%s", NOW_SQL)
_RESCHEDULE = sql(RESCHEDULE, "%s", NOW_SQL)
_RETRY = sql(RETRY, "%s", NOW_SQL)
_EXPIRE = sql(EXPIRE, "%s", NOW_SQL)
_STATES = sql(STATES, "%s", NOW_SQL)
_STATS = sql(STATS, "%s", NOW_SQL)
_NOW = sql(NOW, "%s", NOW_SQL)
_PROBE = sql(PROBE, "%s", NOW_SQL)
_ACQUIRE = sql(
    "UPDATE webhook_triggers t SET state = 'firing', due = {now} + %s, attempts = t.attempts + 1, owner = %s,"
    " updated = {now}"
    " FROM (SELECT delivery, job, state FROM webhook_triggers WHERE state IN ('pending', 'firing') AND due <= {now}"
    "       ORDER BY due LIMIT %s FOR UPDATE SKIP LOCKED) s"
    " WHERE t.delivery = s.delivery AND t.job = s.job"
    " RETURNING t.delivery, t.job, t.repo, t.params, s.state, t.accepted, t.attempts, {now} - t.accepted",
    "%s", NOW_SQL)
_SCHEMA_LOCK = 0x67616E747279  # pg_advisory_xact_lock key: replicas starting together create the table once


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":", 1)[0] + ":***@" + netloc[1]))


class PostgresStore(TriggerStore):
    inline = False

    def __init__(self, url: str, ttl: float = DEFAULT_TTL, connect_timeout: float = 5.0) -> None:
        super().__init__(ttl)
        self._dsn = self.location = url
        self.url = redact(url)
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._all_lock = threading.Lock()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in SCHEMA:
                cur.execute(statement)
        self.expire()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=int(self._connect_timeout),
                                       application_name="gantry-webhook")
            except psycopg.Error as exc:
                raise GantryError(self.url, f"cannot connect to the trigger store: {_short(exc)}") from None
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    class _Tx:
        def __init__(self, store: "PostgresStore") -> None:
            self.store = store

        def __enter__(self):
            self.conn = self.store._conn()
            self.tx = self.conn.transaction()
            try:
                self.tx.__enter__()
            except psycopg.Error as exc:
                self.store._drop()
                raise GantryError(self.store.url, f"trigger store: {_short(exc)}") from None
            return self.conn.cursor()

        def __exit__(self, kind, exc, tb):
            try:
                self.tx.__exit__(kind, exc, tb)
            except psycopg.Error as err:
                self.store._drop()
                raise GantryError(self.store.url, f"trigger store: {_short(err)}") from None
            if isinstance(exc, psycopg.Error):
                if isinstance(exc, psycopg.OperationalError):
                    self.store._drop()
                raise GantryError(self.store.url, f"trigger store: {_short(exc)}") from None
            return False

    def _tx(self) -> "_Tx":
        return self._Tx(self)

    def now(self) -> float:
        return float(self._query(_NOW)[0][0])

    def claim(self, delivery: str, repo: str, triggers: list[tuple[str, dict[str, str]]]) -> ClaimResult:
        with self._tx() as cur:
            queued = []
            for job, params in triggers:
                cur.execute(_UPSERT, (delivery, job, repo, encode_params(params)))
                if cur.fetchall():
                    queued.append(job)
            already = {}
            if len(queued) < len(triggers):
                cur.execute(_STATES, (delivery,))
                already = {job: state for job, state, _ in cur.fetchall() if job not in queued}
        return ClaimResult(queued, already)

    def acquire(self, owner: str, limit: int, lease: float) -> list[TriggerRow]:
        if limit <= 0:
            return []
        with self._tx() as cur:
            cur.execute(_ACQUIRE, (lease, owner, limit))
            rows = cur.fetchall()
        return [row_from(*r) for r in rows]

    def _write(self, statement: str, args: tuple) -> int:
        with self._tx() as cur:
            cur.execute(statement, args)
            return cur.rowcount

    def _finish(self, row: TriggerRow, state: str, detail: str) -> bool:
        return self._write(_FINISH, (state, detail[:2000], row.delivery, row.job, row.attempts)) == 1

    def reschedule(self, row: TriggerRow, due: float, detail: str) -> bool:
        return self._write(_RESCHEDULE, (due, detail[:2000], row.delivery, row.job, row.attempts)) == 1

    def retry_later(self, row: TriggerRow, delay: float, detail: str, in_doubt: bool = False) -> bool:
        return self._write(_RETRY, ("firing" if in_doubt else "pending", delay, detail[:2000], row.delivery,
                                    row.job, row.attempts)) == 1

    def _query(self, statement: str, args: tuple = ()) -> list[tuple]:
        with self._tx() as cur:
            cur.execute(statement, args)
            return cur.fetchall()

    def stats(self) -> PendingStats:
        count, age = self._query(_STATS)[0]
        return self._stats_from(count, age)

    def check_writable(self, timeout: float = PROBE_TIMEOUT) -> None:
        """Fails on a read-only server (a failed-over RDS primary now a replica, the reader
        endpoint, ``default_transaction_read_only``), a lock or a server slower than ``timeout``."""
        ms = max(1, int(timeout * 1000))
        with self._tx() as cur:
            cur.execute(f"SET LOCAL statement_timeout = {ms}")
            cur.execute(f"SET LOCAL lock_timeout = {ms}")
            cur.execute(_PROBE, (socket.gethostname(),))

    def states(self, delivery: str) -> dict[str, tuple[str, str]]:
        return {job: (state, detail) for job, state, detail in self._query(_STATES, (delivery,))}

    def pending(self) -> list[TriggerRow]:
        return [row_from(*r) for r in self._query(PENDING_ROWS)]

    def expire(self) -> int:
        return self._write(_EXPIRE, (self.ttl,))

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except psycopg.Error:
                pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:300]}" if text else exc.__class__.__name__
