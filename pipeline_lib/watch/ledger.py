"""One ledger of vulnerability findings per environment, across builds and re-scans (pure: no I/O).

A finding is keyed by ``(image repository, package, vulnerability id)``: the repository, never
the tag or the digest, so a rebuild under a new tag, or a bump to a new digest that still has
the finding, is the same finding (DefectDojo's re-import churn, #4663/#12924, is what this avoids).
Each entry records ``first_seen``/``last_seen`` (RFC 3339 UTC seconds), ``state``
(``open`` | ``fixed`` | ``excepted``: an unexpired allowlist entry of the gate policy matches
it), whether the environment's gate policy blocks it, and the services running that repository.

:func:`record` folds one observation batch into the ledger. It is idempotent: recording the
same observations at the same time again changes nothing (the same bytes from :func:`dumps`),
and an observation older than an entry's ``fixed_at`` does not reopen it, so re-importing an
old report is harmless. Only a *complete* scan of a repository (``scope``) may mark its
unobserved open findings fixed; importing a build report passes no scope.

File format (``.gantry/ledger/<env>.json``, gantry's own, version 1)::

    {"version": 1, "environment": "prod",
     "findings": [{"repository": "host/shop/storefront", "package": "jinja2",
                   "vulnerability": "CVE-2024-22195", "severity": "MEDIUM", "state": "open",
                   "blocking": false, "first_seen": "…Z", "last_seen": "…Z", "fixed_at": null,
                   "services": ["storefront"], "installed_version": "3.1.2",
                   "fixed_version": "3.1.3", "title": "…"}, …]}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline_lib.core.errors import BadInput

VERSION = 1
STATES = ("open", "fixed", "excepted")
MAX_TITLE = 200


def stamp(when: dt.datetime) -> str:
    """RFC 3339, UTC, whole seconds: ``2026-12-06T02:30:00Z``."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: str, where: str = "ledger") -> dt.datetime:
    """:func:`stamp`'s inverse; BadInput when ``value`` is no such time."""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise BadInput(where, f"{value!r} is not an RFC 3339 time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True, order=True)
class Key:
    """What makes a finding the same finding: repository (no tag, no digest), package, id."""

    repository: str
    package: str
    vulnerability: str


class _Keyed:
    """A record of one finding: its :class:`Key` from its repository, package and vulnerability."""

    repository: str
    package: str
    vulnerability: str

    @property
    def key(self) -> Key:
        return Key(self.repository, self.package, self.vulnerability)


@dataclass(frozen=True)
class Observation(_Keyed):
    """One finding seen in one scan of ``repository`` (for ``service``)."""

    repository: str
    package: str
    vulnerability: str
    severity: str
    service: str
    blocking: bool = False
    excepted: bool = False
    installed_version: str = ""
    fixed_version: str = ""
    title: str = ""


@dataclass(frozen=True)
class Entry(_Keyed):
    repository: str
    package: str
    vulnerability: str
    severity: str
    state: str
    blocking: bool
    first_seen: str
    last_seen: str
    fixed_at: str | None = None
    services: tuple[str, ...] = ()
    installed_version: str = ""
    fixed_version: str = ""
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["services"] = list(self.services)
        return d


@dataclass(frozen=True)
class Change:
    """One state change: ``kind`` new | reopened | fixed | excepted | unexcepted | blocking."""

    kind: str
    entry: Entry


@dataclass
class Ledger:
    environment: str
    entries: dict[Key, Entry] = field(default_factory=dict)

    def open(self) -> list[Entry]:
        return sorted((e for e in self.entries.values() if e.state == "open"), key=lambda e: e.key)


@dataclass
class Recorded:
    """What :func:`record` did: the new ledger and its state changes (``changes``; a refreshed
    ``last_seen`` or severity is no state change)."""

    ledger: Ledger
    changes: list[Change]

    def of(self, kind: str) -> list[Entry]:
        return [c.entry for c in self.changes if c.kind == kind]

    @property
    def new_blocking(self) -> list[Entry]:
        """Entries that became open *and* blocking in this batch: new, reopened, no longer
        excepted, or newly blocking under the policy."""
        kinds = ("new", "reopened", "unexcepted", "blocking")
        return sorted({c.entry.key: c.entry for c in self.changes
                       if c.kind in kinds and c.entry.state == "open" and c.entry.blocking}.values(),
                      key=lambda e: e.key)


def _merge(old: Entry, obs: list[Observation], seen: str) -> Entry:
    o = max(obs, key=lambda x: (x.blocking, x.severity, x.service))
    return replace(old, severity=o.severity, blocking=any(x.blocking for x in obs),
                   last_seen=max(old.last_seen, seen), services=tuple(sorted({*old.services, *(x.service for x in obs)})),
                   installed_version=o.installed_version, fixed_version=o.fixed_version,
                   title=o.title[:MAX_TITLE])


def record(ledger: Ledger, observations: Iterable[Observation], *, seen: dt.datetime,
           scope: Iterable[str] = ()) -> Recorded:
    """Fold ``observations`` (made at ``seen``) into ``ledger``; return a new ledger and the changes.

    ``scope``: repositories whose scan was complete: their open or excepted entries not observed
    now become ``fixed`` (``fixed_at`` = ``seen``). An observation not newer than an entry's
    ``fixed_at`` leaves it fixed. Pure: ``ledger`` is not modified.
    """
    when = stamp(seen)
    grouped: dict[Key, list[Observation]] = {}
    for o in observations:
        grouped.setdefault(o.key, []).append(o)
    entries = dict(ledger.entries)
    changes: list[Change] = []
    for key, obs in sorted(grouped.items()):
        excepted = all(o.excepted for o in obs)
        state = "excepted" if excepted else "open"
        old = entries.get(key)
        if old is None:
            first = obs[0]
            entry = _merge(Entry(key.repository, key.package, key.vulnerability, first.severity, state, False,
                                 when, when), obs, when)
            entries[key] = entry
            changes.append(Change("new", entry))
            continue
        if old.state == "fixed" and old.fixed_at is not None and when <= old.fixed_at:
            continue   # an old report, from before the fix
        entry = _merge(old, obs, when)
        if old.state == "fixed":
            entry = replace(entry, state=state, fixed_at=None)
            changes.append(Change("reopened", entry))
        elif old.state != state:
            entry = replace(entry, state=state)
            changes.append(Change("excepted" if excepted else "unexcepted", entry))
        elif entry.blocking and not old.blocking and state == "open":
            changes.append(Change("blocking", entry))
        entries[key] = entry
    complete = set(scope)
    for key, old in sorted(entries.items()):
        if key.repository in complete and key not in grouped and old.state != "fixed":
            entry = replace(old, state="fixed", fixed_at=max(when, old.last_seen))
            entries[key] = entry
            changes.append(Change("fixed", entry))
    return Recorded(Ledger(ledger.environment, entries), changes)


# ---------------------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------------------

def dumps(ledger: Ledger) -> str:
    """The ledger file's text: entries sorted by key, keys sorted, one trailing newline."""
    doc = {"version": VERSION, "environment": ledger.environment,
           "findings": [ledger.entries[k].to_json() for k in sorted(ledger.entries)]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _str(item: dict, name: str, where: str, *, optional: bool = False) -> str | None:
    v = item.get(name)
    if v is None and optional:
        return None
    if not isinstance(v, str) or (not v and not optional):
        raise BadInput(where, f"{name} must be a non-empty string")
    return v


def loads(text: str, environment: str, where: str = "ledger") -> Ledger:
    """Parse a ledger file (empty text: an empty ledger). BadInput (exit 2) for anything else
    than version 1 of this environment's ledger, naming the field."""
    if not text.strip():
        return Ledger(environment)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadInput(where, f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise BadInput(where, f"not a version {VERSION} gantry ledger")
    if not isinstance(doc.get("environment"), str) or not doc["environment"]:
        raise BadInput(where, f"environment is missing or not a name (expected {environment!r})")
    if doc["environment"] != environment:
        raise BadInput(where, f"is the ledger of {doc['environment']!r}, not {environment!r}")
    items = doc.get("findings")
    if not isinstance(items, list):
        raise BadInput(where, "findings must be a list")
    entries: dict[Key, Entry] = {}
    for i, item in enumerate(items):
        w = f"{where}: findings[{i}]"
        if not isinstance(item, dict):
            raise BadInput(w, "must be an object")
        state = _str(item, "state", w)
        if state not in STATES:
            raise BadInput(w, f"state must be one of {', '.join(STATES)}, not {state!r}")
        services = item.get("services", [])
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise BadInput(w, "services must be a list of names")
        for name in ("first_seen", "last_seen"):
            parse_stamp(_str(item, name, w) or "", f"{w}.{name}")
        fixed_at = _str(item, "fixed_at", w, optional=True)
        if fixed_at is not None:
            parse_stamp(fixed_at, f"{w}.fixed_at")
        e = Entry(_str(item, "repository", w) or "", _str(item, "package", w) or "",
                  _str(item, "vulnerability", w) or "", _str(item, "severity", w) or "", state,
                  bool(item.get("blocking")), item["first_seen"], item["last_seen"], fixed_at,
                  tuple(sorted(services)), str(item.get("installed_version") or ""),
                  str(item.get("fixed_version") or ""), str(item.get("title") or "")[:MAX_TITLE])
        if e.key in entries:
            raise BadInput(w, f"duplicate finding {e.repository} {e.package} {e.vulnerability}")
        entries[e.key] = e
    return Ledger(environment, entries)


#: how stale a stored ``last_seen`` may get before a run with nothing else to record refreshes it
LAST_SEEN_REFRESH = dt.timedelta(days=1)


def worth_writing(before: Ledger, after: Ledger) -> bool:
    """Whether ``after`` must replace ``before`` on disk: an entry added, removed or changed in
    anything but ``last_seen``, or a ``last_seen`` moved by :data:`LAST_SEEN_REFRESH` or more
    (so an hourly watch commits when something happened, and at most daily otherwise)."""
    if before.entries.keys() != after.entries.keys():
        return True
    for key, a in after.entries.items():
        b = before.entries[key]
        if replace(a, last_seen="") != replace(b, last_seen=""):
            return True
        if parse_stamp(a.last_seen) - parse_stamp(b.last_seen) >= LAST_SEEN_REFRESH:
            return True
    return False


def ledger_path(environment: str) -> str:
    """Where an environment's ledger lives in the GitOps repository."""
    return f".gantry/ledger/{environment}.json"
