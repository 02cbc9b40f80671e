"""The vulnerability DB's freshness: where to pull it from, how old it may be, and the check.

Policy section (top level, and per environment under ``environments.<env>``; later wins)::

    vulnerability_db:
      repository: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/trivy-db:2   # null: Trivy's default
      java_repository: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/trivy-java-db:1
      max_age: 7d          # <number><m|h|d>, or null for no limit

A scanner outcome that carries ``db_updated_at`` (Trivy's ``metadata.json`` UpdatedAt, recorded
when the vuln scanner ran) is checked against ``max_age``: an older DB is not a scan, so the
gate cannot evaluate (exit 2) and says how old the DB is. No upstream tool does this
(trivy-action only caches the DB); the rule is gantry's own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline_lib.core.errors import GantryError

from .base import ScanOutcome

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class VulnDbSettings:
    """The effective ``vulnerability_db`` settings for one environment."""

    repository: str | None = None
    java_repository: str | None = None
    max_age: dt.timedelta | None = None

    def trivy_options(self) -> dict[str, str | None]:
        """Keyword arguments for ``scanners.trivy.run_fs``/``run_image``."""
        return {"db_repository": self.repository, "java_db_repository": self.java_repository}


def parse_age(value: Any, where: str) -> dt.timedelta | None:
    """``"24h"``, ``"7d"``, ``"90m"`` (or null) → a timedelta; GantryError otherwise."""
    if value is None:
        return None
    m = _AGE_RE.match(value) if isinstance(value, str) else None
    if not m or float(m.group(1)) <= 0:
        raise GantryError(where, f"max_age must be a positive duration like 24h, 7d or 90m, not {value!r}")
    return dt.timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def parse_mirror_section(data: Any, where: str, references: Iterable[str], expected: str,
                         example: Callable[[str], str]) -> dict[str, Any]:
    """Validate one policy mapping of mirrored artifacts — OCI references under ``references``
    plus ``max_age`` (``vulnerability_db:``, ``feeds:``) → the keys it sets (a reference stripped
    or None, ``max_age`` as a timedelta). ``expected`` lists the keys for the not-a-mapping error;
    ``example(key)`` is what a reference looks like. Raises :class:`GantryError` naming the key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GantryError(where, f"expected a mapping ({expected})")
    allowed = {*references, "max_age"}
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise GantryError(where, f"unknown key(s): {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    out: dict[str, Any] = {}
    for key in references:
        if key in data:
            v = data[key]
            if v is not None and (not isinstance(v, str) or not v.strip() or "://" in v):
                raise GantryError(f"{where}.{key}", f"must be {example(key)} or null, not {v!r}")
            out[key] = v.strip() if isinstance(v, str) else None
    if "max_age" in data:
        out["max_age"] = parse_age(data["max_age"], f"{where}.max_age")
    return out


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """The layers' keys, a later layer's value winning (defaults → tool → environment)."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer)
    return out


def parse_section(data: Any, where: str) -> dict[str, Any]:
    """Validate one ``vulnerability_db`` mapping → the keys it sets (max_age as a timedelta)."""
    return parse_mirror_section(data, where, ("repository", "java_repository"),
                                "repository, java_repository, max_age",
                                lambda _key: "an OCI repository like host/trivy-db:2")


def merge(*layers: dict[str, Any]) -> VulnDbSettings:
    m = merged(*layers)
    return VulnDbSettings(m.get("repository"), m.get("java_repository"), m.get("max_age"))


def format_age(age: dt.timedelta) -> str:
    """``9 days 3 h``, ``26 h 5 min``, ``42 min`` (never negative)."""
    minutes = max(0, int(age.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def format_limit(limit: dt.timedelta) -> str:
    """A policy limit as written: ``7 days``, ``24 h``, ``90 min``."""
    minutes = int(limit.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes >= 2880:
        return f"{minutes // 1440} days"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


@dataclass(frozen=True)
class DbAgeCheck:
    """One outcome's DB age against the limit: ``ok`` False means the gate cannot evaluate."""

    tool: str
    ok: bool
    message: str


def parse_db_time(value: str) -> dt.datetime | None:
    """An RFC 3339 time as Trivy's ``metadata.json`` writes it (``…Z``), timezone-aware (UTC when
    none is given); None when it is not a time."""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def check_db_age(outcomes: Iterable[ScanOutcome], settings: VulnDbSettings, environment: str,
                 now: dt.datetime | None = None) -> list[DbAgeCheck]:
    """One check per "ok" outcome that recorded ``db_updated_at`` (or ``java_db_updated_at``)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    checks = []
    for o in outcomes:
        if o.status != "ok":
            continue
        for label, stamp in (("vulnerability DB", o.db_updated_at), ("Java DB", o.java_db_updated_at)):
            if not stamp:
                continue
            updated = parse_db_time(stamp)
            if updated is None:
                checks.append(DbAgeCheck(o.tool, False, f"{label} UpdatedAt {stamp!r} is not a time"))
                continue
            age = now - updated
            if settings.max_age is None:
                checks.append(DbAgeCheck(o.tool, True, f"{label} updated {format_age(age)} ago (no age limit)"))
            elif age > settings.max_age:
                checks.append(DbAgeCheck(o.tool, False, f"{label} is {format_age(age)} old (UpdatedAt {stamp}); "
                                                        f"the {environment} policy allows at most "
                                                        f"{format_limit(settings.max_age)}: update the mirror "
                                                        f"(gantry trivy-db mirror) and scan again"))
            else:
                checks.append(DbAgeCheck(o.tool, True, f"{label} updated {format_age(age)} ago "
                                                       f"(limit {format_limit(settings.max_age)})"))
    return checks
