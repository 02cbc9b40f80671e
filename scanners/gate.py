"""The gate: one pure evaluation of parsed reports, outcomes, policy and baseline → a :class:`Verdict`.

:func:`evaluate` does no I/O: reading report files, outcome files and the baseline is
:mod:`scanners.inputs`' job, and every problem found while reading arrives here as an
``input_errors`` line. It never raises for bad *inputs*: an unreadable report, a scanner outcome
"error", a required scanner that was skipped or left no evidence, or an unreadable baseline yield
a Verdict with ``exit_code`` 2 ("cannot evaluate", a failed gate) and the problem in ``errors``,
so the reports still say why. A bad *policy* raises ``GantryError`` earlier, in ``load_policy``;
an environment the policy does not know raises here.

Exit codes: 0 pass, 1 gate failed (the evidence says no), 2 cannot evaluate (no or broken
evidence — including a scanner the policy requires for the environment that was skipped: without
its report the gate cannot say the image is safe, so it is exit 2, never 0, and not 1 because no
finding said no).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import SEVERITIES, Finding, ParsedReport, ScanOutcome, ScanRun, Suppressed, clip
from .baseline import check as check_baseline
from .dbage import check_db_age
from .feeds import LABELS as FEED_LABELS, NO_EXPLOIT, Exploit, Feeds, FeedStatus
from .policy import AllowEntry, Policy, Rules, stale_exceptions, utc_today

PASS, FAIL, ERROR, SKIPPED = "pass", "fail", "error", "skipped"
SBOM_ONLY = "sbom-only"


@dataclass(slots=True)
class Evaluated:
    """A finding with what the gate made of it."""

    finding: Finding
    new: bool = True
    allowed_by: AllowEntry | None = None
    counted: bool = True       # counts toward the gate (not allowlisted; new, when only_new)
    blocking: bool = False     # counted, and at or above fail_on, in KEV (kev: true) or EPSS ≥ epss
    exploit: Exploit = NO_EXPLOIT   # what the KEV/EPSS feeds say about its id (nothing: not loaded)
    why: tuple[str, ...] = ()  # why it blocks, or would block if counted ("in KEV", "EPSS 0.612 ≥ 0.5", "HIGH ≥ HIGH")

    @property
    def priority(self) -> tuple:
        """Sort key, most urgent first: blocking, in KEV, EPSS descending, severity, tool, id."""
        f = self.finding
        return (not self.blocking, not self.exploit.kev, -(self.exploit.epss if self.exploit.epss is not None else -1.0),
                -f.rank, f.tool, f.id)


def by_priority(items: Sequence[Evaluated]) -> list[Evaluated]:
    """``items`` most urgent first (:attr:`Evaluated.priority`): blocking ones, then KEV, EPSS, severity."""
    return sorted(items, key=lambda e: e.priority)


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
    policy: str                # the policy's label: repository-relative (scanners.policy.policy_label)
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
    #: baseline findings gone from this run ("fixed by this PR"), see scanners.baseline
    fixed: list[Finding] = field(default_factory=list)
    #: why there is no baseline (e.g. "main build unreachable: …"); "" when none was asked for
    baseline_note: str = ""
    #: what a reader must know that does not stop the evaluation (e.g. a baseline written by an
    #: older gantry, whose fingerprints cannot match): a line each in the reports and verdict.json
    warnings: list[str] = field(default_factory=list)
    #: unexpired allowlist entries that matched no finding (scanners.policy.stale_exceptions)
    stale: list[AllowEntry] = field(default_factory=list)
    #: the exploit feeds the policy used: one status line each (scanners.feeds.FeedStatus)
    feeds: list[FeedStatus] = field(default_factory=list)
    #: the service evaluated (catalog name), when the caller says: report.sarif's automation id
    service: str | None = None
    #: tool → what its report says it scanned (an image reference, a path), from the reports' links
    artifacts: dict[str, str] = field(default_factory=dict)

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
                "generated_at": self.generated_at, "baseline_note": self.baseline_note, "warnings": self.warnings,
                "counts": {"fixed": len(self.fixed), "total": len(self.findings), "blocking": len(self.blocking),
                           "new": sum(e.new for e in self.findings),
                           "allowlisted": sum(e.allowed_by is not None for e in self.findings),
                           "suppressed_by_scanner": len(self.suppressed), "by_tool": self.counts(only="all")},
                "rules": [{"name": r.name, "tool": r.tool, "status": r.status, "message": r.message}
                          for r in self.rules],
                "expired_allowlist": [_entry_json(a) for a in self.expired],
                "stale_allowlist": [_entry_json(a) for a in self.stale],
                "feeds": [{"name": s.name, "ok": s.ok, "message": s.message,
                           "date": s.date.isoformat() if s.date else None} for s in self.feeds],
                "priority": [_priority_json(e) for e in by_priority(self.findings)[:50]
                             if e.blocking or e.exploit.kev or e.exploit.epss is not None],
                "links": self.links}


def _entry_json(a: AllowEntry) -> dict:
    return {"id": a.id, "fingerprint": a.fingerprint, "tool": a.tool, "owner": a.owner,
            "expires": a.expires.isoformat(), "reason": a.reason}


def _priority_json(e: Evaluated) -> dict:
    return {"tool": e.finding.tool, "id": e.finding.id, "severity": e.finding.severity,
            "package": e.finding.package, "kev": e.exploit.kev, "epss": e.exploit.epss,
            "blocking": e.blocking, "why": list(e.why), "fingerprint": e.finding.fingerprint}


def _scanner_rules(outcomes: Sequence[ScanOutcome], parsed: Sequence[ParsedReport], policy: Policy,
                   environment: str, now: dt.datetime | None = None) -> tuple[dict[str, str], list[GateRule], list[str]]:
    """Which tools ran, one "scanner ran" rule per outcome, and the required-scanner errors."""
    tools: dict[str, str] = {o.tool: o.status for o in outcomes}
    vuln_outcome = {o.tool for o in outcomes if o.status == "ok" and "vuln" in o.scanners}
    evidence: dict[str, bool] = {}
    for r in parsed:
        evidence[r.tool] = evidence.get(r.tool, False) or r.vulnerability_scan or r.tool in vuln_outcome
    rules: list[GateRule] = []
    errors: list[str] = []
    for tool, shown in evidence.items():
        if shown:
            tools.setdefault(tool, "report")
        elif tools.get(tool) in (None, "ok"):
            # an SBOM alone: components listed, but nothing shows they were checked for vulnerabilities
            tools[tool] = SBOM_ONLY
            rules.append(GateRule("scanner ran", tool, SKIPPED, "an SBOM only: no evidence that a "
                                  "vulnerability scan ran (no outcome recording the vuln scanner)"))
    for o in outcomes:
        if o.status == "error":
            errors.append(f"{o.tool}: scanner error: {o.reason or 'no reason given'}")
            rules.append(GateRule("scanner ran", o.tool, ERROR, clip(o.reason or "scanner error", 300)))
        elif o.status == "skipped":
            rules.append(GateRule("scanner ran", o.tool, SKIPPED, "skipped, not passed: " + clip(o.reason or "no reason", 300)))
        else:
            rules.append(GateRule("scanner ran", o.tool, PASS, f"ok in {o.duration:.1f}s"))
    for check in check_db_age(outcomes, policy.vulnerability_db_for(environment), environment, now):
        rules.append(GateRule("vulnerability DB age", check.tool, PASS if check.ok else ERROR, clip(check.message, 300)))
        if not check.ok:
            errors.append(f"{check.tool}: {check.message}")
    for req in policy.required_for(environment):
        status = tools.get(req)
        if status in (None, "skipped", SBOM_ONLY):
            why = {"skipped": "skipped", SBOM_ONLY: "only an SBOM, no evidence of a vulnerability scan"}.get(
                status or "", "no report and no outcome")
            errors.append(f"{req}: required scanner did not run ({why})")
            rules.append(GateRule("required scanner", req, ERROR, f"required by the policy but {why}"))
    return tools, rules, errors


def run_groups(parsed: Sequence[ParsedReport]) -> list[int]:
    """For each report, the tool run it belongs to (reports of one run share the number).

    One tool run archived in several formats (Trivy JSON + SARIF, Dependency-Check JSON + XML +
    SARIF) is one run: its findings are counted once. Reports join the first run whose every
    report is :meth:`~scanners.base.ScanRun.same_run` with them (same tool; same subject, time
    and run id as far as both formats say); reports that do not say which run they are share
    one run per tool (their equal fingerprints are one finding, as before runs were told apart).
    """
    runs: list[list[ScanRun]] = []
    anonymous: dict[str, int] = {}
    out: list[int] = []
    for r in parsed:
        if r.run is None:
            out.append(anonymous.setdefault(r.tool, -1 - len(anonymous)))
            continue
        for i, members in enumerate(runs):
            if all(m.same_run(r.run) for m in members):
                members.append(r.run)
                out.append(i)
                break
        else:
            runs.append([r.run])
            out.append(len(runs) - 1)
    return out


class _Judge:
    """Marks findings new / allowlisted / counted / blocking for one policy and environment."""

    def __init__(self, policy: Policy, environment: str, baseline: set[str] | None, today: dt.date,
                 feeds: Feeds | None) -> None:
        self.policy, self.environment, self.baseline, self.feeds = policy, environment, baseline, feeds
        self.allow_active = [a for a in policy.allowlist if not a.expired(today)]
        self.allow_expired = [a for a in policy.allowlist if a.expired(today)]
        self.expired_hits: dict[int, int] = {}
        self.rules_cache: dict[str, Rules] = {}

    def __call__(self, f: Finding) -> Evaluated:
        rl = self.rules_cache.get(f.tool) or self.rules_cache.setdefault(f.tool, self.policy.rules_for(f.tool, self.environment))
        e = Evaluated(f, new=self.baseline is None or f.fingerprint not in self.baseline)
        if self.allow_active or self.allow_expired:
            e.allowed_by = next((a for a in self.allow_active if a.matches(f)), None)
            if e.allowed_by is None:
                for i, a in enumerate(self.allow_expired):
                    if a.matches(f):
                        self.expired_hits[i] = self.expired_hits.get(i, 0) + 1
        if self.feeds is not None:
            e.exploit = self.feeds.lookup(f.id)
        e.counted = e.allowed_by is None and (e.new or not rl.only_new)
        why = rl.why_blocking(f, e.exploit)
        if why:
            e.why = tuple(why)
            e.blocking = e.counted
        return e


def judge(findings: Sequence[Finding], policy: Policy, environment: str, feeds: Feeds | None = None, *,
          today: dt.date | None = None, baseline: set[str] | None = None) -> list[Evaluated]:
    """Decide, finding by finding, what the gate makes of ``findings`` → most urgent first.

    The same rules as :func:`evaluate` (allowlist with expiry, only-new against ``baseline``
    fingerprints, ``fail_on``, ``kev``, ``epss``) without reports, outcomes or count rules; for
    callers that hold findings (``gantry watch``). ``feeds``: from
    :func:`scanners.policy.load_policy_feeds`; a rule's feed that is not loaded raises
    GantryError("feed <name>", …) (fail closed). ``today`` (UTC) defaults to the current date.
    Sorted by :func:`by_priority`: blocking, then in KEV, then EPSS descending, then severity.
    """
    policy.check_environment(environment)
    missing = _missing_feeds(policy, environment, feeds, {f.tool for f in findings})
    if missing:
        raise GantryError(*missing[0])
    j = _Judge(policy, environment, baseline, today or utc_today(), feeds)
    return by_priority([j(f) for f in findings])


def _missing_feeds(policy: Policy, environment: str, feeds: Feeds | None, tools: set[str]) -> list[tuple[str, str]]:
    """One (``feed <name>``, why) per feed a rule of ``environment`` uses that is not loaded."""
    return [(f"feed {name}", f"the {environment} policy blocks on the {FEED_LABELS[name]} but it was not loaded "
                             f"(gate --feeds DIR, filled by gantry feeds pull)")
            for name in sorted(policy.feeds_used(environment, tools)) if feeds is None or feeds.get(name) is None]


def _classify(parsed: Sequence[ParsedReport], policy: Policy, environment: str, baseline: set[str] | None,
              today: dt.date, feeds: Feeds | None = None) -> tuple[list[Evaluated], dict[int, int], dict[str, Rules]]:
    """Each distinct finding once, marked new / allowlisted / counted / blocking."""
    j = _Judge(policy, environment, baseline, today, feeds)
    evaluated: list[Evaluated] = []
    seen: set[tuple[int, str, str]] = set()
    for r, run in zip(parsed, run_groups(parsed)):
        for f in r.findings:
            key = (run, f.tool, f.fingerprint)
            if key in seen:
                continue
            seen.add(key)
            evaluated.append(j(f))
    return evaluated, j.expired_hits, j.rules_cache


def _where(f: Finding) -> str:
    """The package, else the location with its line (``src/app.py:42``)."""
    if f.package:
        return f.package
    return (f.target or "") + (f":{f.line}" if f.line and f.target else "")


def _exploit_why(e: Evaluated) -> str:
    """`` (in KEV, EPSS 0.612 ≥ 0.5)`` when a feed rule is among the reasons ``e`` blocks, else ""."""
    feed = [w for w in e.why if w.startswith(("in KEV", "EPSS"))]
    return f" ({', '.join(feed)})" if feed else ""


def _threshold_rules(tool: str, items: list[Evaluated], rl: Rules, scoped: bool) -> list[GateRule]:
    """The severity-threshold and max-count rules of one tool."""
    out: list[GateRule] = []
    counted = [e for e in items if e.counted]
    blocking = by_priority([e for e in counted if e.blocking])
    scope = "new " if rl.only_new and scoped else ""
    limits = ([f"at or above {rl.fail_on}"] if rl.fail_on is not None else []) + (["in KEV"] if rl.kev else []) \
        + ([f"EPSS ≥ {rl.epss:g}"] if rl.epss is not None else [])
    if not limits:
        out.append(GateRule("severity threshold", tool, PASS, "no severity threshold"))
    elif blocking:
        sev = Counter(e.finding.severity for e in blocking)
        exploited = sum(e.exploit.kev for e in blocking)
        out.append(GateRule("severity threshold", tool, FAIL,
                            f"{len(blocking)} {scope}finding(s) {' or '.join(limits)}: "
                            + ", ".join(f"{sev[s]} {s}" for s in SEVERITIES if sev.get(s))
                            + (f"; {exploited} in KEV" if exploited else ""),
                            [f"{e.finding.severity} {e.finding.id} {_where(e.finding)}" + _exploit_why(e)
                             for e in blocking[:50]]))
    else:
        out.append(GateRule("severity threshold", tool, PASS,
                            f"no {scope}finding {' or '.join(limits)} ({len(counted)} counted)"))
    if rl.max:
        sev = Counter(e.finding.severity for e in counted)
        over = [f"{k}: {len(counted) if k == 'total' else sev.get(k, 0)} > {n}" for k, n in rl.max.items()
                if (len(counted) if k == "total" else sev.get(k, 0)) > n]
        out.append(GateRule("max counts", tool, FAIL if over else PASS,
                            "; ".join(over) if over else "within " + ", ".join(f"{k} ≤ {n}" for k, n in rl.max.items())))
    return out


def _tool_gate_rules(report: ParsedReport, rl: Rules) -> list[GateRule]:
    """The scanner's own quality gates (SonarQube), enforced only when the policy says so."""
    if rl.quality_gate:
        return [GateRule(name, report.tool, PASS if ok else FAIL, detail) for name, ok, detail in report.tool_gates]
    return [GateRule(name, report.tool, SKIPPED, f"not enforced by the policy ({detail})")
            for name, _ok, detail in report.tool_gates]


def _analysis_rules(parsed: Sequence[ParsedReport], policy: Policy, environment: str) -> tuple[list[GateRule], list[str]]:
    """One "analysis complete" rule per report whose tool says part of its analysis failed.

    The policy's ``analysis_errors`` decides: ``fail`` → an error (exit 2, cannot evaluate) naming
    the failed analyzers; ``warn`` → a passing rule that names them (and the summary says so).
    """
    rules: list[GateRule] = []
    errors: list[str] = []
    for r in parsed:
        if not r.analysis_errors:
            continue
        mode = policy.rules_for(r.tool, environment).analysis_errors
        n = len(r.analysis_errors)
        what = f"{n} analyzer failure(s) reported by the tool: " + "; ".join(r.analysis_errors[:3]) \
            + (" …" if n > 3 else "")
        if mode == "fail":
            msg = clip(f"{Path(r.path).name}: {what} (policy analysis_errors: fail)", 500)
            errors.append(f"{r.tool}: {msg}")
            rules.append(GateRule("analysis complete", r.tool, ERROR, msg, list(r.analysis_errors)))
        else:
            rules.append(GateRule("analysis complete", r.tool, PASS,
                                  clip(f"warning: {Path(r.path).name}: {what} (policy analysis_errors: warn)", 500),
                                  list(r.analysis_errors)))
    return rules, errors


def _allowlist_rule(policy: Policy, evaluated: list[Evaluated], expired_hits: dict[int, int],
                    today: dt.date, stale: list[AllowEntry]) -> GateRule:
    allow_expired = [a for a in policy.allowlist if a.expired(today)]
    used = sum(e.allowed_by is not None for e in evaluated)
    details = [f"{a.label} (owner {a.owner}) expired {a.expires.isoformat()}"
               + (f", matches {expired_hits[i]} finding(s) again" if expired_hits.get(i) else "")
               for i, a in enumerate(allow_expired)]
    details += [f"{a.label} (owner {a.owner}, expires {a.expires.isoformat()}) is stale: it matches no finding"
                for a in stale]
    return GateRule("allowlist", "policy", PASS,
                    f"{used} finding(s) allowlisted; {len(allow_expired)} expired entr"
                    f"{'y' if len(allow_expired) == 1 else 'ies'} no longer suppress; {len(stale)} stale "
                    f"entr{'y' if len(stale) == 1 else 'ies'} match nothing", details)


def evaluate(parsed: Sequence[ParsedReport], outcomes: Sequence[ScanOutcome], policy: Policy,
             baseline: set[str] | None = None, *, environment: str = "dev", input_errors: Sequence[str] = (),
             today: dt.date | None = None, baseline_source: str | None = None,
             now: dt.datetime | None = None, feeds: Feeds | None = None,
             feed_statuses: Sequence[FeedStatus] = ()) -> Verdict:
    """Gate ``parsed`` reports and scanner ``outcomes`` against ``policy`` for ``environment``.

    ``baseline``: fingerprints of an earlier run (``None``: no baseline, every finding is new); a
    :class:`~scanners.baseline.BaselineFingerprints` is checked first (:func:`scanners.baseline.check`:
    fingerprints of an older scheme are left out, ``Verdict.warnings`` says so). Reports of one
    tool run in several formats count each finding once (:func:`run_groups`).
    ``input_errors``: problems met while reading the inputs (each one makes the verdict exit 2).
    ``feeds``: the KEV/EPSS feeds (:func:`scanners.policy.load_policy_feeds`, which checks their
    age; ``feed_statuses`` its status lines, shown as rules): a feed a rule of the environment uses
    that is not loaded makes the verdict exit 2 naming the feed.
    Pure: no file, network or clock access except ``today`` defaulting to the current date in UTC
    (an allowlist entry is valid through its ``expires`` day, UTC) and ``now`` (the vulnerability
    DB's age, see :mod:`scanners.dbage`) to the current time.
    Raises :class:`GantryError` only for an environment the policy does not know.
    """
    start = time.monotonic()
    policy.check_environment(environment)
    now = now or dt.datetime.now(dt.timezone.utc)
    today = today or utc_today(now)
    outcomes = list(outcomes)
    errors = list(input_errors)
    for r in parsed:
        errors.extend(f"{r.path}: {msg}" for msg in r.errors)
    tools, rules, required_errors = _scanner_rules(outcomes, parsed, policy, environment, now)
    errors.extend(required_errors)
    analysis_rules, analysis_errors = _analysis_rules(parsed, policy, environment)
    rules.extend(analysis_rules)
    errors.extend(analysis_errors)
    if not parsed and not errors:
        errors.append("no reports to evaluate" + (" (every scanner was skipped)" if outcomes else ""))

    for st in feed_statuses:
        rules.append(GateRule("exploit feed age", st.name, PASS if st.ok else ERROR, clip(st.message, 300)))
        if not st.ok:
            errors.append(st.message)
    for where, why in _missing_feeds(policy, environment, feeds, {r.tool for r in parsed} | {o.tool for o in outcomes}):
        if not any(err.startswith(where + ":") for err in errors):   # the loader's own error says it already
            errors.append(f"{where}: {why}")
            rules.append(GateRule("exploit feed", where.removeprefix("feed "), ERROR, clip(why, 300)))
    baseline, warnings = check_baseline(baseline, (f for r in parsed for f in r.findings), baseline_source)
    evaluated, expired_hits, rules_cache = _classify(parsed, policy, environment, baseline, today, feeds)
    stale = stale_exceptions(policy, [e.finding for e in evaluated], today,
                             {r.tool for r in parsed if not r.errors}) if policy.allowlist else []
    by_tool: dict[str, list[Evaluated]] = {r.tool: [] for r in parsed}
    for e in evaluated:
        by_tool.setdefault(e.finding.tool, []).append(e)
    for tool in sorted(by_tool):
        rl = rules_cache.get(tool) or policy.rules_for(tool, environment)
        rules.extend(_threshold_rules(tool, by_tool[tool], rl, baseline is not None))
        for r in parsed:
            if r.tool == tool:
                rules.extend(_tool_gate_rules(r, rl))
    if policy.allowlist:
        rules.append(_allowlist_rule(policy, evaluated, expired_hits, today, stale))
    for err in errors:
        if not any(r.status == ERROR and r.message in err for r in rules):
            rules.append(GateRule("input readable", "input", ERROR, clip(err, 500)))

    if errors:
        code, status = 2, ERROR
    elif any(r.status == FAIL for r in rules):
        code, status = 1, FAIL
    else:
        code, status = 0, PASS
    suppressed = [s for r in parsed for s in r.suppressed]
    links: dict[str, str] = {}
    for r in parsed:
        links.update(r.links)
    v = Verdict(code, status, "", environment, policy.label or policy.source, evaluated, rules, errors, tools, outcomes,
                [str(r.path) for r in parsed], [a for a in policy.allowlist if a.expired(today)], suppressed,
                links, baseline_source,
                dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    v.warnings = warnings
    v.stale = stale
    v.artifacts = {r.tool: r.links["artifact"] for r in parsed if r.links.get("artifact")}
    v.feeds = list(feed_statuses)
    v.summary = _summary(v)
    v.duration = time.monotonic() - start
    return v


def _summary(v: Verdict) -> str:
    total = len(v.findings)
    skipped = sorted(t for t, s in v.tools.items() if s == "skipped")
    tail = f"; skipped: {', '.join(skipped)}" if skipped else ""
    warned = sorted({r.tool for r in v.rules if r.name == "analysis complete" and r.status == PASS})
    if warned:
        tail += f"; analysis errors (warn): {', '.join(warned)}"
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
