"""The default trigger store: one SQLite file (WAL), for a receiver on one node.

Claims and acquisitions are ``BEGIN IMMEDIATE`` transactions, so two processes on the node (the
server and its trigger process) never hand out one row twice. Semantics: :mod:`.store`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

from pipeline_lib.core.errors import GantryError
from .store import (DEFAULT_TTL, EXPIRE, FINISH, NOW, PENDING_ROWS, PROBE, PROBE_TIMEOUT, RESCHEDULE, RETRY,
                    SCHEMA, STATES, STATS, UPSERT, ClaimResult, PendingStats, TriggerRow, TriggerStore, encode_params, row_from, sql)

BUSY_WAIT = 10.0  # seconds a statement waits for the other process's write lock
# The store's clock: SQLite's 'now' (this machine's clock, millisecond resolution) in epoch seconds.
NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
_UPSERT = sql(UPSERT, "?", NOW_SQL)
_FINISH = sql(FINISH, "?", NOW_SQL)
_RESCHEDULE = sql(RESCHEDULE, "?", NOW_SQL)
_RETRY = sql(RETRY, "?", NOW_SQL)
_EXPIRE = sql(EXPIRE, "?", NOW_SQL)
_STATES = sql(STATES, "?", NOW_SQL)
_STATS = sql(STATS, "?", NOW_SQL)
_NOW = sql(NOW, "?", NOW_SQL)
_PROBE = sql(PROBE, "?", NOW_SQL)
_DUE = ("SELECT delivery, job, repo, params, state, accepted, attempts, ? - accepted FROM webhook_triggers"
        " WHERE state IN ('pending', 'firing') AND due <= ? ORDER BY due LIMIT ?")
_ANY_DUE = f"SELECT 1 FROM webhook_triggers WHERE state IN ('pending', 'firing') AND due <= {NOW_SQL} LIMIT 1"
_TAKE = "UPDATE webhook_triggers SET state = 'firing', due = ?, attempts = attempts + 1, owner = ?, updated = ?" \
        " WHERE delivery = ? AND job = ?"


class SQLiteStore(TriggerStore):
    """Thread-safe: one connection behind a lock; ~0.1 ms per claim (no fsync per commit)."""

    inline = True

    def __init__(self, path: str | Path, ttl: float = DEFAULT_TTL) -> None:
        super().__init__(ttl)
        self.path = str(path)
        self.url = self.location = self.path
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=0")  # waits for the other process: _retry_busy
            for statement in SCHEMA:
                self._db.execute(statement)
            self._import_legacy()
        except (sqlite3.Error, OSError) as exc:
            raise GantryError(self.path, f"cannot open the trigger store: {exc}") from None
        self.expire()

    def _import_legacy(self) -> None:
        """Files written before per-(delivery, job) rows kept pending triggers in ``triggers``
        (id, delivery, job, params, accepted): they become pending rows, so an upgrade loses none."""
        legacy = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'triggers'").fetchone()
        if legacy is None:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO webhook_triggers (delivery, job, repo, params, state, accepted, due, updated)"
                f" SELECT delivery, job, '', params, 'pending', accepted, {NOW_SQL}, {NOW_SQL} FROM triggers")
            self._db.execute("DROP TABLE triggers")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _retry_busy(self, fn):
        """Run ``fn`` (one statement or one BEGIN IMMEDIATE transaction), retrying while the
        other process holds the write lock. SQLite's own busy handler sleeps 1, 2, 5, 10, 15 …
        ms; the lock is held for ~0.1 ms here, so polling every 0.1 ms keeps the p99 low."""
        deadline = time.monotonic() + BUSY_WAIT
        delay = 0.0001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise GantryError(self.path, f"trigger store: {exc}") from None
                time.sleep(delay)
                delay = min(0.002, delay * 1.5)
            except sqlite3.Error as exc:
                raise GantryError(self.path, f"trigger store: {exc}") from None

    def _transaction(self, body):
        def once():
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                result = body(cur)
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            return result

        with self._lock:
            return self._retry_busy(once)

    def _execute(self, statement: str, args: tuple = ()) -> tuple[list[tuple], int]:
        def once():
            cur = self._db.execute(statement, args)
            return cur.fetchall(), cur.rowcount

        with self._lock:
            return self._retry_busy(once)

    def now(self) -> float:
        return float(self._execute(_NOW)[0][0][0])

    def claim(self, delivery: str, repo: str, triggers: list[tuple[str, dict[str, str]]]) -> ClaimResult:
        def body(cur):
            queued = []
            for job, params in triggers:
                if cur.execute(_UPSERT, (delivery, job, repo, encode_params(params))).fetchall():
                    queued.append(job)
            already = {}
            if len(queued) < len(triggers):
                already = {job: state for job, state, _ in cur.execute(_STATES, (delivery,)) if job not in queued}
            return ClaimResult(queued, already)

        return self._transaction(body)

    def acquire(self, owner: str, limit: int, lease: float) -> list[TriggerRow]:
        if limit <= 0:
            return []
        # A read needs no lock in WAL mode: take the write lock only when something is due, so an
        # idle dispatcher woken for every claim does not queue behind (or ahead of) the server.
        if not self._execute(_ANY_DUE)[0]:
            return []

        def body(cur):
            # One reading of the store's clock for the whole transaction (under the write lock).
            [(now,)] = cur.execute(_NOW).fetchall()
            rows = cur.execute(_DUE, (now, now, limit)).fetchall()
            for r in rows:
                cur.execute(_TAKE, (now + lease, owner, now, r[0], r[1]))
            return [row_from(d, j, repo, p, state, acc, att + 1, age)
                    for d, j, repo, p, state, acc, att, age in rows]

        return self._transaction(body)

    def _finish(self, row: TriggerRow, state: str, detail: str) -> bool:
        return self._execute(_FINISH, (state, detail[:2000], row.delivery, row.job, row.attempts))[1] == 1

    def reschedule(self, row: TriggerRow, due: float, detail: str) -> bool:
        return self._execute(_RESCHEDULE, (due, detail[:2000], row.delivery, row.job, row.attempts))[1] == 1

    def retry_later(self, row: TriggerRow, delay: float, detail: str, in_doubt: bool = False) -> bool:
        return self._execute(_RETRY, ("firing" if in_doubt else "pending", delay, detail[:2000], row.delivery,
                                      row.job, row.attempts))[1] == 1

    def stats(self) -> PendingStats:
        count, age = self._execute(_STATS)[0][0]
        return self._stats_from(count, age)

    def check_writable(self, timeout: float = PROBE_TIMEOUT) -> None:
        """A write through a fresh connection to the file by its path (``mode=rw``: never creates
        it): it fails when the file is gone or replaced, read-only, on a full disk, or another
        process holds the write lock for ``timeout`` seconds — cases the server's open connection
        may not notice until it loses data or stalls. Never holds the server connection's lock."""
        if self.path == ":memory:":
            self._execute(_PROBE, (socket.gethostname(),))
            return
        try:
            db = sqlite3.connect(f"file:{quote(os.path.abspath(self.path))}?mode=rw", uri=True, timeout=timeout,
                                 isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(_PROBE, (socket.gethostname(),))
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            raise GantryError(self.path, f"the trigger store cannot be written: {exc}") from None

    def states(self, delivery: str) -> dict[str, tuple[str, str]]:
        return {job: (state, detail) for job, state, detail in self._execute(_STATES, (delivery,))[0]}

    def pending(self) -> list[TriggerRow]:
        return [row_from(*r) for r in self._execute(PENDING_ROWS)[0]]

    def expire(self) -> int:
        return self._execute(_EXPIRE, (self.ttl,))[1]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def leave_upkeep_to_others(self) -> None:
        """No automatic checkpoint on this connection: a commit that checkpoints copies the WAL
        into the database and fsyncs it (milliseconds to tens of ms on a busy disk), which on the
        HTTP path stalls every delivery in flight. The trigger process's connection, which
        commits after every claim's triggers, keeps checkpointing (SQLite's default 1000 pages)."""
        self._execute("PRAGMA wal_autocheckpoint=0")
