"""The gate policy: thresholds per tool and environment, max counts, only-new, allowlist.

Policy file (YAML, read strictly: unknown keys are errors)::

    version: 1
    defaults: {fail_on: HIGH, max: {MEDIUM: 20, total: 100}, only_new: false, quality_gate: true}
    tools:
      dependency-check: {fail_on: CRITICAL}
    required: [trivy]                       # skipped or missing → cannot evaluate (exit 2)
    environments:
      prod: {fail_on: MEDIUM, required: [trivy, dependency-check], tools: {sonarqube: {fail_on: HIGH}}}
    allowlist:
      - {id: CVE-2019-1549, reason: "not reachable", owner: team-a, expires: 2026-12-31, tool: trivy}
      - {fingerprint: 3f2a…, reason: ..., owner: ..., expires: 2026-06-30}
    feeds: {max_age: 3d, kev: host/gantry-feeds/kev:latest, epss: host/gantry-feeds/epss:latest}

Layers, later wins: ``defaults`` < ``tools.<t>`` < ``environments.<e>`` < ``environments.<e>.tools.<t>``.
``fail_on`` is a severity or ``null`` (never fail on severity alone). Exploit-aware rules block a
finding whatever its severity: ``kev: true`` when its CVE is in CISA's Known Exploited
Vulnerabilities catalog, ``epss: 0.5`` when its EPSS probability is ≥ 0.5 (the threshold itself
blocks); the feeds, their mirrors and ``max_age`` are :mod:`scanners.feeds`' (a feed a rule uses
must be present and fresh, else the gate cannot evaluate).

Exceptions (``allowlist``) expire: every entry needs ``reason``, ``owner`` and ``expires``
(``YYYY-MM-DD``); an entry without them is a policy error naming the file and the entry's index
(exit 2). An entry is valid **through the end of its ``expires`` day in UTC**: on that day it
still suppresses, from 00:00 UTC the next day it no longer does — the finding blocks again and
the entry is reported as expired. An unexpired entry that matches no finding of the evaluation
is reported as **stale** (:func:`stale_exceptions`): the fix shipped, or the entry's id never
matched; remove it.
``analysis_errors`` (``fail`` | ``warn``) weighs a report whose tool says part of its analysis
failed (Dependency-Check ``scanInfo.analysisExceptions``, e.g. the OSS Index analyzer timed out):
``fail`` → the gate cannot evaluate (exit 2, the failed analyzers named), ``warn`` → a gate rule
that passes with the analyzers named. Unset, it is ``warn`` in ``dev`` and ``fail`` in every other
environment (prod, event, …): a partial analysis is never silently a pass where it matters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import load_yaml_file

from .base import SEVERITIES, SEVERITY_RANK, Finding
from .dbage import VulnDbSettings, merge as merge_db_settings, parse_section as parse_db_section
from .feeds import (EPSS, KEV, NO_EXPLOIT, Exploit, FeedSettings, Feeds, FeedStatus, load_feeds,
                    merge as merge_feed_settings, parse_section as parse_feed_section)

DEFAULT_POLICY = Path(__file__).with_name("policy.default.yaml")
_RULE_KEYS = {"fail_on", "max", "only_new", "quality_gate", "analysis_errors", "kev", "epss"}
ANALYSIS_ERRORS = ("fail", "warn")
#: environments where an unset ``analysis_errors`` only warns (everywhere else it fails)
_WARN_ENVIRONMENTS = ("dev",)
_ENV_KEYS = _RULE_KEYS | {"tools", "required", "vulnerability_db", "feeds"}
_TOP_KEYS = {"version", "defaults", "tools", "environments", "required", "allowlist", "vulnerability_db", "feeds"}
_ALLOW_KEYS = {"id", "fingerprint", "reason", "owner", "expires", "tool"}


@dataclass(frozen=True)
class Rules:
    """The effective rules for one tool in one environment."""

    fail_on: str | None = "HIGH"
    max: dict[str, int] = field(default_factory=dict)
    only_new: bool = False
    quality_gate: bool = True
    analysis_errors: str = "fail"   # fail | warn: see the module docstring
    kev: bool = False               # block a finding listed in CISA's KEV catalog, whatever its severity
    epss: float | None = None       # block a finding whose EPSS probability is >= this, whatever its severity

    def blocks(self, finding: Finding, exploit: Exploit = NO_EXPLOIT) -> bool:
        return bool(self.why_blocking(finding, exploit))

    def why_blocking(self, finding: Finding, exploit: Exploit = NO_EXPLOIT) -> list[str]:
        """The reasons ``finding`` blocks (empty: it does not): severity, in KEV, EPSS ≥ x."""
        why = []
        if exploit.kev and self.kev:
            why.append("in KEV")
        if self.epss is not None and exploit.epss is not None and exploit.epss >= self.epss:
            why.append(f"EPSS {exploit.epss:.3f} ≥ {self.epss:g}")
        if self.fail_on is not None and finding.rank >= SEVERITY_RANK[self.fail_on]:
            why.append(f"{finding.severity} ≥ {self.fail_on}")
        return why

    @property
    def feeds(self) -> set[str]:
        """The feeds these rules use."""
        return ({KEV} if self.kev else set()) | ({EPSS} if self.epss is not None else set())


@dataclass(frozen=True)
class AllowEntry:
    reason: str
    owner: str
    expires: dt.date
    id: str | None = None
    fingerprint: str | None = None
    tool: str | None = None

    def matches(self, f: Finding) -> bool:
        if self.tool and self.tool != f.tool:
            return False
        if self.fingerprint:
            return f.fingerprint == self.fingerprint
        return f.id == self.id

    def expired(self, today: dt.date) -> bool:
        """Valid through the end of ``expires`` (UTC): expired from the next day on."""
        return self.expires < today

    @property
    def label(self) -> str:
        return self.id or f"fingerprint {self.fingerprint}"


@dataclass(frozen=True)
class Policy:
    source: str
    defaults: dict[str, Any]
    tools: dict[str, dict[str, Any]]
    environments: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    allowlist: tuple[AllowEntry, ...]
    vulnerability_db: dict[str, Any] = field(default_factory=dict)   # see scanners/dbage.py
    feeds: dict[str, Any] = field(default_factory=dict)              # see scanners/feeds.py
    #: how reports name the policy: a repository-relative path, never the build machine's absolute
    #: one (see :func:`policy_label`); "" → ``source``
    label: str = ""

    def check_environment(self, env: str) -> None:
        if self.environments and env not in self.environments:
            raise GantryError(self.source, f"environment {env!r} is not in the policy "
                                           f"(known: {', '.join(sorted(self.environments))})")

    def rules_for(self, tool: str, env: str) -> Rules:
        merged: dict[str, Any] = {"fail_on": "HIGH", "max": {}, "only_new": False, "quality_gate": True}
        envd = self.environments.get(env, {})
        for layer in (self.defaults, self.tools.get(tool, {}), {k: v for k, v in envd.items() if k in _RULE_KEYS},
                      envd.get("tools", {}).get(tool, {})):
            merged.update(layer)
        analysis = merged.get("analysis_errors") or ("warn" if env in _WARN_ENVIRONMENTS else "fail")
        return Rules(merged["fail_on"], dict(merged["max"]), merged["only_new"], merged["quality_gate"], analysis,
                     bool(merged.get("kev", False)), merged.get("epss"))

    def feed_settings_for(self, env: str) -> FeedSettings:
        """Top-level ``feeds`` overlaid with ``environments.<env>.feeds``."""
        return merge_feed_settings(self.feeds, self.environments.get(env, {}).get("feeds", {}))

    def feeds_used(self, env: str, tools: Iterable[str] = ()) -> set[str]:
        """The feeds (``kev``, ``epss``) some rule of ``env`` uses: the defaults, every tool the
        policy names and ``tools`` (the tools of the evaluation)."""
        names = set(self.tools) | set(self.environments.get(env, {}).get("tools", {})) | set(tools)
        used = set(self.rules_for("", env).feeds)
        for tool in names:
            used |= self.rules_for(tool, env).feeds
        return used

    def vulnerability_db_for(self, env: str) -> VulnDbSettings:
        """Top-level ``vulnerability_db`` overlaid with ``environments.<env>.vulnerability_db``."""
        return merge_db_settings(self.vulnerability_db, self.environments.get(env, {}).get("vulnerability_db", {}))

    def required_for(self, env: str) -> tuple[str, ...]:
        envd = self.environments.get(env, {})
        return tuple(dict.fromkeys([*self.required, *envd.get("required", [])]))


def _rules(data: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GantryError(where, "expected a mapping")
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise GantryError(where, f"unknown key(s): {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    out: dict[str, Any] = {}
    if "fail_on" in data:
        v = data["fail_on"]
        if v is not None and (not isinstance(v, str) or v.upper() not in SEVERITIES or v.upper() == "UNKNOWN"):
            raise GantryError(f"{where}.fail_on", f"must be one of CRITICAL, HIGH, MEDIUM, LOW, INFO or null, not {v!r}")
        out["fail_on"] = v.upper() if isinstance(v, str) else None
    if "max" in data:
        m = data["max"] or {}
        if not isinstance(m, dict):
            raise GantryError(f"{where}.max", "expected a mapping of severity (or 'total') to a count")
        mx = {}
        for k, n in m.items():
            key = str(k).upper() if str(k).lower() != "total" else "total"
            if key != "total" and key not in SEVERITIES:
                raise GantryError(f"{where}.max", f"unknown severity {k!r}")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise GantryError(f"{where}.max.{k}", f"must be a count >= 0, not {n!r}")
            mx[key] = n
        out["max"] = mx
    if "analysis_errors" in data:
        v = data["analysis_errors"]
        if v not in ANALYSIS_ERRORS:
            raise GantryError(f"{where}.analysis_errors", f"must be fail or warn, not {v!r}")
        out["analysis_errors"] = v
    if "epss" in data:
        v = data["epss"]
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0):
            raise GantryError(f"{where}.epss", f"must be an EPSS probability between 0 and 1 (or null), not {v!r}")
        out["epss"] = float(v) if v is not None else None
    for flag in ("only_new", "quality_gate", "kev"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise GantryError(f"{where}.{flag}", "must be true or false")
            out[flag] = data[flag]
    if "tools" in data:
        tools = data["tools"] or {}
        if not isinstance(tools, dict):
            raise GantryError(f"{where}.tools", "expected a mapping of tool name to rules")
        out["tools"] = {str(t): _rules(r, f"{where}.tools.{t}", _RULE_KEYS) for t, r in tools.items()}
    if "required" in data:
        out["required"] = _names(data["required"], f"{where}.required")
    if "vulnerability_db" in data:
        out["vulnerability_db"] = parse_db_section(data["vulnerability_db"], f"{where}.vulnerability_db")
    if "feeds" in data:
        out["feeds"] = parse_feed_section(data["feeds"], f"{where}.feeds")
    return out


def _names(v: Any, where: str) -> list[str]:
    v = v or []
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise GantryError(where, "expected a list of scanner names")
    return v


def _date(v: Any, where: str) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise GantryError(where, f"expires must be a date YYYY-MM-DD, not {v!r}")


def _allow(items: Any, where: str) -> tuple[AllowEntry, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise GantryError(where, "expected a list of entries")
    out = []
    for i, e in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(e, dict):
            raise GantryError(w, "expected a mapping")
        unknown = sorted(str(k) for k in e if k not in _ALLOW_KEYS)
        if unknown:
            raise GantryError(w, f"unknown key(s): {', '.join(unknown)}")
        ident, fp = e.get("id"), e.get("fingerprint")
        if not (isinstance(ident, str) and ident) and not (isinstance(fp, str) and fp):
            raise GantryError(w, "needs an 'id' or a 'fingerprint'")
        for k in ("reason", "owner"):
            if not isinstance(e.get(k), str) or not e[k].strip():
                raise GantryError(w, f"needs a non-empty '{k}'")
        if "expires" not in e:
            raise GantryError(w, "needs an 'expires' date (YYYY-MM-DD)")
        tool = e.get("tool")
        if tool is not None and not isinstance(tool, str):
            raise GantryError(w, "'tool' must be a scanner name")
        out.append(AllowEntry(e["reason"].strip(), e["owner"].strip(), _date(e["expires"], w),
                              ident if isinstance(ident, str) and ident else None,
                              fp if isinstance(fp, str) and fp else None, tool))
    return tuple(out)


def policy_from_data(data: Any, source: str) -> Policy:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GantryError(source, "policy must be a YAML mapping")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        raise GantryError(source, f"unknown key(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if data.get("version", 1) != 1:
        raise GantryError(f"{source}: version", f"unsupported policy version {data.get('version')!r} (expected 1)")
    tools = data.get("tools") or {}
    if not isinstance(tools, dict):
        raise GantryError(f"{source}: tools", "expected a mapping of tool name to rules")
    envs = data.get("environments") or {}
    if not isinstance(envs, dict):
        raise GantryError(f"{source}: environments", "expected a mapping of environment name to rules")
    return Policy(
        source=source,
        defaults=_rules(data.get("defaults"), f"{source}: defaults", _RULE_KEYS),
        tools={str(t): _rules(r, f"{source}: tools.{t}", _RULE_KEYS) for t, r in tools.items()},
        environments={str(e): _rules(r, f"{source}: environments.{e}", _ENV_KEYS) for e, r in envs.items()},
        required=tuple(_names(data.get("required"), f"{source}: required")),
        allowlist=_allow(data.get("allowlist"), f"{source}: allowlist"),
        vulnerability_db=parse_db_section(data.get("vulnerability_db"), f"{source}: vulnerability_db"),
        feeds=parse_feed_section(data.get("feeds"), f"{source}: feeds"),
    )


def policy_label(path: Path | None, cwd: Path | None = None) -> str:
    """The policy as reports name it, relative to the repository (no build machine's path).

    ``None`` (the packaged default) → ``gantry default policy (scanners/policy.default.yaml)``;
    a file under the working directory (the checked-out repository, Jenkins' workspace) → its
    path relative to it; else relative to the git work tree that holds it (the nearest parent
    with ``.git``); else its file name alone.
    """
    if path is None:
        return "gantry default policy (scanners/policy.default.yaml)"
    p = Path(path)
    try:
        full = p.resolve()
    except OSError:
        return p.name
    if not p.is_absolute() and ".." not in p.parts:
        return p.as_posix()
    try:
        return full.relative_to((cwd or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        pass
    for parent in full.parents:
        if (parent / ".git").exists():
            return full.relative_to(parent).as_posix()
    return full.name


def load_policy(path: Path | None) -> Policy:
    """Read a policy file; ``None`` → the packaged default (fails on CRITICAL and HIGH)."""
    p = Path(path) if path is not None else DEFAULT_POLICY
    policy = policy_from_data(load_yaml_file(p, str(path) if path is not None else "default policy"), str(p))
    return replace(policy, label=policy_label(path))


def utc_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in UTC: the day an allowlist entry's ``expires`` is compared with."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).date()


def load_policy_feeds(policy: Policy, env: str, cache_dir: Path | None, *, tools: Iterable[str] = (),
                      now: dt.datetime | None = None) -> tuple[Feeds, list[FeedStatus]]:
    """The feeds ``policy`` uses in ``env``, from the cache ``cache_dir`` (``gantry feeds pull``),
    each checked against the environment's ``feeds.max_age``.

    Returns (feeds, one status line per used feed); a feed no rule uses is neither read nor
    required. Raises GantryError("feed kev" | "feed epss", …) when a used feed is missing, does
    not parse (KEV: CISA's schema) or is older than ``max_age`` — the caller exits 2.
    """
    return load_feeds(cache_dir, policy.feeds_used(env, tools), policy.feed_settings_for(env), env, now)


def stale_exceptions(policy: Policy, findings: Sequence[Finding], today: dt.date | None = None,
                     tools: Iterable[str] | None = None) -> list[AllowEntry]:
    """The unexpired allowlist entries that match none of ``findings`` (in policy order).

    ``tools``: the tools whose findings these are (default: the findings' own tools); an entry
    scoped to a tool outside them (e.g. a scanner that did not run) is not called stale, since
    nothing shows it no longer matches. Expired entries are reported as expired, not stale.
    """
    today = today or utc_today()
    seen = set(tools) if tools is not None else {f.tool for f in findings}
    out = []
    for a in policy.allowlist:
        if a.expired(today) or (a.tool and a.tool not in seen):
            continue
        if not any(a.matches(f) for f in findings):
            out.append(a)
    return out
