"""The gate: one pure evaluation of parsed reports against a policy → a :class:`Verdict`.

``evaluate`` never raises for bad *inputs*: an unreadable, empty, truncated or unknown report,
a scanner outcome "error", a skipped-or-missing required scanner or an unreadable baseline all
yield a Verdict with ``exit_code`` 2 ("cannot evaluate", a failed gate) and the problem in
``errors``, so the reports still say why. A bad *policy* raises ``GantryError`` earlier, in
``load_policy``. Exit codes: 0 pass, 1 gate failed, 2 cannot evaluate.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import SEVERITIES, Finding, ParsedReport, ScanOutcome, Suppressed, clip
from .dbage import check_db_age
from .policy import AllowEntry, Policy, Rules
from .registry import parse_report

PASS, FAIL, ERROR, SKIPPED = "pass", "fail", "error", "skipped"
MAX_BASELINE_BYTES = 512 * 1024 * 1024


@dataclass(slots=True)
class Evaluated:
    """A finding with what the gate made of it."""

    finding: Finding
    new: bool = True
    allowed_by: AllowEntry | None = None
    counted: bool = True       # counts toward the gate (not allowlisted; new, when only_new)
    blocking: bool = False     # at or above the tool's fail_on threshold and counted


@dataclass
class GateRule:
    """One rule of the gate (one JUnit test case)."""

    name: str
    tool: str
    status: str                # pass | fail | error | skipped
    message: str
    details: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    exit_code: int
    status: str                # pass | fail | error
    summary: str
    environment: str
    policy: str
    findings: list[Evaluated]
    rules: list[GateRule]
    errors: list[str]
    tools: dict[str, str]      # tool → ok | skipped | error | report
    outcomes: list[ScanOutcome]
    reports: list[str]
    expired: list[AllowEntry]
    suppressed: list[Suppressed]
    links: dict[str, str]
    baseline: str | None
    generated_at: str
    duration: float = 0.0

    def counts(self, *, only: str = "counted") -> dict[str, dict[str, int]]:
        """tool → severity → number of findings (``only``: counted | all | blocking | new)."""
        out: dict[str, Counter] = {}
        for e in self.findings:
            if only == "counted" and not e.counted or only == "blocking" and not e.blocking \
                    or only == "new" and not e.new:
                continue
            out.setdefault(e.finding.tool, Counter())[e.finding.severity] += 1
        return {t: {s: c.get(s, 0) for s in SEVERITIES} for t, c in sorted(out.items())}

    @property
    def blocking(self) -> list[Evaluated]:
        return [e for e in self.findings if e.blocking]

    def to_json(self) -> dict:
        return {"exit_code": self.exit_code, "status": self.status, "summary": self.summary,
                "environment": self.environment, "policy": self.policy, "errors": self.errors,
                "tools": self.tools, "reports": self.reports, "baseline": self.baseline,
                "generated_at": self.generated_at,
                "counts": {"total": len(self.findings), "blocking": len(self.blocking),
                           "new": sum(e.new for e in self.findings),
                           "allowlisted": sum(e.allowed_by is not None for e in self.findings),
                           "suppressed_by_scanner": len(self.suppressed), "by_tool": self.counts(only="all")},
                "rules": [{"name": r.name, "tool": r.tool, "status": r.status, "message": r.message}
                          for r in self.rules],
                "expired_allowlist": [{"id": a.id, "fingerprint": a.fingerprint, "owner": a.owner,
                                       "expires": a.expires.isoformat(), "reason": a.reason} for a in self.expired],
                "links": self.links}


def load_baseline(path: Path) -> set[str]:
    """Fingerprints from a previous ``findings.json`` (array, or ``{"findings": [...]}``)."""
    where = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BASELINE_BYTES:
            raise GantryError(where, "baseline is too large")
        if size == 0:
            raise GantryError(where, "empty baseline file")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise GantryError(where, "no such file") from None
    except UnicodeDecodeError:
        raise GantryError(where, "baseline is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise GantryError(where, f"baseline is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except OSError as exc:
        raise GantryError(where, f"cannot read: {exc.strerror or exc}") from None
    items = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise GantryError(where, "baseline must be a findings.json array")
    fps = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise GantryError(where, f"baseline entry {i} has no fingerprint")
        fps.add(item["fingerprint"])
    return fps


def _outcome_reports(outcomes: Iterable[ScanOutcome]) -> list[Path]:
    return [Path(p) for o in outcomes if o.status == "ok" for p in o.reports if not str(p).endswith(".cdx.json")]


def evaluate(reports: Sequence[Path], *, policy: Policy, environment: str = "dev", baseline: Path | None = None,
             outcomes: Sequence[ScanOutcome] = (), licenses: bool = False, today: dt.date | None = None,
             report_format: str | None = None) -> Verdict:
    """Parse ``reports`` (plus the reports of "ok" ``outcomes`` when none are given) and gate them."""
    gc_was_enabled = gc.isenabled()
    gc.disable()   # many long-lived small objects and no cycles: spare the cyclic GC's passes
    try:
        return _evaluate(reports, policy=policy, environment=environment, baseline=baseline, outcomes=outcomes,
                         licenses=licenses, today=today, report_format=report_format)
    finally:
        if gc_was_enabled:
            gc.enable()


def _evaluate(reports: Sequence[Path], *, policy: Policy, environment: str, baseline: Path | None,
              outcomes: Sequence[ScanOutcome], licenses: bool, today: dt.date | None,
              report_format: str | None) -> Verdict:
    start = time.monotonic()
    policy.check_environment(environment)
    today = today or dt.date.today()
    outcomes = list(outcomes)
    errors: list[str] = []
    paths = list(dict.fromkeys(Path(p) for p in (reports or _outcome_reports(outcomes))))
    parsed: list[ParsedReport] = []
    for p in paths:
        try:
            parsed.append(parse_report(p, licenses=licenses, format=report_format))
        except GantryError as exc:
            errors.append(str(exc))
    baseline_fps: set[str] | None = None
    if baseline is not None:
        try:
            baseline_fps = load_baseline(baseline)
        except GantryError as exc:
            errors.append(str(exc))

    # tools and their scanner status
    tools: dict[str, str] = {}
    for o in outcomes:
        tools[o.tool] = o.status
    for r in parsed:
        tools.setdefault(r.tool, "report")
    rules: list[GateRule] = []
    for o in outcomes:
        if o.status == "error":
            errors.append(f"{o.tool}: scanner error: {o.reason or 'no reason given'}")
            rules.append(GateRule("scanner ran", o.tool, ERROR, clip(o.reason or "scanner error", 300)))
        elif o.status == "skipped":
            rules.append(GateRule("scanner ran", o.tool, SKIPPED, "skipped, not passed: " + clip(o.reason or "no reason", 300)))
        else:
            rules.append(GateRule("scanner ran", o.tool, PASS, f"ok in {o.duration:.1f}s"))
    for check in check_db_age(outcomes, policy.vulnerability_db_for(environment), environment):
        rules.append(GateRule("vulnerability DB age", check.tool, PASS if check.ok else ERROR, clip(check.message, 300)))
        if not check.ok:
            errors.append(f"{check.tool}: {check.message}")
    for req in policy.required_for(environment):
        status = tools.get(req)
        if status in (None, "skipped"):
            why = "skipped" if status else "no report and no outcome"
            errors.append(f"{req}: required scanner did not run ({why})")
            rules.append(GateRule("required scanner", req, ERROR, f"required by the policy but {why}"))
    if not parsed and not errors:
        errors.append("no reports to evaluate" + (" (every scanner was skipped)" if outcomes else ""))

    # findings
    allow_active = [a for a in policy.allowlist if not a.expired(today)]
    allow_expired = [a for a in policy.allowlist if a.expired(today)]
    expired_hits: dict[int, int] = {}
    evaluated: list[Evaluated] = []
    suppressed: list[Suppressed] = []
    links: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    rules_cache: dict[str, Rules] = {}
    for r in parsed:
        suppressed.extend(r.suppressed)
        links.update(r.links)
        rl = rules_cache.setdefault(r.tool, policy.rules_for(r.tool, environment))
        for f in r.findings:
            key = (f.tool, f.fingerprint)
            if key in seen:
                continue
            seen.add(key)
            rl = rules_cache.get(f.tool) or rules_cache.setdefault(f.tool, policy.rules_for(f.tool, environment))
            e = Evaluated(f, new=baseline_fps is None or f.fingerprint not in baseline_fps)
            if allow_active or allow_expired:
                e.allowed_by = next((a for a in allow_active if a.matches(f)), None)
                if e.allowed_by is None:
                    for i, a in enumerate(allow_expired):
                        if a.matches(f):
                            expired_hits[i] = expired_hits.get(i, 0) + 1
            e.counted = e.allowed_by is None and (e.new or not rl.only_new)
            e.blocking = e.counted and rl.blocks(f)
            evaluated.append(e)

    # rules per tool
    by_tool: dict[str, list[Evaluated]] = {}
    for e in evaluated:
        by_tool.setdefault(e.finding.tool, []).append(e)
    for r in parsed:
        by_tool.setdefault(r.tool, [])
    for tool in sorted(by_tool):
        items = by_tool[tool]
        rl = rules_cache.get(tool) or policy.rules_for(tool, environment)
        counted = [e for e in items if e.counted]
        blocking = [e for e in counted if e.blocking]
        scope = "new " if rl.only_new and baseline_fps is not None else ""
        if rl.fail_on is None:
            rules.append(GateRule("severity threshold", tool, PASS, "no severity threshold"))
        elif blocking:
            sev = Counter(e.finding.severity for e in blocking)
            rules.append(GateRule("severity threshold", tool, FAIL,
                                  f"{len(blocking)} {scope}finding(s) at or above {rl.fail_on}: "
                                  + ", ".join(f"{sev[s]} {s}" for s in SEVERITIES if sev.get(s)),
                                  [f"{e.finding.severity} {e.finding.id} {e.finding.package or e.finding.target or ''}"
                                   for e in blocking[:50]]))
        else:
            rules.append(GateRule("severity threshold", tool, PASS,
                                  f"no {scope}finding at or above {rl.fail_on} ({len(counted)} counted)"))
        if rl.max:
            sev = Counter(e.finding.severity for e in counted)
            over = [f"{k}: {len(counted) if k == 'total' else sev.get(k, 0)} > {n}" for k, n in rl.max.items()
                    if (len(counted) if k == "total" else sev.get(k, 0)) > n]
            rules.append(GateRule("max counts", tool, FAIL if over else PASS,
                                  "; ".join(over) if over else "within " + ", ".join(f"{k} ≤ {n}" for k, n in rl.max.items())))
        for r in parsed:
            if r.tool == tool:
                for name, ok, detail in r.tool_gates:
                    if rl.quality_gate:
                        rules.append(GateRule(name, tool, PASS if ok else FAIL, detail))
                    else:
                        rules.append(GateRule(name, tool, SKIPPED, f"not enforced by the policy ({detail})"))
    if policy.allowlist:
        used = sum(e.allowed_by is not None for e in evaluated)
        details = [f"{a.label} (owner {a.owner}) expired {a.expires.isoformat()}"
                   + (f", matches {expired_hits[i]} finding(s) again" if expired_hits.get(i) else "")
                   for i, a in enumerate(allow_expired)]
        rules.append(GateRule("allowlist", "policy", PASS,
                              f"{used} finding(s) allowlisted; {len(allow_expired)} expired entr"
                              f"{'y' if len(allow_expired) == 1 else 'ies'} no longer suppress", details))
    for err in errors:
        if not any(r.status == ERROR and r.message in err for r in rules):
            rules.append(GateRule("input readable", "input", ERROR, clip(err, 500)))

    if errors:
        code, status = 2, ERROR
    elif any(r.status == FAIL for r in rules):
        code, status = 1, FAIL
    else:
        code, status = 0, PASS
    v = Verdict(code, status, "", environment, policy.source, evaluated, rules, errors, tools, outcomes,
                [str(p) for p in paths], allow_expired, suppressed, links,
                str(baseline) if baseline is not None else None,
                dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    v.summary = _summary(v)
    v.duration = time.monotonic() - start
    return v


def _summary(v: Verdict) -> str:
    total = len(v.findings)
    skipped = sorted(t for t, s in v.tools.items() if s == "skipped")
    tail = f"; skipped: {', '.join(skipped)}" if skipped else ""
    if v.status == ERROR:
        return f"cannot evaluate: {clip(v.errors[0], 160)}" + (f" (+{len(v.errors) - 1} more)" if len(v.errors) > 1 else "") + tail
    blocking = v.blocking
    sev = Counter(e.finding.severity for e in blocking)
    sevs = ", ".join(f"{sev[s]} {s}" for s in SEVERITIES if sev.get(s))
    if v.status == FAIL:
        failed = [f"{r.tool} {r.name}" for r in v.rules if r.status == FAIL]
        what = f"{len(blocking)} blocking finding(s) ({sevs})" if blocking else ", ".join(failed)
        return f"gate failed: {what} of {total} finding(s){tail}"
    return f"gate passed: {total} finding(s), none blocking{tail}"
