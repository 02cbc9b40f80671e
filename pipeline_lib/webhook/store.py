"""Seen deliveries and pending triggers in a small SQLite file, so restarts lose neither.

A delivery id is claimed once (``INSERT``; a redelivery finds the row and is refused), and
expires after ``ttl`` seconds. Triggers are written in the same transaction as the claim and
removed when Jenkins accepted them: on restart the ones still pending are queued again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError

DEFAULT_TTL = 7 * 24 * 3600.0  # GitHub lets a delivery be redelivered for 3 days


@dataclass(frozen=True)
class PendingTrigger:
    id: int
    delivery: str
    job: str
    params: dict[str, str]
    accepted_at: float


class DeliveryStore:
    """Thread-safe; one connection, WAL journal, a commit per claim."""

    def __init__(self, path: str | Path, ttl: float = DEFAULT_TTL, clock=time.time) -> None:
        self.path = str(path)
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._claims = 0
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(
                "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, seen REAL NOT NULL,"
                " triggered INTEGER NOT NULL DEFAULT 0);"
                "CREATE INDEX IF NOT EXISTS deliveries_seen ON deliveries(seen);"
                "CREATE TABLE IF NOT EXISTS triggers (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " delivery TEXT NOT NULL, job TEXT NOT NULL, params TEXT NOT NULL, accepted REAL NOT NULL);")
        except (sqlite3.Error, OSError) as exc:
            raise GantryError(self.path, f"cannot open the delivery database: {exc}") from None
        self.expire()

    def claim(self, delivery: str, triggers: list[tuple[str, dict[str, str]]] = ()) -> list[PendingTrigger] | None:
        """Record ``delivery`` with its triggers; None if it was already seen (and not expired)."""
        now = self._clock()
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                row = cur.execute("SELECT seen FROM deliveries WHERE id = ?", (delivery,)).fetchone()
                if row is not None and row[0] >= now - self.ttl:
                    cur.execute("ROLLBACK")
                    return None
                cur.execute("INSERT OR REPLACE INTO deliveries (id, seen) VALUES (?, ?)", (delivery, now))
                pending = []
                for job, params in triggers:
                    cur.execute("INSERT INTO triggers (delivery, job, params, accepted) VALUES (?, ?, ?, ?)",
                                (delivery, job, json.dumps(params, sort_keys=True), now))
                    pending.append(PendingTrigger(cur.lastrowid, delivery, job, dict(params), now))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self._claims += 1
        if self._claims % 1000 == 0:
            self.expire()
        return pending

    def done(self, trigger: PendingTrigger) -> None:
        """Jenkins accepted the trigger."""
        with self._lock:
            self._db.execute("DELETE FROM triggers WHERE id = ?", (trigger.id,))
            self._db.execute("UPDATE deliveries SET triggered = triggered + 1 WHERE id = ?", (trigger.delivery,))

    def give_up(self, trigger: PendingTrigger) -> None:
        """Jenkins never accepted it: forget the trigger and the delivery, so a redelivery may retry."""
        with self._lock:
            self._db.execute("DELETE FROM triggers WHERE id = ?", (trigger.id,))
            left = self._db.execute("SELECT 1 FROM triggers WHERE delivery = ?", (trigger.delivery,)).fetchone()
            if left is None:
                self._db.execute("DELETE FROM deliveries WHERE id = ? AND triggered = 0", (trigger.delivery,))

    def pending(self) -> list[PendingTrigger]:
        with self._lock:
            rows = self._db.execute("SELECT id, delivery, job, params, accepted FROM triggers ORDER BY id").fetchall()
        out = []
        for rid, delivery, job, params, accepted in rows:
            try:
                out.append(PendingTrigger(rid, delivery, job, json.loads(params), accepted))
            except ValueError:
                with self._lock:
                    self._db.execute("DELETE FROM triggers WHERE id = ?", (rid,))
        return out

    def expire(self) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM deliveries WHERE seen < ?", (self._clock() - self.ttl,))
            return cur.rowcount

    def seen(self, delivery: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT seen FROM deliveries WHERE id = ?", (delivery,)).fetchone()
        return row is not None and row[0] >= self._clock() - self.ttl

    def close(self) -> None:
        with self._lock:
            self._db.close()
