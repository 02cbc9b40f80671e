"""Freeze windows: when an environment's GitOps pins must not change.

Two kinds, both set per environment in the catalog (``freeze: {<env>: {windows: [...]}}``):

- an **absolute** window: ``{name, start, end}``, ISO 8601 date-times *with* a UTC offset
  (``2026-12-24T00:00:00+09:00``); it covers ``start <= t < end``;
- a **recurring** window: ``{name, every, at, for, tz}``: ``every`` is ``daily`` or a list of
  weekday abbreviations (``[fri]``, ``[sat, sun]``), ``at`` the local start ``HH:MM``, ``for`` a
  duration (``90m``, ``62h``, ``2d``; at most 7 days), ``tz`` an IANA zone (``Asia/Seoul``). An
  occurrence starts on each listed weekday at ``at`` local time and may run past midnight.

The sale windows of gantry's event calendar (``gantry event schedule``) are absolute windows the
command layer adds (:mod:`pipeline_lib.event.schedule`); the write path receives every window as
JSON (:func:`to_json`) and evaluates them at write time (:func:`active_at`). Pure: no I/O, the
clock is a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RECURRING = timedelta(days=7)
_DURATION = re.compile(r"^(\d+)([mhd])$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Window:
    """One concrete interval ``[start, end)`` (aware datetimes); ``source``: ``catalog`` or
    ``event calendar``."""

    name: str
    start: datetime
    end: datetime
    source: str = "catalog"

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def describe(self) -> str:
        return f"{self.name!r} ({self.source}, {self.start.isoformat()} .. {self.end.isoformat()})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "window", "name": self.name, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "source": self.source}


@dataclass(frozen=True)
class Recurring:
    """A window repeating on ``days`` (0 = Monday) at local ``at`` for ``duration``, in ``tz``."""

    name: str
    days: tuple[int, ...]
    at: time
    duration: timedelta
    tz: str
    source: str = "catalog"

    def _occurrence(self, day: Any) -> Window:
        start = datetime.combine(day, self.at, tzinfo=ZoneInfo(self.tz))
        return Window(self.name, start, start + self.duration, self.source)

    def occurrence_at(self, at: datetime) -> Window | None:
        """The occurrence covering ``at`` (aware), else None."""
        local = at.astimezone(ZoneInfo(self.tz)).date()
        back = self.duration.days + 1
        for d in range(back + 1):
            day = local - timedelta(days=d)
            if day.weekday() in self.days:
                occ = self._occurrence(day)
                if occ.contains(at):
                    return occ
        return None

    def next_after(self, at: datetime) -> Window:
        """The first occurrence starting after ``at``."""
        local = at.astimezone(ZoneInfo(self.tz)).date()
        for d in range(9):
            day = local + timedelta(days=d)
            if day.weekday() in self.days:
                occ = self._occurrence(day)
                if occ.start > at:
                    return occ
        raise AssertionError("unreachable: a weekday repeats within 8 days")  # pragma: no cover

    def to_json(self) -> dict[str, Any]:
        return {"kind": "recurring", "name": self.name, "days": [DAYS[d] for d in self.days],
                "at": self.at.strftime("%H:%M"), "minutes": int(self.duration.total_seconds() // 60),
                "tz": self.tz, "source": self.source}


Spec = Window | Recurring


def parse_datetime(raw: Any) -> datetime:
    """An ISO 8601 date-time with a UTC offset; ValueError (a one-line reason) otherwise. YAML may
    already have read it as a datetime."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an ISO date-time (e.g. 2026-12-24T00:00:00+09:00)") from None
    else:
        raise ValueError(f"expected an ISO date-time string, got {type(raw).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{raw!s} needs a UTC offset (e.g. +09:00)")
    return value


def parse_duration(raw: Any) -> timedelta:
    """``90m``, ``62h``, ``2d`` -> timedelta; ValueError otherwise."""
    m = _DURATION.match(str(raw).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{raw!r} is not a duration such as 90m, 62h or 2d")
    return timedelta(minutes=int(m.group(1)) * {"m": 1, "h": 60, "d": 1440}[m.group(2)])


def parse_spec(raw: Any) -> Spec:
    """One catalog entry (see the module docstring) -> :class:`Window` or :class:`Recurring`;
    ValueError naming the field otherwise."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: required (a non-empty string)")
    if "every" in raw:
        unknown = set(raw) - {"name", "every", "at", "for", "tz"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown key of a recurring window (name, every, at, for, tz)")
        every = raw["every"]
        items = list(DAYS) if every == "daily" else every if isinstance(every, list) else None
        if not items or any(str(d).lower() not in DAYS for d in items):
            raise ValueError(f"every: 'daily' or a list of {', '.join(DAYS)}, got {every!r}")
        m = _HHMM.match(str(raw.get("at", "")))
        if not m:
            raise ValueError(f"at: local start time HH:MM, got {raw.get('at')!r}")
        try:
            duration = parse_duration(raw.get("for"))
        except ValueError as exc:
            raise ValueError(f"for: {exc}") from None
        if duration > MAX_RECURRING:
            raise ValueError("for: a recurring window lasts at most 7d")
        tz = raw.get("tz")
        if tz is None or (isinstance(tz, str) and not tz.strip()):
            raise ValueError("tz: required (an IANA time zone, e.g. Asia/Seoul)")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"tz: unknown time zone {tz!r} (e.g. Asia/Seoul)") from None
        days = tuple(sorted({DAYS.index(str(d).lower()) for d in items}))
        return Recurring(name, days, time(int(m.group(1)), int(m.group(2))), duration, str(tz))
    unknown = set(raw) - {"name", "start", "end"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown key of a window (name, start, end; or every, at, for, tz)")
    times = []
    for key in ("start", "end"):
        try:
            times.append(parse_datetime(raw.get(key)))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    if times[1] <= times[0]:
        raise ValueError("end: is not after start")
    return Window(name, times[0], times[1])


def to_json(specs: list[Spec] | tuple[Spec, ...]) -> list[dict[str, Any]]:
    """JSON-serialisable form (what a queued pin edit carries to the writing process)."""
    return [s.to_json() for s in specs]


def from_json(data: list[dict[str, Any]]) -> list[Spec]:
    """The inverse of :func:`to_json`; ValueError on a malformed entry."""
    out: list[Spec] = []
    for item in data:
        if item.get("kind") == "recurring":
            h, m = (int(x) for x in str(item["at"]).split(":"))
            out.append(Recurring(item["name"], tuple(DAYS.index(d) for d in item["days"]), time(h, m),
                                 timedelta(minutes=int(item["minutes"])), item["tz"], item.get("source", "catalog")))
        else:
            out.append(Window(item["name"], parse_datetime(item["start"]), parse_datetime(item["end"]),
                              item.get("source", "catalog")))
    return out


def active_at(specs: list[Spec] | tuple[Spec, ...], at: datetime) -> list[Window]:
    """The windows covering ``at`` (aware), as concrete intervals, in ``specs`` order."""
    if at.tzinfo is None:
        raise ValueError("the clock must be time-zone aware")
    out: list[Window] = []
    for spec in specs:
        hit = spec.occurrence_at(at) if isinstance(spec, Recurring) else (spec if spec.contains(at) else None)
        if hit is not None:
            out.append(hit)
    return out


def upcoming(specs: list[Spec] | tuple[Spec, ...], at: datetime) -> list[Window]:
    """The next occurrence of each spec that starts after ``at`` (absolute windows already over
    are left out), soonest first."""
    out = [s.next_after(at) if isinstance(s, Recurring) else s for s in specs]
    return sorted((w for w in out if w.start > at), key=lambda w: w.start)
