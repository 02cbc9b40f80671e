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

Layers, later wins: ``defaults`` < ``tools.<t>`` < ``environments.<e>`` < ``environments.<e>.tools.<t>``.
``fail_on`` is a severity or ``null`` (never fail on severity alone). An allowlist entry whose
``expires`` date has passed no longer suppresses anything and is reported as expired.
``analysis_errors`` (``fail`` | ``warn``) weighs a report whose tool says part of its analysis
failed (Dependency-Check ``scanInfo.analysisExceptions``, e.g. the OSS Index analyzer timed out):
``fail`` → the gate cannot evaluate (exit 2, the failed analyzers named), ``warn`` → a gate rule
that passes with the analyzers named. Unset, it is ``warn`` in ``dev`` and ``fail`` in every other
environment (prod, event, …): a partial analysis is never silently a pass where it matters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import load_yaml_file

from .base import SEVERITIES, SEVERITY_RANK, Finding
from .dbage import VulnDbSettings, merge as merge_db_settings, parse_section as parse_db_section

DEFAULT_POLICY = Path(__file__).with_name("policy.default.yaml")
_RULE_KEYS = {"fail_on", "max", "only_new", "quality_gate", "analysis_errors"}
ANALYSIS_ERRORS = ("fail", "warn")
#: environments where an unset ``analysis_errors`` only warns (everywhere else it fails)
_WARN_ENVIRONMENTS = ("dev",)
_ENV_KEYS = _RULE_KEYS | {"tools", "required", "vulnerability_db"}
_TOP_KEYS = {"version", "defaults", "tools", "environments", "required", "allowlist", "vulnerability_db"}
_ALLOW_KEYS = {"id", "fingerprint", "reason", "owner", "expires", "tool"}


@dataclass(frozen=True)
class Rules:
    """The effective rules for one tool in one environment."""

    fail_on: str | None = "HIGH"
    max: dict[str, int] = field(default_factory=dict)
    only_new: bool = False
    quality_gate: bool = True
    analysis_errors: str = "fail"   # fail | warn: see the module docstring

    def blocks(self, finding: Finding) -> bool:
        return self.fail_on is not None and finding.rank >= SEVERITY_RANK[self.fail_on]


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
        return Rules(merged["fail_on"], dict(merged["max"]), merged["only_new"], merged["quality_gate"], analysis)

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
    for flag in ("only_new", "quality_gate"):
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
