"""The ``Gate`` stage: read the scan evidence, evaluate it against the policy, write the reports.

Jenkinsfile: ``gantry gate --outcomes "$REPORTS/scans" --env "$TARGET_ENV" --service "$SERVICE"
--report-dir "$REPORTS/gate" --baseline-from-jenkins auto``. The KEV/EPSS feeds are read from
``feeds_dir`` only when the policy's rules use them (a missing or stale one: exit 2, the reports say
which). ``auto``: a pull-request job (``{env}/{service}-pr``,
jobs/templates.yaml) compares with its main-branch job ``{env}/{service}`` (:func:`baseline_job`);
a main-branch job has no baseline. Exit codes (``StageResult.data["exit_code"]``): 0 pass, 1 the gate failed,
2 cannot evaluate — see :mod:`scanners.gate` for why a skipped required scanner is 2.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.jenkins.client import load_settings
from pipeline_lib.jenkins.artifacts import fetch_last_successful
from scanners.baseline import BaselineFingerprints, annotate as annotate_baseline, read_baseline
from scanners.formats import write_all
from scanners.gate import Verdict, evaluate
from scanners.inputs import no_cyclic_gc, read_inputs, read_outcomes
from scanners.policy import load_policy, load_policy_feeds

from . import FAILED, PASSED, StageResult

REPORT_FILES = ("report.md", "report.sarif", "junit.xml", "report.html", "findings.json", "verdict.json")
#: ``baseline_from_jenkins`` value: the job is worked out from ``job_name`` (:func:`baseline_job`)
AUTO = "auto"
#: the suffix of a service's pull-request job (jobs/templates.yaml: ``{env}/{service}-pr``)
PR_JOB_SUFFIX = "-pr"


@dataclass(frozen=True)
class GateOptions:
    """What the gate reads and where it writes.

    ``reports``: report files (none: the reports named by the ``ok`` outcomes);
    ``outcomes_dir``: directory of ``<tool>.outcome.json`` files; ``report_dir``: where the
    six report files go (none: no files).
    """

    environment: str = "dev"
    reports: list[Path] = field(default_factory=list)
    outcomes_dir: Path | None = None
    policy: Path | None = None
    baseline: Path | None = None
    report_dir: Path | None = None
    licenses: bool = False
    input_format: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    today: dt.date | None = None
    #: PR builds: the job whose last successful build's archived findings.json is the baseline,
    #: or ``"auto"`` (:func:`baseline_job`: from ``job_name``)
    baseline_from_jenkins: str | None = None
    baseline_artifact: str = "reports/gate/findings.json"
    #: the environment the CLI read: the Jenkins of ``baseline_from_jenkins`` (None: none set)
    settings: Settings | None = field(default=None, repr=False, compare=False)
    #: this build's Jenkins job (``JOB_NAME``, e.g. ``dev/storefront-pr``), for ``"auto"``
    job_name: str | None = None
    #: the KEV/EPSS feed cache (``gantry feeds pull``); needed only when the policy uses a feed
    feeds_dir: Path | None = None
    #: the service (catalog name): report.sarif's ``runAutomationDetails.id`` is
    #: ``gantry/<service>/<environment>/`` (None: one category per tool, ``gantry/<tool>/``)
    service: str | None = None


def baseline_job(opts: GateOptions) -> tuple[str | None, str]:
    """The Jenkins job whose findings.json is the baseline, and why there is none ("" when none
    was asked for): ``(job, note)``.

    A job name other than ``"auto"`` is used as given. ``"auto"``: this build's job
    (``job_name``) is a pull-request job ``{env}/{service}-pr`` (jobs/templates.yaml) → its
    main-branch job ``{env}/{service}``; any other job is a main-branch build → no baseline,
    none asked for; no ``job_name`` (not run by Jenkins) → no baseline, the note says why.
    """
    wanted = opts.baseline_from_jenkins
    if wanted != AUTO:
        return wanted or None, ""
    job = (opts.job_name or "").strip().strip("/")
    if not job:
        return None, "--baseline-from-jenkins auto: JOB_NAME is not set (not a Jenkins build), no base-branch job"
    if not job.endswith(PR_JOB_SUFFIX):
        return None, ""
    return job[:-len(PR_JOB_SUFFIX)], ""


@dataclass
class FetchedBaseline:
    """What :func:`jenkins_baseline` got: the stored file and its fingerprints (None: no
    baseline, ``note`` says why), and the label the reports name it by ("JOB build #N")."""

    path: Path | None
    fingerprints: BaselineFingerprints | None
    note: str = ""
    label: str = ""


def jenkins_baseline(job: str, artifact: str, report_dir: Path | None,
                     settings: Settings | None = None) -> FetchedBaseline:
    """The last successful build's findings.json of ``job``, fetched, stored and read once.

    Never raises for Jenkins: an unreachable or unreadable baseline means "no baseline" (every
    finding counts as new, and the comment says why), never a failed build on its own.
    """
    try:
        art = fetch_last_successful(load_settings(settings=settings or Settings()), job, artifact)
        directory = report_dir or Path(tempfile.mkdtemp(prefix="gantry-baseline-"))
        directory.mkdir(parents=True, exist_ok=True)
        path = write_atomic(directory / "baseline.findings.json", art.content)
        fingerprints = read_baseline(path)
    except GantryError as exc:
        print(f"gantry: no baseline: {exc}", file=sys.stderr)
        return FetchedBaseline(None, None, str(exc))
    except OSError as exc:
        print(f"gantry: no baseline: cannot store it: {exc.strerror or exc}", file=sys.stderr)
        return FetchedBaseline(None, None, f"cannot store the baseline: {exc.strerror or exc}")
    print(f"baseline: {job} build #{art.build} ({art.path})", file=sys.stderr)
    return FetchedBaseline(path, fingerprints, "", f"{job} build #{art.build}")


def decide(opts: GateOptions) -> Verdict:
    """Read the inputs and evaluate them (raises GantryError only for a bad policy or env)."""
    policy = load_policy(opts.policy)
    outcomes = read_outcomes(opts.outcomes_dir) if opts.outcomes_dir else []
    if not opts.reports and not outcomes:
        raise GantryError("gate", "no reports given (pass REPORT files or --outcomes DIR)")
    job, why_not = baseline_job(opts)
    fetched = jenkins_baseline(job, opts.baseline_artifact, opts.report_dir, opts.settings) if job else None
    if why_not:
        print(f"gantry: no baseline: {why_not}", file=sys.stderr)
        fetched = FetchedBaseline(None, None, why_not)
    with no_cyclic_gc():
        # a fetched baseline was read when it was fetched: read_inputs reads only a --baseline file
        inputs = read_inputs(opts.reports, outcomes, baseline=None if fetched else opts.baseline,
                             licenses=opts.licenses, report_format=opts.input_format)
        if fetched is not None:
            inputs.baseline, inputs.baseline_source = fetched.fingerprints, fetched.label or None
        policy.check_environment(opts.environment)
        feeds, statuses = None, []
        try:   # a missing or stale feed the policy uses: cannot evaluate (exit 2), the reports say which
            feeds, statuses = load_policy_feeds(policy, opts.environment, opts.feeds_dir,
                                                tools={r.tool for r in inputs.parsed} | {o.tool for o in inputs.outcomes})
        except GantryError as exc:
            inputs.errors.append(str(exc))
        verdict = evaluate(inputs.parsed, inputs.outcomes, policy, inputs.baseline,
                           environment=opts.environment, input_errors=inputs.errors, today=opts.today,
                           baseline_source=inputs.baseline_source, feeds=feeds, feed_statuses=statuses)
    verdict.service = opts.service
    annotate_baseline(verdict, inputs.baseline, fetched.note if fetched else "")
    for name, url in opts.links.items():
        if url.startswith(("https://", "http://")):
            verdict.links.setdefault(name, url)
    return verdict


def run(opts: GateOptions) -> StageResult:
    """Decide, write the reports, and say passed (exit 0) or failed (exit 1 or 2)."""
    verdict = decide(opts)
    written: list[str] = []
    if opts.report_dir is not None:
        try:
            written = sorted(p.name for p in write_all(verdict, opts.report_dir).values())
        except OSError as exc:
            raise GantryError(str(opts.report_dir), f"cannot write reports: {exc.strerror or exc}") from None
        missing = [n for n in REPORT_FILES if n not in written]
        if missing:
            raise GantryError(str(opts.report_dir), f"reports not written: {', '.join(missing)}")
    status = PASSED if verdict.exit_code == 0 else FAILED
    return StageResult("gate", status, verdict.summary,
                       data={"exit_code": verdict.exit_code,
                             "report_dir": str(opts.report_dir) if opts.report_dir else None,
                             "reports": written}, value=verdict)
