"""Where deliveries' triggers live: one row per (delivery, job), shared by every replica.

A row is ``pending`` (due at ``due``), ``firing`` (a replica owns it until ``due``, its lease),
``started`` (Jenkins queued the build; ``detail`` is the queue item) or ``failed`` (a final
Jenkins answer, or the retry horizon passed; ``detail`` is the reason)::

    claim ──► pending ──acquire──► firing ──► started
               ▲   ▲                 │  └───► failed ──(redelivery claims it again)──► pending
               │   └──retry later────┘
               └── lease ended (replica died): acquired again, *in doubt*

- :meth:`TriggerStore.claim` is one transaction: a (delivery, job) never seen is inserted
  pending; a failed one becomes pending again (GitHub's "Redeliver" repairs what failed);
  pending, firing and started ones are left alone (never started twice).
- :meth:`TriggerStore.acquire` hands due rows to one replica (PostgreSQL
  ``SELECT … FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``) and bumps ``attempts``, which
  fences every later update: a replica whose lease ran out cannot overwrite its successor.

Every time stored (``accepted``, ``due``, ``updated``) and every comparison with "now" is the
*store's* clock, evaluated in SQL (``{now}`` in the statements below): PostgreSQL's ``now()``,
SQLite's ``julianday('now')`` (SQLite is one node: its clock is that machine's). A replica's own
clock never sets a lease or a due time, so two replicas whose clocks disagree by more than the
lease cannot both fire one row. A row left ``firing`` with no owner after an ambiguous Jenkins
answer (:meth:`TriggerStore.retry_later` with ``in_doubt``) is acquired *in doubt* again, so
its next attempt looks the build up before posting.

Implementations: :mod:`.sqlite_store` (default; one node) and :mod:`.postgres_store` (replicas).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DEFAULT_TTL = 7 * 24 * 3600.0  # finished rows are kept this long; GitHub redelivers for 3 days
PENDING, FIRING, STARTED, FAILED = "pending", "firing", "started", "failed"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhook_triggers ("
    " delivery TEXT NOT NULL, job TEXT NOT NULL, repo TEXT NOT NULL, params TEXT NOT NULL,"
    " state TEXT NOT NULL, accepted DOUBLE PRECISION NOT NULL, due DOUBLE PRECISION NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (delivery, job))",
    "CREATE INDEX IF NOT EXISTS webhook_triggers_due ON webhook_triggers (state, due)",
    # One row per replica host, rewritten by every readiness probe: proof the store takes writes.
    "CREATE TABLE IF NOT EXISTS webhook_health (replica TEXT PRIMARY KEY, checked DOUBLE PRECISION NOT NULL)",
)
# ``{now}``: the store's clock in epoch seconds (an SQL expression, see sql()); ``{p}``: a parameter.
# One upsert per (delivery, job): new -> pending; failed -> pending again; others untouched.
UPSERT = (
    "INSERT INTO webhook_triggers (delivery, job, repo, params, state, accepted, due, attempts, owner, detail, updated)"
    " VALUES ({p}, {p}, {p}, {p}, 'pending', {now}, {now}, 0, '', '', {now})"
    " ON CONFLICT (delivery, job) DO UPDATE SET state = 'pending', repo = excluded.repo, params = excluded.params,"
    " accepted = excluded.accepted, due = excluded.due, attempts = 0, owner = '', detail = '',"
    " updated = excluded.updated WHERE webhook_triggers.state = 'failed' RETURNING job")
FENCE = " WHERE delivery = {p} AND job = {p} AND state = 'firing' AND attempts = {p}"
FINISH = "UPDATE webhook_triggers SET state = {p}, detail = {p}, updated = {now}, owner = ''" + FENCE
RESCHEDULE = "UPDATE webhook_triggers SET state = 'pending', due = {p}, detail = {p}, updated = {now}, owner = ''" + FENCE
# Due ``{p}`` seconds from now by the store's clock; state 'pending', or 'firing' (in doubt).
RETRY = "UPDATE webhook_triggers SET state = {p}, due = {now} + {p}, detail = {p}, updated = {now}, owner = ''" + FENCE
STATS = "SELECT count(*), {now} - min(accepted) FROM webhook_triggers WHERE state IN ('pending', 'firing')"
EXPIRE = "DELETE FROM webhook_triggers WHERE state IN ('started', 'failed') AND updated < {now} - {p}"
NOW = "SELECT {now}"
PROBE = ("INSERT INTO webhook_health (replica, checked) VALUES ({p}, {now})"
         " ON CONFLICT (replica) DO UPDATE SET checked = excluded.checked")
PROBE_TIMEOUT = 2.0  # seconds a write probe may wait (a lock, a slow server) before "cannot be written"
STATES = "SELECT job, state, detail FROM webhook_triggers WHERE delivery = {p} ORDER BY job"
PENDING_ROWS = ("SELECT delivery, job, repo, params, state, accepted, attempts FROM webhook_triggers"
                " WHERE state IN ('pending', 'firing') ORDER BY accepted, delivery, job")


def sql(template: str, placeholder: str, now: str = "{now}") -> str:
    """``template`` for one database: its parameter ``placeholder`` and its clock expression ``now``."""
    return template.replace("{p}", placeholder).replace("{now}", now)


@dataclass(frozen=True)
class TriggerRow:
    """One (delivery, job) handed to a replica. ``attempts`` counts acquisitions (the fence);
    ``in_doubt``: a previous owner's lease ran out mid-call, or its call got an ambiguous answer:
    Jenkins may already have the build. ``age``: seconds since it was accepted, by the store's
    clock when it was acquired (0 when not read by acquire)."""

    delivery: str
    job: str
    repo: str
    params: dict[str, str]
    accepted_at: float
    attempts: int = 0
    in_doubt: bool = False
    age: float = 0.0


@dataclass(frozen=True)
class ClaimResult:
    """``queued``: jobs that became pending now; ``already``: job -> state of the others."""

    queued: list[str] = field(default_factory=list)
    already: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingStats:
    count: int
    oldest_seconds: float  # age of the oldest pending trigger, 0 when there is none


def row_from(delivery: str, job: str, repo: str, params: str, state: str, accepted: float,
             attempts: int, age: float | None = None) -> TriggerRow:
    try:
        decoded = json.loads(params)
    except ValueError:
        decoded = {}
    return TriggerRow(delivery, job, repo, decoded if isinstance(decoded, dict) else {}, float(accepted),
                      int(attempts), state == FIRING, max(0.0, float(age)) if age is not None else 0.0)


def encode_params(params: dict[str, str]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class TriggerStore:
    """The interface both stores implement; times are epoch seconds by the store's clock (SQL)."""

    url: str  # for messages: never contains a password
    location: str  # what open_store() takes to open it again (may hold a password: never print it)
    inline: bool  # cheap enough to call on the event loop (SQLite) rather than in a thread

    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl

    def now(self) -> float:
        """The store's clock, epoch seconds (PostgreSQL ``now()``; SQLite: this machine's)."""
        raise NotImplementedError

    def claim(self, delivery: str, repo: str, triggers: list[tuple[str, dict[str, str]]]) -> ClaimResult:
        raise NotImplementedError

    def acquire(self, owner: str, limit: int, lease: float) -> list[TriggerRow]:
        raise NotImplementedError

    def mark_started(self, row: TriggerRow, detail: str) -> bool:
        return self._finish(row, STARTED, detail)

    def mark_failed(self, row: TriggerRow, reason: str) -> bool:
        return self._finish(row, FAILED, reason)

    def _finish(self, row: TriggerRow, state: str, detail: str) -> bool:
        raise NotImplementedError

    def reschedule(self, row: TriggerRow, due: float, detail: str) -> bool:
        """Pending again at ``due`` (epoch seconds by :meth:`now`); False when the lease was lost."""
        raise NotImplementedError

    def retry_later(self, row: TriggerRow, delay: float, detail: str, in_doubt: bool = False) -> bool:
        """Due again ``delay`` seconds from now by the store's clock: pending, or, ``in_doubt``
        (Jenkins may have queued it), left firing without owner so the next attempt looks it up
        first. False when this replica's lease was lost."""
        raise NotImplementedError

    def stats(self) -> PendingStats:
        raise NotImplementedError

    def check_writable(self, timeout: float = PROBE_TIMEOUT) -> None:
        """One small write (this host's row in ``webhook_health``) within ``timeout`` seconds;
        GantryError when the store cannot take it (read-only, locked, full, gone, unreachable)."""
        raise NotImplementedError

    def states(self, delivery: str) -> dict[str, tuple[str, str]]:
        """job -> (state, detail) for one delivery."""
        raise NotImplementedError

    def pending(self) -> list[TriggerRow]:
        raise NotImplementedError

    def expire(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def leave_upkeep_to_others(self) -> None:
        """This connection serves HTTP: leave slow upkeep (SQLite's WAL checkpoints, which fsync)
        to the trigger process's connection. No-op where the server does it (PostgreSQL)."""

    def _stats_from(self, count: int, age: float | None) -> PendingStats:
        return PendingStats(int(count), max(0.0, float(age)) if age is not None else 0.0)

