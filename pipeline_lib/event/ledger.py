"""The cost ledger: what each event's stack cost, appended by the lifecycle.

File (JSON, written atomically; default ``.gantry/events/cost-ledger.json``)::

    {"version": 1, "events": [
      {"event": "spring-sale", "status": "up" | "destroyed",
       "created_at": ISO UTC, "destroyed_at": ISO UTC | null, "hours": float | null,
       "price_table": {"date": "2026-11-15", "source": "..."},
       "lines": [{"item", "quantity", "unit_price_usd_h", "hourly_usd"}],
       "hourly_usd", "snapshot_usd", "event_usd", "always_on_month_usd", "saving"}]}

``create`` opens an entry (``up``, the creation time); ``destroy`` closes the newest open entry of
the event: hours = destroyed_at - created_at; event cost = the stack's hourly cost (the price table
of :mod:`pipeline_lib.event.cost` at that date) x hours + one month of the final snapshot; the
saving is against the same stack running the whole month (730 h). Closing twice is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from .cost import (DB_STORAGE_GB, HOURS_PER_MONTH, PRICE_TABLE_DATE, PRICE_TABLE_SOURCE, SNAPSHOT_GB_MONTH,
                   stack_lines)

DEFAULT_LEDGER = Path(".gantry/events/cost-ledger.json")
VERSION = 1


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds")


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """The entries (oldest first); ``[]`` when the file does not exist; GantryError when unreadable."""
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GantryError(f"event ledger {path}", f"cannot read: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("events"), list):
        raise GantryError(f"event ledger {path}", f"not a version-{VERSION} ledger (needs 'version' and 'events')")
    return doc["events"]


def _write(path: Path, events: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"version": VERSION, "events": events}, indent=2) + "\n")


def open_event(path: Path, event: str, created_at: datetime) -> dict[str, Any]:
    """Record that ``event``'s stack exists since ``created_at`` (an open entry is reused: a
    repeated create keeps the first creation time)."""
    events = read_ledger(path)
    for entry in reversed(events):
        if entry.get("event") == event and entry.get("status") == "up":
            return entry
    entry = {"event": event, "status": "up", "created_at": _iso(created_at), "destroyed_at": None, "hours": None}
    events.append(entry)
    _write(path, events)
    return entry


@dataclass(frozen=True)
class Costed:
    """An event's cost figures (USD)."""

    hours: float
    hourly: float
    snapshot: float

    @property
    def event_cost(self) -> float:
        return self.hourly * self.hours + self.snapshot

    @property
    def always_on(self) -> float:
        return self.hourly * HOURS_PER_MONTH

    @property
    def saving(self) -> float:
        return 1 - self.event_cost / self.always_on


def close_event(path: Path, event: str, destroyed_at: datetime, catalog: Catalog,
                created_at: datetime | None = None) -> dict[str, Any] | None:
    """Close the newest open entry of ``event`` with its cost; without one, open and close it from
    ``created_at`` (e.g. the event DB's creation time). None when neither exists (nothing to cost);
    the existing entry when the event was closed already."""
    events = read_ledger(path)
    entry = next((e for e in reversed(events) if e.get("event") == event), None)
    if entry is not None and entry.get("status") == "destroyed":
        return entry
    if entry is None or entry.get("status") != "up":
        if created_at is None:
            return None
        entry = {"event": event, "status": "up", "created_at": _iso(created_at)}
        events.append(entry)
    start = datetime.fromisoformat(entry["created_at"])
    lines = stack_lines(catalog)
    costed = Costed(max(0.0, (destroyed_at - start).total_seconds() / 3600), sum(ln.hourly for ln in lines),
                    DB_STORAGE_GB * SNAPSHOT_GB_MONTH)
    entry.update({
        "status": "destroyed", "destroyed_at": _iso(destroyed_at), "hours": round(costed.hours, 4),
        "price_table": {"date": PRICE_TABLE_DATE, "source": PRICE_TABLE_SOURCE},
        "lines": [{"item": ln.item, "quantity": ln.quantity, "unit_price_usd_h": ln.unit_price,
                   "hourly_usd": round(ln.hourly, 6)} for ln in lines],
        "hourly_usd": round(costed.hourly, 6), "snapshot_usd": round(costed.snapshot, 4),
        "event_usd": round(costed.event_cost, 4), "always_on_month_usd": round(costed.always_on, 4),
        "saving": round(costed.saving, 6),
    })
    _write(path, events)
    return entry


def render_history(events: list[dict[str, Any]]) -> str:
    """A table: one line per event, totals last."""
    if not events:
        return "no event in the ledger"
    out = [f"{'event':<20} {'created (UTC)':<20} {'hours':>7} {'cost USD':>10} {'always-on USD':>14} {'saving':>7}"]
    total = 0.0
    for e in events:
        if e.get("status") != "destroyed":
            out.append(f"{e.get('event', '?'):<20} {e.get('created_at', '?')[:16]:<20} {'up':>7}")
            continue
        total += float(e["event_usd"])
        out.append(f"{e['event']:<20} {e['created_at'][:16]:<20} {e['hours']:>7.2f} {e['event_usd']:>10.2f} "
                   f"{e['always_on_month_usd']:>14.2f} {e['saving'] * 100:>6.1f}%")
    dates = sorted({e["price_table"]["date"] for e in events if e.get("price_table")})
    out.append(f"total: {total:.2f} USD (price table {', '.join(dates) or '-'}: {PRICE_TABLE_SOURCE})")
    return "\n".join(out)
