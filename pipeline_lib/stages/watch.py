"""``gantry watch --env E``: re-scan every digest the environment runs against today's advisories.

For each service the environment's GitOps overlays pin (rendered: :func:`gitops.effect.running_pins`,
what Argo CD deploys), the stage

1. gets the digest's CycloneDX SBOM: the local SBOM cache (``<digest>.cdx.json``, written only
   after verification), else the SBOM attestation stored next to the image, verified with the
   environment's trusted keys (:mod:`pipeline_lib.attest`; an *invalid* one is a problem, exit 2),
   else the image is scanned directly (``trivy image``, which also writes the SBOM to the cache);
2. scans the SBOM with ``trivy sbom`` and today's DB (the policy's ``vulnerability_db`` mirror; its
   age checked by the gate, :mod:`scanners.dbage`), in parallel (one worker per CPU);
3. applies the environment's gate policy (:func:`scanners.gate.evaluate`: thresholds, allowlist;
   the policy's ``required`` scanners are the build's business and are left out);
4. folds the findings into the ledger (:mod:`pipeline_lib.watch.ledger`): ``.gantry/ledger/<env>.json``
   in the GitOps repo, committed through :func:`gitops.git.transact`, or a local ``ledger_file``.

New blocking findings → one Slack message for the run, and GitHub issues per (service,
vulnerability) created/updated/reopened/closed (:mod:`pipeline_lib.watch.issues`). Notifications
go out *before* the ledger is written: a failed notification leaves the ledger as it was, so
the next run tries again (a duplicate message rather than a lost one). Metrics per
env/service/severity go to the Pushgateway when one is configured.

Exit codes (``StageResult.data["exit_code"]``): 0 nothing new, 1 new blocking findings, 2 a
digest could not be evaluated (no SBOM, scan failed, DB too old, bad evidence) or a
notification failed. A service whose overlay pins no digest yet is not deployed there: skipped
and listed (``ServiceScan.skipped``), not a problem.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import ensure_dir, write_atomic
from pipeline_lib.core.reference import check_digest, parse_repository
from pipeline_lib.watch import ledger as lg
from scanners.base import ScanOutcome
from scanners.gate import Verdict, evaluate
from scanners.inputs import read_inputs
from scanners.policy import Policy, load_policy

from . import FAILED, PASSED, StageResult

SLACK_MAX_LINES = 20


@dataclass(frozen=True)
class WatchOptions:
    """Everything one watch run uses.

    ``repo``: the GitOps repository URL (None: the catalog's); ``ledger_file``: keep the ledger
    in this local file instead of the GitOps repo; ``sbom_cache``: verified SBOMs by digest;
    ``work_dir``: where scan reports go (None: a temporary directory); ``skip_db_update``: scan
    with the DB already in the scanner's cache (its age is still checked); ``dry_run``:
    nothing is written, sent or pushed. ``now``: the run's time (tests).
    """

    catalog: Catalog
    environment: str
    repo: str | None = None
    branch: str | None = None
    ledger_file: Path | None = None
    policy: Path | None = None
    sbom_cache: Path | None = None
    work_dir: Path | None = None
    skip_db_update: bool = False
    dry_run: bool = False
    slack_webhook_url: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    pushgateway_url: str | None = None
    pushgateway_username: str | None = None
    pushgateway_password: str | None = field(default=None, repr=False)
    writers: Any = None
    now: dt.datetime | None = None
    workers: int = 0
    #: re-upload each digest's findings as SARIF to its service's GitHub code scanning, on the
    #: commit and ref its verified provenance names, so alerts the running digest no longer has close
    code_scanning: bool = False
    code_scanning_timeout: float = 300.0
    #: the KEV/EPSS feed cache (``gantry feeds pull``); needed only when the policy's rules use a feed
    feeds_dir: Path | None = None
    #: the environment the CLI read: the scanner's binary and cache directory
    settings: Any = field(default=None, repr=False, compare=False)


@dataclass
class ServiceScan:
    """One service's evaluation: its pin, SBOM source, verdict and problems (cannot evaluate)."""

    service: str
    image: str = ""
    repository: str = ""
    digest: str = ""
    sbom_source: str = ""
    verdict: Verdict | None = None
    problems: list[str] = field(default_factory=list)
    #: ``(commit, ref)`` of the build, from the digest's verified provenance (code scanning)
    source: tuple[str, str] | None = None
    #: why the service was not scanned although nothing is wrong (its overlay pins no digest yet:
    #: not deployed to the environment); "" when it was scanned
    skipped: str = ""

    @property
    def evaluated(self) -> bool:
        return not self.problems and self.verdict is not None and self.verdict.exit_code != 2

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "image": self.image, "digest": self.digest, "sbom": self.sbom_source,
                "evaluated": self.evaluated, "skipped": self.skipped or None, "problems": self.problems,
                "blocking": len(self.verdict.blocking) if self.verdict else None,
                "findings": len(self.verdict.findings) if self.verdict else None}


@dataclass
class WatchReport:
    environment: str
    exit_code: int
    scans: list[ServiceScan]
    recorded: lg.Recorded | None
    new_blocking: list[lg.Entry]
    slack: str = "not needed"
    issues: dict[str, list[str]] = field(default_factory=dict)
    ledger: str = ""
    ledger_commit: str | None = None
    metrics: str = "not configured"
    problems: list[str] = field(default_factory=list)
    code_scanning: dict[str, list[str]] = field(default_factory=dict)
    #: allowlist entries that match nothing any running digest has (every digest evaluated), and
    #: expired ones that match something again: "<id> (owner …, expires …)"
    stale_exceptions: list[str] = field(default_factory=list)
    expired_exceptions: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        bad = [s.service for s in self.scans if not s.evaluated and not s.skipped]
        skipped = [s.service for s in self.scans if s.skipped]
        head = (f"{self.environment}: {len(self.scans) - len(skipped)} digest(s), "
                f"{len(self.new_blocking)} new blocking finding(s)")
        if self.recorded is not None:
            head += f", {len(self.recorded.of('fixed'))} fixed"
        if skipped:
            head += f"; not deployed (no digest pinned), skipped: {', '.join(skipped)}"
        if bad or self.problems:
            head += f"; cannot evaluate: {', '.join(bad) or self.problems[0]}"
        return head

    def to_json(self) -> dict[str, Any]:
        changes = [{"kind": c.kind, "repository": c.entry.repository, "package": c.entry.package,
                    "vulnerability": c.entry.vulnerability, "state": c.entry.state}
                   for c in (self.recorded.changes if self.recorded else [])]
        return {"environment": self.environment, "exit_code": self.exit_code, "summary": self.summary,
                "services": [s.to_json() for s in self.scans], "changes": changes,
                "new_blocking": [e.to_json() for e in self.new_blocking], "slack": self.slack,
                "issues": self.issues, "ledger": self.ledger, "ledger_commit": self.ledger_commit,
                "metrics": self.metrics, "problems": self.problems, "code_scanning": self.code_scanning,
                "stale_exceptions": self.stale_exceptions, "expired_exceptions": self.expired_exceptions}


# ---------------------------------------------------------------------------------------
# policy, observations
# ---------------------------------------------------------------------------------------

def watch_policy(policy: Policy, environment: str) -> Policy:
    """The gate policy without its ``required`` scanners: watch runs one scanner on an SBOM; which
    scanners a build must run is the build gate's rule, not evidence about the running digest."""
    envs = {name: {k: v for k, v in body.items() if k != "required"} for name, body in policy.environments.items()}
    return replace(policy, required=(), environments=envs)


def observations(verdict: Verdict, repository: str, service: str) -> list[lg.Observation]:
    """The verdict's vulnerability findings as ledger observations of ``repository``."""
    out = []
    for e in verdict.findings:
        f = e.finding
        if f.kind != "vulnerability" or not f.package:
            continue
        out.append(lg.Observation(repository, f.package, f.id, f.severity, service, e.blocking,
                                  e.allowed_by is not None, f.installed_version or "", f.fixed_version or "",
                                  f.title or ""))
    return out


@dataclass(frozen=True)
class PolicyFeeds:
    """The KEV/EPSS feeds the policy's rules use (:func:`scanners.policy.load_policy_feeds`), read
    once per run; ``error``: a used feed missing or stale (every digest: cannot evaluate)."""

    feeds: Any = None
    statuses: tuple[Any, ...] = ()
    error: str = ""


def policy_feeds(policy: Policy, environment: str, feeds_dir: Path | None, now: dt.datetime) -> PolicyFeeds:
    from scanners.policy import load_policy_feeds
    from scanners.rescan import TOOL
    if not policy.feeds_used(environment, {TOOL}):
        return PolicyFeeds()
    try:
        feeds, statuses = load_policy_feeds(policy, environment, feeds_dir, tools={TOOL}, now=now)
    except GantryError as exc:
        return PolicyFeeds(error=str(exc))
    return PolicyFeeds(feeds, tuple(statuses))


def evaluate_outcome(outcome: ScanOutcome, policy: Policy, environment: str, now: dt.datetime,
                     feeds: PolicyFeeds = PolicyFeeds()) -> Verdict:
    """Gate one scan outcome (its reports read from disk) under ``environment``'s watch policy."""
    inputs = read_inputs([], [outcome])
    errors = [*inputs.errors, *([feeds.error] if feeds.error else [])]
    return evaluate(inputs.parsed, inputs.outcomes, policy, environment=environment,
                    input_errors=errors, today=now.date(), now=now, feeds=feeds.feeds,
                    feed_statuses=feeds.statuses)


# ---------------------------------------------------------------------------------------
# SBOMs and scans
# ---------------------------------------------------------------------------------------

def cached_sbom_path(cache: Path, digest: str) -> Path:
    return cache / f"{check_digest(digest).replace(':', '-')}.cdx.json"


def _attested(catalog: Catalog, environment: str, image: str, digest: str,
              kinds: tuple[str, ...]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The verified predicates of ``image@digest`` for ``kinds`` (kind → predicate; a kind without
    an attestation is absent) and problems (an invalid bundle of one of ``kinds``)."""
    from pipeline_lib.attest.enforce import trusted_for
    from pipeline_lib.attest.store import fetch_bundles
    from pipeline_lib.attest.verify import check_evidence
    from pipeline_lib.image.registry import registry_for

    trusted = trusted_for(catalog, environment)
    if not trusted:
        return {}, []
    name = parse_repository(image, "pinned image")
    got = fetch_bundles(registry_for(name.host), name.repository, digest)
    ev = check_evidence(digest, got.bundles, trusted, kinds, environment)
    found = {k: ev.verified[k][0].predicate for k in kinds if ev.verified.get(k)}
    bad = [p for p in [*got.problems, *ev.problems] if p.split(":", 1)[0] in kinds and "missing:" not in p]
    return found, bad


def _source(predicate: dict[str, Any]) -> tuple[str, str] | None:
    """``(commit, ref)`` a verified SLSA provenance names (None: it names no commit and ref)."""
    params = (predicate.get("buildDefinition") or {}).get("externalParameters") or {}
    commit, ref = params.get("commit"), params.get("ref")
    return (commit, ref) if isinstance(commit, str) and isinstance(ref, str) and commit and ref else None


def _scan_service(opts: WatchOptions, policy: Policy, svc: str, pin: Any, cache: Path, work: Path,
                  now: dt.datetime, feeds: PolicyFeeds) -> ServiceScan:
    from scanners import rescan

    scan = ServiceScan(svc)
    try:
        if not pin.name or not pin.digest:   # in the overlay but never deployed by digest: nothing runs
            scan.skipped = f"no digest pinned in {opts.environment}: not deployed"
            return scan
        scan.image, scan.digest = pin.name, check_digest(pin.digest, f"{svc} pinned digest")
        scan.repository = parse_repository(pin.name, f"{svc} pinned image").repository
        out = work / svc
        path = cached_sbom_path(cache, scan.digest)
        db = policy.vulnerability_db_for(opts.environment)
        tool = rescan.tool_options(opts.settings, skip_db_update=opts.skip_db_update)
        cached = path.is_file()
        kinds = (() if cached else ("sbom",)) + (("provenance",) if opts.code_scanning else ())
        found, bad = _attested(opts.catalog, opts.environment, scan.image, scan.digest, kinds) if kinds else ({}, [])
        if bad:
            scan.problems.extend(f"{svc}: {p}" for p in bad)
            return scan
        if cached:
            scan.sbom_source = "cache"
        elif "sbom" in found:
            scan.sbom_source = "attestation"
            write_atomic(path, json.dumps(found["sbom"], sort_keys=True))
        scan.source = _source(found.get("provenance") or {})
        if scan.sbom_source:
            outcome = rescan.scan_sbom(path, out, db, **tool)
        else:
            scan.sbom_source = "generated"
            outcome = rescan.scan_image(f"{scan.image}@{scan.digest}", out, db, **tool)
            if outcome.status == "ok":
                shutil.copyfile(out / rescan.SBOM_NAME, path.with_name(f".{path.name}.partial"))
                os.replace(path.with_name(f".{path.name}.partial"), path)
        scan.verdict = evaluate_outcome(outcome, policy, opts.environment, now, feeds)
        scan.verdict.service = svc   # report.sarif's category: gantry/<service>/<env>/, as the build's
        if scan.verdict.exit_code == 2:
            scan.problems.extend(f"{svc}: {e}" for e in scan.verdict.errors)
    except GantryError as exc:
        scan.problems.append(f"{svc}: {exc}")
    except OSError as exc:
        scan.problems.append(f"{svc}: {exc.strerror or exc}")
    return scan


# ---------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------

def slack_text(environment: str, entries: list[lg.Entry], digests: dict[str, str]) -> str:
    lines = [f":rotating_light: gantry watch: {len(entries)} new blocking finding(s) in what {environment} runs"]
    for e in entries[:SLACK_MAX_LINES]:
        svcs = ", ".join(f"{s} ({digests.get(s, '?')[:19]})" for s in e.services)
        fix = f", fixed in {e.fixed_version}" if e.fixed_version else ", no fix yet"
        lines.append(f"• {e.vulnerability} {e.severity} in {e.package} {e.installed_version}{fix}: {svcs}")
    if len(entries) > SLACK_MAX_LINES:
        lines.append(f"… and {len(entries) - SLACK_MAX_LINES} more (see the GitHub issues)")
    return "\n".join(lines)


def wanted_issues(catalog: Catalog, environment: str, ledger: lg.Ledger, scans: list[ServiceScan]) -> list:
    """One issue per (service, vulnerability) with an open blocking entry on an evaluated digest."""
    from pipeline_lib.watch.issues import WantedIssue
    digests = {s.service: s.digest for s in scans if s.evaluated}
    grouped: dict[tuple[str, str], list[lg.Entry]] = {}
    for e in ledger.open():
        if not e.blocking:
            continue
        for svc in e.services:
            if svc in digests:
                grouped.setdefault((svc, e.vulnerability), []).append(e)
    out = []
    for (svc, vid), entries in sorted(grouped.items()):
        top = entries[0]
        rows = "\n".join(f"| `{e.package}` | {e.installed_version} | {e.fixed_version or 'none yet'} | {e.severity} "
                         f"| {e.first_seen} |" for e in entries)
        body = (f"**{vid}** ({top.severity}) is in the image {svc} runs in **{environment}**.\n\n"
                f"- image: `{top.repository}@{digests[svc]}`\n- {top.title}\n\n"
                f"| package | installed | fixed in | severity | first seen |\n|---|---|---|---|---|\n{rows}\n\n"
                f"gantry watch closes this issue when the digest {environment} runs no longer has it.")
        out.append(WantedIssue(catalog.service(svc).repo, environment, svc, vid,
                               f"[{environment}] {svc}: {vid} ({top.severity}) in {top.package}", body))
    return out


def _figures(report: WatchReport, ledger: lg.Ledger, now: dt.datetime) -> Any:
    from pipeline_lib.metrics.watch import ServiceFigures, WatchFigures
    services = {s.service: ServiceFigures() for s in report.scans}
    new = {e.key for e in report.new_blocking}
    if report.recorded is not None:
        new |= {c.entry.key for c in report.recorded.changes if c.kind in ("new", "reopened")}
    for e in ledger.open():
        age = max(0.0, (now - lg.parse_stamp(e.first_seen)).total_seconds())
        for svc in e.services:
            f = services.setdefault(svc, ServiceFigures())
            f.open[e.severity] = f.open.get(e.severity, 0) + 1
            if e.blocking:
                f.blocking[e.severity] = f.blocking.get(e.severity, 0) + 1
            if e.key in new:
                f.new[e.severity] = f.new.get(e.severity, 0) + 1
            f.oldest[e.severity] = max(f.oldest.get(e.severity, 0.0), age)
    return WatchFigures(report.environment, services, time.time(), report.exit_code != 2)


# ---------------------------------------------------------------------------------------
# the ledger's storage
# ---------------------------------------------------------------------------------------

def read_ledger_file(path: Path, environment: str) -> lg.Ledger:
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise GantryError(str(path), f"cannot read the ledger: {exc.strerror or exc}") from None
    return lg.loads(text, environment, str(path))


def commit_ledger(url: str, branch: str, environment: str, apply: Callable[[lg.Ledger], lg.Recorded],
                  message: str, *, workdir: Path | None = None, writers: Any = None) -> str | None:
    """Re-read the ledger at the remote tip, ``apply`` the batch (pure, so a retried push
    re-applies it to the newer ledger) and commit ``.gantry/ledger/<env>.json``. None when the
    file is unchanged."""
    from gitops.git import transact
    rel = lg.ledger_path(environment)

    def change(wd: Path) -> tuple[str, list[str], object] | None:
        path = wd / rel
        current = lg.loads(_read(path), environment, rel)
        after = apply(current).ledger
        if not lg.worth_writing(current, after):
            return None   # nothing to record (an empty ledger is not committed either)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lg.dumps(after))
        return message, [rel], None

    tx = transact(url, change, branch=branch, workdir=workdir, synced=workdir is not None, writers=writers)
    return tx.commit


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

def run(opts: WatchOptions) -> StageResult:
    """Watch ``opts.environment`` once (see the module docstring). Raises GantryError for bad
    input (unknown environment, unreadable catalog/policy/ledger, GitOps repo unreachable)."""
    from gitops.effect import running_pins
    from gitops.git import checkout

    start = time.monotonic()
    now = (opts.now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    env = opts.environment
    policy = watch_policy(load_policy(opts.policy), env)
    policy.check_environment(env)
    services = opts.catalog.services_in(env)
    if not services:
        raise GantryError("watch", f"no catalog service is deployed to {env!r}")
    url = opts.repo or opts.catalog.gitops_repo
    branch = opts.branch or opts.catalog.gitops_branch
    for directory, flag in ((opts.sbom_cache, "--sbom-cache"), (opts.work_dir, "--report-dir")):
        if directory is not None:   # before anything slow: a path that cannot be a directory is bad input
            ensure_dir(directory, f"watch: {flag}")
    tmp = Path(tempfile.mkdtemp(prefix="gantry-watch-"))
    try:
        work = checkout(url, branch, tmp / "repo")
        pins = running_pins(work, [(s, s.environment(env)) for s in services])
        ledger = (read_ledger_file(opts.ledger_file, env) if opts.ledger_file
                  else lg.loads(_read(work / lg.ledger_path(env)), env, lg.ledger_path(env)))
        cache = ensure_dir(opts.sbom_cache or tmp / "sboms")
        reports = opts.work_dir or tmp / "reports"
        print(f"watch {env}: scanning {len(services)} running digest(s)", file=sys.stderr)
        workers = opts.workers or min(len(services), os.cpu_count() or 1)
        feeds = policy_feeds(policy, env, opts.feeds_dir, now)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            scans = list(pool.map(lambda sp: _scan_service(opts, policy, sp[0].name, sp[1], cache, reports, now,
                                                           feeds), zip(services, pins)))
        report = _conclude(opts, env, scans, ledger, now, url, branch, work)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    status = PASSED if report.exit_code == 0 else FAILED
    return StageResult("watch", status, report.summary, time.monotonic() - start,
                       data={"exit_code": report.exit_code}, value=report)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _conclude(opts: WatchOptions, env: str, scans: list[ServiceScan], ledger: lg.Ledger, now: dt.datetime,
              url: str, branch: str, work: Path) -> WatchReport:
    obs = [o for s in scans if s.evaluated and s.verdict for o in observations(s.verdict, s.repository, s.service)]
    scope = {s.repository for s in scans if s.evaluated}
    recorded = lg.record(ledger, obs, seen=now, scope=scope)
    problems = [p for s in scans for p in s.problems]
    report = WatchReport(env, 2 if problems else (1 if recorded.new_blocking else 0), scans, recorded,
                         recorded.new_blocking, problems=problems)
    report.stale_exceptions, report.expired_exceptions = exception_notes(scans)
    digests = {s.service: s.digest for s in scans}
    notified = True
    if report.new_blocking:
        if opts.dry_run:
            report.slack = "dry run: not sent"
        elif not opts.slack_webhook_url:
            report.slack = "not configured (SLACK_WEBHOOK_URL): no message sent"
            print(f"gantry: watch: {report.slack}", file=sys.stderr)
        else:
            from pipeline_lib.notify.slack import post_slack
            try:
                post_slack(opts.slack_webhook_url, slack_text(env, report.new_blocking, digests))
                report.slack = "sent"
            except GantryError as exc:
                report.slack, notified = f"failed: {exc}", False
    if opts.github_token and not opts.dry_run:
        from pipeline_lib.core.github import GitHubClient
        from pipeline_lib.watch.issues import sync
        scope_services: dict[str, list[str]] = {}
        for s in scans:
            if s.evaluated:
                scope_services.setdefault(opts.catalog.service(s.service).repo, []).append(s.service)
        try:
            result = sync(GitHubClient(opts.github_token, opts.github_api_url),
                          wanted_issues(opts.catalog, env, recorded.ledger, scans), environment=env,
                          scope=scope_services,
                          close_comment=f"The digest {env} runs no longer has this vulnerability "
                                        f"(gantry watch, {lg.stamp(now)}): closing.")
            report.issues = result.to_json()
        except GantryError as exc:
            report.issues = {"failed": [str(exc)]}
            notified = False
    if opts.code_scanning and opts.github_token and not opts.dry_run:
        report.code_scanning = _reupload(opts, scans)
        notified = notified and "failed" not in report.code_scanning
    if not notified:
        report.problems.append("a notification failed: the ledger is left as it was, the next run retries")
        report.exit_code = 2
    elif opts.dry_run:
        report.ledger = "dry run: not written"
    else:
        _write_ledger(opts, env, report, obs, scope, now, url, branch, work)
    if opts.pushgateway_url and not opts.dry_run:
        from pipeline_lib.metrics.watch import push
        try:
            push(opts.pushgateway_url, _figures(report, recorded.ledger, now),
                 username=opts.pushgateway_username, password=opts.pushgateway_password)
            report.metrics = "pushed"
        except GantryError as exc:
            report.metrics = f"push failed: {exc}"
            print(f"gantry: {exc}", file=sys.stderr)
    return report


def exception_notes(scans: list[ServiceScan]) -> tuple[list[str], list[str]]:
    """(stale, expired) allowlist entries across the environment: stale when no running digest
    has a finding it matches (said only when every digest was evaluated); expired when one does."""
    verdicts = [s.verdict for s in scans if s.verdict is not None]
    if not verdicts:
        return [], []
    label = lambda a: f"{a.label} (owner {a.owner}, expires {a.expires.isoformat()})"  # noqa: E731
    stale: list[str] = []
    if all(s.evaluated or s.skipped for s in scans):
        common = set(verdicts[0].stale).intersection(*(set(v.stale) for v in verdicts[1:]))
        stale = [label(a) for a in verdicts[0].stale if a in common]
    hit = {id(a): a for v in verdicts for e in v.findings for a in v.expired if a.matches(e.finding)}
    return stale, [label(a) for a in hit.values()]


def _reupload(opts: WatchOptions, scans: list[ServiceScan]) -> dict[str, list[str]]:
    """Upload each evaluated digest's SARIF (:func:`scanners.formats.sarif.render` of its verdict)
    to its service's repository, on the commit/ref of its provenance. ``{"uploaded": [...],
    "skipped": [...], "failed": [...]}`` (a digest without provenance is skipped, and says so)."""
    from scanners.formats.sarif import render

    from .code_scanning import upload_sarif
    out: dict[str, list[str]] = {"uploaded": [], "skipped": [], "failed": []}
    for scan in scans:
        if not scan.evaluated or scan.verdict is None:
            continue
        if scan.source is None:
            out["skipped"].append(f"{scan.service}: no verified provenance names the commit it was built from")
            continue
        commit, ref = scan.source
        repo = opts.catalog.service(scan.service).repo
        try:
            sarif = write_atomic(Path(tempfile.mkdtemp(prefix="gantry-watch-sarif-")) / "report.sarif",
                                 render(scan.verdict))
            upload_sarif(repo, commit, ref, sarif, api_url=opts.github_api_url, timeout=opts.code_scanning_timeout,
                         quiet=True, token=opts.github_token)
            shutil.rmtree(sarif.parent, ignore_errors=True)
            out["uploaded"].append(f"{scan.service}: {repo}@{commit[:12]} {ref}")
        except GantryError as exc:
            out["failed"].append(f"{scan.service}: {exc}")
    return {k: v for k, v in out.items() if v}


def _write_ledger(opts: WatchOptions, env: str, report: WatchReport, obs: list[lg.Observation], scope: set[str],
                  now: dt.datetime, url: str, branch: str, work: Path) -> None:
    assert report.recorded is not None
    if opts.ledger_file:
        text = lg.dumps(report.recorded.ledger)
        if lg.worth_writing(read_ledger_file(opts.ledger_file, env), report.recorded.ledger):
            write_atomic(opts.ledger_file, text)
        report.ledger = str(opts.ledger_file)
        return
    counts = {k: len(report.recorded.of(k)) for k in ("new", "reopened", "fixed")}
    message = (f"watch: {env} ledger: {counts['new']} new, {counts['reopened']} reopened, {counts['fixed']} fixed "
               f"({len(report.scans)} digests, {lg.stamp(now)})")
    report.ledger = f"{url} {lg.ledger_path(env)}"
    report.ledger_commit = commit_ledger(url, branch, env, lambda led: lg.record(led, obs, seen=now, scope=scope),
                                         message, workdir=work, writers=opts.writers)


def ledger_import(catalog: Catalog, report: Path, *, environment: str, service: str, policy: Path | None = None,
                  ledger_file: Path | None = None, repo: str | None = None, dry_run: bool = False,
                  writers: Any = None, feeds_dir: Path | None = None) -> tuple[lg.Recorded, str]:
    """:func:`import_report` into the local ``ledger_file`` or the GitOps repo's ledger (committed);
    the report's image is the service's repository in ``environment`` (catalog). Returns what
    changed and where the ledger is. Nothing is written when nothing changed, or ``dry_run``."""
    svc = catalog.service(service)
    repository = svc.environment(environment).ecr_repository
    seen = _report_time(report) or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if ledger_file is not None:
        before = read_ledger_file(ledger_file, environment)
        recorded, _ = import_report(report, environment=environment, repository=repository, service=svc.name,
                                    policy=policy, ledger=before, seen=seen, feeds_dir=feeds_dir)
        text = lg.dumps(recorded.ledger)
        if not dry_run and _read(ledger_file) != text:
            write_atomic(ledger_file, text)
        return recorded, str(ledger_file)
    from gitops.git import checkout
    url = repo or catalog.gitops_repo
    tmp = Path(tempfile.mkdtemp(prefix="gantry-ledger-"))
    try:
        work = checkout(url, catalog.gitops_branch, tmp / "repo")
        rel = lg.ledger_path(environment)
        recorded, obs = import_report(report, environment=environment, repository=repository, service=svc.name,
                                      policy=policy, ledger=lg.loads(_read(work / rel), environment, rel), seen=seen,
                                      feeds_dir=feeds_dir)
        if not dry_run:
            commit_ledger(url, catalog.gitops_branch, environment, lambda led: lg.record(led, obs, seen=seen),
                          f"watch: {environment} ledger: import {report.name} ({svc.name})", workdir=work,
                          writers=writers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return recorded, f"{url} {lg.ledger_path(environment)}"


def import_report(report: Path, *, environment: str, repository: str, service: str, policy: Path | None,
                  ledger: lg.Ledger, seen: dt.datetime | None = None,
                  feeds_dir: Path | None = None) -> tuple[lg.Recorded, list[lg.Observation]]:
    """Fold one build's scan report (Trivy JSON/SARIF/CycloneDX with vulnerabilities) into
    ``ledger`` as findings of ``repository`` (host-less, e.g. ``shop/storefront``) for ``service``.

    ``seen``: the report's own time (Trivy's ``CreatedAt``) when it records one, else now, so
    importing the same report again changes nothing (the policy — thresholds, allowlist expiry —
    is applied as of today). An import never marks anything fixed (a
    build report is no proof of what runs). Raises GantryError for an unreadable report.
    """
    from scanners.inputs import read_inputs as read
    pol = watch_policy(load_policy(policy), environment)
    pol.check_environment(environment)
    inputs = read([report])
    if inputs.errors:
        raise GantryError("watch ledger-import", inputs.errors[0])
    when = seen or _report_time(report) or dt.datetime.now(dt.timezone.utc)
    today = dt.datetime.now(dt.timezone.utc)   # the policy as it stands today (an expired exception blocks)
    feeds = policy_feeds(pol, environment, feeds_dir, today)
    if feeds.error:
        raise GantryError("watch ledger-import", feeds.error)
    verdict = evaluate(inputs.parsed, [], pol, environment=environment, today=today.date(), now=today,
                       feeds=feeds.feeds, feed_statuses=feeds.statuses)
    if verdict.errors:
        raise GantryError("watch ledger-import", verdict.errors[0])
    obs = observations(verdict, repository, service)
    return lg.record(ledger, obs, seen=when), obs


def _report_time(report: Path) -> dt.datetime | None:
    """Trivy JSON's ``CreatedAt`` (read from the file's head), else None."""
    import re
    try:
        with report.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    m = re.search(r'"CreatedAt"\s*:\s*"([^"]+)"', head)
    if not m:
        return None
    try:
        t = dt.datetime.fromisoformat(re.sub(r"\.\d+", "", m.group(1)).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
