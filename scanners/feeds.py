"""Exploit feeds: CISA's Known Exploited Vulnerabilities catalog and FIRST's EPSS scores.

Formats (read strictly, the sources named):

- **KEV** — ``known_exploited_vulnerabilities.json`` as CISA publishes it (cisagov/kev-data):
  ``{"catalogVersion", "dateReleased" (RFC 3339), "count", "vulnerabilities": [{"cveID", …}]}``,
  validated against CISA's own schema (``known_exploited_vulnerabilities_schema.json``, packaged
  in ``scanners/feeddata/``; a copy of ``tests/fixtures/kev/``). Its age is ``dateReleased``.
- **EPSS** — FIRST's daily CSV (https://www.first.org/epss/data_stats; ``epss_scores-YYYY-MM-DD.csv.gz``,
  gzip or plain): a comment line ``#model_version:v2025.03.14,score_date:2026-12-01T00:00:00+0000``,
  then the header ``cve,epss,percentile``, then one row per CVE (probabilities 0–1). Its age is
  ``score_date``.

Policy section (top level, and per environment under ``environments.<env>``; later wins)::

    feeds:
      max_age: 3d                                      # older than this → cannot evaluate (exit 2)
      kev: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/gantry-feeds/kev:latest    # OCI mirror
      epss: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/gantry-feeds/epss:latest

The rules (``kev: true``, ``epss: 0.5``: :mod:`scanners.policy`) say which feeds a policy *uses*
in an environment. A used feed that is missing, unreadable or older than ``max_age`` fails
closed (:class:`GantryError` naming the feed → exit 2); a feed no rule uses is never required.
The local cache (``gantry feeds pull``) is a directory holding the two files under
:data:`FILES`' names.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError

from .dbage import format_age, format_limit, merged, parse_db_time, parse_mirror_section

KEV, EPSS = "kev", "epss"
NAMES = (KEV, EPSS)
#: the file name of each feed in a cache directory (and the OCI artifact's layer title)
FILES = {KEV: "known_exploited_vulnerabilities.json", EPSS: "epss_scores.csv"}
LABELS = {KEV: "CISA KEV catalog", EPSS: "FIRST EPSS scores"}
KEV_SCHEMA = Path(__file__).with_name("feeddata") / "known_exploited_vulnerabilities_schema.json"
MAX_FEED_BYTES = 256 * 1024 * 1024   # the EPSS CSV is ~10 MB uncompressed (~300 000 CVEs)
_EPSS_HEAD = re.compile(r"^#\s*model_version:(?P<model>[^,]*),\s*score_date:(?P<date>\S+)\s*$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,19}$")


@dataclass(frozen=True)
class KevCatalog:
    """The KEV catalog: its version, release time (UTC) and the CVE ids it lists (upper case)."""

    version: str
    released: dt.datetime
    cves: frozenset[str]
    source: str = ""

    @property
    def date(self) -> dt.datetime:
        return self.released


@dataclass(frozen=True)
class EpssScores:
    """One day of EPSS: model version, score date (UTC), CVE → (epss, percentile), each 0–1."""

    model_version: str
    score_date: dt.datetime
    scores: dict[str, tuple[float, float]]
    source: str = ""

    @property
    def date(self) -> dt.datetime:
        return self.score_date


@dataclass(frozen=True)
class Exploit:
    """What the feeds say about one vulnerability id: listed in KEV, its EPSS (None: no score)."""

    kev: bool = False
    epss: float | None = None
    percentile: float | None = None


NO_EXPLOIT = Exploit()


@dataclass(frozen=True)
class Feeds:
    """The feeds loaded for one evaluation (None: not loaded, because no rule uses it)."""

    kev: KevCatalog | None = None
    epss: EpssScores | None = None

    def get(self, name: str) -> KevCatalog | EpssScores | None:
        return self.kev if name == KEV else self.epss

    def lookup(self, vuln_id: str) -> Exploit:
        """``CVE-…`` → :class:`Exploit`; any other id (GHSA, a rule id) → nothing known."""
        key = vuln_id.strip().upper() if isinstance(vuln_id, str) else ""
        if not key.startswith("CVE-") or (self.kev is None and self.epss is None):
            return NO_EXPLOIT
        score = self.epss.scores.get(key) if self.epss is not None else None
        in_kev = self.kev is not None and key in self.kev.cves
        if not in_kev and score is None:
            return NO_EXPLOIT
        return Exploit(in_kev, score[0] if score else None, score[1] if score else None)


@dataclass(frozen=True)
class FeedSettings:
    """The effective ``feeds`` section for one environment (references are OCI mirrors)."""

    max_age: dt.timedelta | None = None
    kev: str | None = None
    epss: str | None = None

    def reference(self, name: str) -> str | None:
        return self.kev if name == KEV else self.epss


def parse_section(data: Any, where: str) -> dict[str, Any]:
    """Validate one ``feeds`` mapping → the keys it sets (``max_age`` as a timedelta)."""
    return parse_mirror_section(data, where, NAMES, "max_age, kev, epss",
                                lambda key: f"an OCI reference like host/gantry-feeds/{key}:latest")


def merge(*layers: dict[str, Any]) -> FeedSettings:
    m = merged(*layers)
    return FeedSettings(m.get("max_age"), m.get(KEV), m.get(EPSS))


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _kev_validator() -> Any:
    import jsonschema

    schema = json.loads(KEV_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _error_path(err: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path) or "(root)"


def parse_kev(raw: bytes, where: str = FILES[KEV]) -> KevCatalog:
    """CISA's KEV JSON → :class:`KevCatalog`; GantryError(where, …) when it is not JSON, breaks
    CISA's schema (the first error and its path named) or has an unreadable ``dateReleased``.

    The schema check of the 1.3 MB catalog takes ~0.3 s: a catalog already validated in this
    process (same bytes, by SHA-256) is not validated again.
    """
    digest = hashlib.sha256(raw).digest()
    known = _KEV_SEEN.get(digest)
    if known is not None:
        return replace(known, source=where)
    catalog = _parse_kev(raw, where)
    if len(_KEV_SEEN) >= 8:
        _KEV_SEEN.pop(next(iter(_KEV_SEEN)))
    _KEV_SEEN[digest] = catalog
    return catalog


_KEV_SEEN: dict[bytes, KevCatalog] = {}   # SHA-256 of a valid catalog → its parse (immutable)


def _parse_kev(raw: bytes, where: str) -> KevCatalog:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GantryError(where, f"KEV catalog is not JSON: {exc}") from None
    err = next(iter(sorted(_kev_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))), None)
    if err is not None:
        raise GantryError(where, f"KEV catalog does not match CISA's schema at {_error_path(err)}: "
                                 f"{str(err.message)[:200]}")
    released = parse_db_time(doc["dateReleased"])
    if released is None:
        raise GantryError(where, f"KEV dateReleased {doc['dateReleased']!r} is not an RFC 3339 time")
    cves = frozenset(v["cveID"].upper() for v in doc["vulnerabilities"])
    return KevCatalog(doc["catalogVersion"], released, cves, where)


def _text(raw: bytes, where: str) -> str:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise GantryError(where, f"EPSS file is not a readable gzip: {exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GantryError(where, "EPSS file is not UTF-8 text") from None


def _probability(value: str, where: str, column: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise GantryError(where, f"{column} {value[:40]!r} is not a number") from None
    if not 0.0 <= x <= 1.0:
        raise GantryError(where, f"{column} {x:g} is outside 0-1")
    return x


def parse_epss(raw: bytes, where: str = FILES[EPSS]) -> EpssScores:
    """FIRST's EPSS CSV (plain or gzip) → :class:`EpssScores`; GantryError(where-with-line, …) on
    a missing or malformed ``#model_version:…,score_date:…`` line, a header other than
    ``cve,epss,percentile``, a bad CVE id or a score outside 0–1."""
    lines = _text(raw, where).splitlines()
    if not lines:
        raise GantryError(where, "EPSS file is empty")
    m = _EPSS_HEAD.match(lines[0])
    if not m:
        raise GantryError(f"{where}:1", "expected FIRST's comment line #model_version:…,score_date:…")
    score_date = parse_db_time(m.group("date"))
    if score_date is None:
        raise GantryError(f"{where}:1", f"score_date {m.group('date')!r} is not a time")
    rows = csv.reader(io.StringIO("\n".join(lines[1:])))
    header = next(rows, None)
    if header is None or [h.strip().lower() for h in header] != ["cve", "epss", "percentile"]:
        raise GantryError(f"{where}:2", f"expected the header cve,epss,percentile, not {','.join(header or [])!r}")
    scores: dict[str, tuple[float, float]] = {}
    for n, row in enumerate(rows, start=3):
        if not row:
            continue
        w = f"{where}:{n}"
        if len(row) != 3:
            raise GantryError(w, f"expected 3 columns (cve,epss,percentile), found {len(row)}")
        cve = row[0].strip().upper()
        if not _CVE.match(cve):
            raise GantryError(w, f"{row[0][:40]!r} is not a CVE id")
        scores[cve] = (_probability(row[1].strip(), w, "epss"), _probability(row[2].strip(), w, "percentile"))
    return EpssScores(m.group("model").strip(), score_date, scores, where)


def parse_feed(name: str, raw: bytes, where: str) -> KevCatalog | EpssScores:
    """Parse feed ``name`` (kev | epss) from its bytes."""
    if name == KEV:
        return parse_kev(raw, where)
    if name == EPSS:
        return parse_epss(raw, where)
    raise GantryError(where, f"unknown feed {name!r} (known: {', '.join(NAMES)})")


# ---------------------------------------------------------------------------------------
# loading from a cache directory, with the age check
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedStatus:
    """One feed in a cache: whether it is usable and why (``date``: the feed's own date)."""

    name: str
    ok: bool
    message: str
    date: dt.datetime | None = None


def check_age(name: str, date: dt.datetime, max_age: dt.timedelta | None, environment: str,
              now: dt.datetime) -> FeedStatus:
    """The feed's own date against the policy's ``max_age`` (None: no limit)."""
    age = now - date
    label = f"{LABELS[name]} ({name})"
    if max_age is not None and age > max_age:
        return FeedStatus(name, False, f"feed {name}: {label} is {format_age(age)} old (dated "
                                       f"{date.isoformat()}); the {environment} policy allows at most "
                                       f"{format_limit(max_age)}: mirror it again (gantry feeds mirror) "
                                       f"and pull (gantry feeds pull)", date)
    limit = f"limit {format_limit(max_age)}" if max_age is not None else "no age limit"
    return FeedStatus(name, True, f"feed {name}: {label} dated {format_age(age)} ago ({limit})", date)


def read_feed(cache_dir: Path, name: str) -> KevCatalog | EpssScores:
    """The feed ``name`` from ``cache_dir``; GantryError("feed <name>", …) when absent or unreadable."""
    path = Path(cache_dir) / FILES[name]
    try:
        if path.stat().st_size > MAX_FEED_BYTES:
            raise GantryError(f"feed {name}", f"{path} is larger than {MAX_FEED_BYTES} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GantryError(f"feed {name}", f"{LABELS[name]} is missing: no {path} (the policy uses it; "
                                          "run gantry feeds pull)") from None
    except OSError as exc:
        raise GantryError(f"feed {name}", f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_feed(name, raw, str(path))


def load_feeds(cache_dir: Path | None, used: Iterable[str], settings: FeedSettings, environment: str,
               now: dt.datetime | None = None) -> tuple[Feeds, list[FeedStatus]]:
    """Load the ``used`` feeds from ``cache_dir`` and check their age against ``settings.max_age``.

    Returns the feeds (unused ones None, not even read) and one status per used feed. Raises
    GantryError naming the first feed that is missing, unreadable or too old (fail closed: exit 2).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    used = [n for n in NAMES if n in set(used)]
    loaded: dict[str, Any] = {}
    statuses: list[FeedStatus] = []
    for name in used:
        if cache_dir is None:
            raise GantryError(f"feed {name}", f"the {environment} policy uses the {LABELS[name]} but no feed "
                                              "cache was given (--feeds DIR, filled by gantry feeds pull)")
        feed = read_feed(cache_dir, name)
        status = check_age(name, feed.date, settings.max_age, environment, now)
        if not status.ok:
            raise GantryError(f"feed {name}", status.message.removeprefix(f"feed {name}: "))
        loaded[name] = feed
        statuses.append(status)
    return Feeds(loaded.get(KEV), loaded.get(EPSS)), statuses

