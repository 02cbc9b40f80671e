"""Upload gantry's SARIF to GitHub code scanning, one analysis per tool, and wait for processing.

REST: ``POST /repos/{owner}/{repo}/code-scanning/sarifs`` with ``commit_sha``, ``ref``
(``refs/pull/N/head`` or ``refs/heads/<branch>``) and ``sarif`` = base64(gzip(SARIF)); the 202
answer carries an ``id``; ``GET /repos/{owner}/{repo}/code-scanning/sarifs/{id}`` reports
``processing_status`` pending | complete | failed (with ``errors``). Token scope: ``security_events``
(``public_repo`` for public repositories); 1 000 uploads per hour.
https://docs.github.com/rest/code-scanning/code-scanning#upload-an-analysis-as-sarif-data

Categories: each tool's run becomes its own upload. A run that carries its own
``automationDetails.id`` keeps it: the gate writes ``gantry/<service>/<env>/`` when it knows the
service (:func:`scanners.formats.sarif.automation_id`), so every build of a service in an
environment lands in the same analysis whatever the image tag, and alerts a rebuild no longer
has are closed instead of left open beside new ones. Other runs get ``gantry/<tool>/``. The
category is everything before the last ``/``; GitHub identifies an analysis by tool name *and*
category (github/codeql-action #872), so the Trivy, Dependency-Check and SonarQube runs of one
service share the category without replacing each other (GitHub refuses several runs of one
tool and category in one file, hence one upload per run).

GitHub's documented limits (same page; "SARIF support for code scanning"), enforced here before
uploading rather than left to GitHub's silent truncation: at most 10 MB of *gzip-compressed*
SARIF per upload, 20 runs per file, 25 000 results and 25 000 rules per run, of which "only the
top 5 000 results will be included, prioritized by severity"; 1 000 locations per result
(100 shown); 20 tags per rule (10 shown). A result without a location gets one
pseudo-location (``gantry-security-report``, line 1), as trivy-action does for images. gantry orders each run's results by severity itself
(rule ``security-severity``, then SARIF ``level``), keeps the top 5 000, 100 locations per result
and 10 tags per rule, halves the results until the gzip fits 10 MB, and reports what it cut.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_lib.core.answer import json_of, optional, require
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient, check_repo

MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_RUNS_PER_FILE = 20
MAX_RESULTS_PER_RUN = 25_000
SHOWN_RESULTS_PER_RUN = 5_000
MAX_RULES_PER_RUN = 25_000
SHOWN_LOCATIONS_PER_RESULT = 100
SHOWN_TAGS_PER_RULE = 10
MAX_SARIF_BYTES = 512 * 1024 * 1024
NO_LOCATION_URI = "gantry-security-report"   # where results without a file are placed (like trivy-action)
_LEVEL_RANK = {"error": 3, "warning": 2, "note": 1, "none": 0}
_SEV_RANK = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "UNKNOWN": 3, "LOW": 2, "INFO": 1}
_FULL_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_REF = re.compile(r"^refs/(heads|tags|pull)/\S+$")


@dataclass
class PreparedUpload:
    """One tool's run, capped and encoded, ready to POST."""

    tool: str
    category: str
    sarif_b64: str
    gzip_bytes: int
    results_total: int
    results_sent: int
    cuts: list[str] = field(default_factory=list)   # what was cut, in words


@dataclass
class UploadResult:
    tool: str
    category: str
    sarif_id: str
    status: str                    # complete | failed | pending (timed out)
    analyses_url: str | None
    errors: list[str]
    results_sent: int
    results_total: int
    cuts: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "category": self.category, "sarif_id": self.sarif_id, "status": self.status,
                "analyses_url": self.analyses_url, "errors": self.errors, "results_sent": self.results_sent,
                "results_total": self.results_total, "cuts": self.cuts}


def pr_ref(pr: int) -> str:
    return f"refs/pull/{int(pr)}/head"


def branch_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def read_sarif(path: Path) -> dict:
    """A SARIF 2.1.0 document with a ``runs`` array; GantryError(path, …) otherwise."""
    where = str(path)
    try:
        if Path(path).stat().st_size > MAX_SARIF_BYTES:
            raise GantryError(where, "SARIF file is too large")
        doc = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise GantryError(where, "no such file (run gantry gate --report-dir first)") from None
    except (OSError, ValueError) as exc:
        raise GantryError(where, f"not a SARIF file ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("version") != "2.1.0" or not isinstance(doc.get("runs"), list):
        raise GantryError(where, "not a SARIF 2.1.0 log (expected version 2.1.0 and a runs array)")
    return doc


def _result_rank(res: dict, rules: list) -> tuple[float, int, int]:
    rule = None
    idx = res.get("ruleIndex")
    if isinstance(idx, int) and 0 <= idx < len(rules):
        rule = rules[idx]
    score = 0.0
    if isinstance(rule, dict):
        try:
            score = float((rule.get("properties") or {}).get("security-severity") or 0)
        except (TypeError, ValueError):
            score = 0.0
    props = res.get("properties") if isinstance(res.get("properties"), dict) else {}
    return (score, _SEV_RANK.get(str(props.get("severity", "")).upper(), 0),
            _LEVEL_RANK.get(res.get("level", "warning"), 2))


def _cap_run(run: dict, limit: int) -> tuple[dict, int, list[str]]:
    """A copy of ``run`` with its results ordered by severity and cut to ``limit``; rules pruned."""
    run = copy.copy(run)
    driver = dict((run.get("tool") or {}).get("driver") or {})
    rules = list(driver.get("rules") or [])
    results = [r for r in run.get("results") or [] if isinstance(r, dict)]
    cuts: list[str] = []
    order = sorted(range(len(results)), key=lambda i: _result_rank(results[i], rules), reverse=True)
    kept = [results[i] for i in sorted(order[:limit])] if len(results) > limit else results
    if len(results) > limit:
        dropped = [results[i] for i in order[limit:]]
        levels: dict[str, int] = {}
        for r in dropped:
            sev = str((r.get("properties") or {}).get("severity") or r.get("level") or "unknown")
            levels[sev] = levels.get(sev, 0) + 1
        cuts.append(f"{len(dropped)} lowest-severity result(s) not uploaded ("
                    + ", ".join(f"{n} {k}" for k, n in sorted(levels.items(), key=lambda kv: -kv[1]))
                    + f"); GitHub shows at most the top {SHOWN_RESULTS_PER_RUN} per run")
    new_results, too_many_locs = [], 0
    used: dict[int, int] = {}
    new_rules: list[dict] = []
    for r in kept:
        r = dict(r)
        locs = r.get("locations")
        if not locs:   # GitHub cannot place a result without a location (image/dependency findings)
            r["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": NO_LOCATION_URI},
                                                    "region": {"startLine": 1}}}]
        elif isinstance(locs, list) and len(locs) > SHOWN_LOCATIONS_PER_RESULT:
            r["locations"] = locs[:SHOWN_LOCATIONS_PER_RESULT]
            too_many_locs += 1
        idx = r.get("ruleIndex")
        if isinstance(idx, int) and 0 <= idx < len(rules):
            if idx not in used:
                used[idx] = len(new_rules)
                rule = dict(rules[idx])
                props = dict(rule.get("properties") or {})
                if isinstance(props.get("tags"), list) and len(props["tags"]) > SHOWN_TAGS_PER_RULE:
                    props["tags"] = props["tags"][:SHOWN_TAGS_PER_RULE]
                    rule["properties"] = props
                new_rules.append(rule)
            r["ruleIndex"] = used[idx]
        new_results.append(r)
    if too_many_locs:
        cuts.append(f"{too_many_locs} result(s) cut to {SHOWN_LOCATIONS_PER_RESULT} locations")
    if len(new_rules) > MAX_RULES_PER_RUN:
        raise GantryError("code scanning", f"{len(new_rules)} rules in one run (GitHub's limit is {MAX_RULES_PER_RUN})")
    driver["rules"] = new_rules
    run["tool"] = dict(run.get("tool") or {}, driver=driver)
    run["results"] = new_results
    return run, len(results), cuts


def _encode(doc: dict) -> tuple[str, int]:
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    return base64.b64encode(packed).decode("ascii"), len(packed)


def prepare(doc: dict, *, category_prefix: str = "gantry", max_gzip_bytes: int = MAX_GZIP_BYTES,
            results_per_run: int = SHOWN_RESULTS_PER_RUN) -> list[PreparedUpload]:
    """One upload per run (tool) of a SARIF 2.1.0 ``doc``, each within GitHub's limits."""
    runs = [r for r in doc.get("runs") or [] if isinstance(r, dict)]
    if len(runs) > MAX_RUNS_PER_FILE * 50:
        raise GantryError("code scanning", f"{len(runs)} runs: too many tools")
    out: list[PreparedUpload] = []
    for run in runs:
        tool = str(((run.get("tool") or {}).get("driver") or {}).get("name") or "unknown")
        own = (run.get("automationDetails") or {}).get("id") if isinstance(run.get("automationDetails"), dict) else None
        if isinstance(own, str) and own.strip("/") and own.startswith(f"{category_prefix}/"):
            automation = own
            category = own.rsplit("/", 1)[0]
        else:
            category = f"{category_prefix}/{re.sub(r'[^A-Za-z0-9_.-]+', '-', tool)}"
            automation = f"{category}/"
        limit = min(results_per_run, MAX_RESULTS_PER_RUN)
        while True:
            capped, total, cuts = _cap_run(run, limit)
            capped["automationDetails"] = {"id": automation}
            single = {k: v for k, v in doc.items() if k != "runs"}
            single["runs"] = [capped]
            b64, size = _encode(single)
            if size <= max_gzip_bytes:
                break
            if limit <= 1:
                raise GantryError("code scanning", f"{tool}: one result alone is over {max_gzip_bytes} bytes gzipped")
            limit = max(1, limit // 2)
        if limit < min(results_per_run, MAX_RESULTS_PER_RUN) and total > limit:
            cuts = [c for c in cuts if "lowest-severity" not in c]
            cuts.insert(0, f"{total - limit} lowest-severity result(s) not uploaded to stay under GitHub's "
                        f"{max_gzip_bytes // (1024 * 1024)} MB gzip limit (kept the top {limit})")
        out.append(PreparedUpload(tool, category, b64, size, total, len(capped["results"]), cuts))
    return out


def upload(client: GitHubClient, repo: str, commit_sha: str, ref: str, prepared: list[PreparedUpload], *,
           timeout: float = 300.0, interval: float = 5.0, sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic,
           progress: Callable[[str], None] | None = None) -> list[UploadResult]:
    """POST each prepared upload, then poll its status until complete or failed (or ``timeout`` s).

    Polls after 1 s, then doubling up to ``interval`` seconds.

    Raises GantryError("code scanning <tool>", …) naming GitHub's message when an upload is
    rejected (e.g. 403 Advanced Security disabled, 413 too large), processing ``failed`` (with
    GitHub's ``errors``) or is still pending after ``timeout`` seconds.
    """
    check_repo(repo)
    if not _FULL_SHA.match(commit_sha or ""):
        raise GantryError("--sha", "code scanning needs the full 40 (or 64) hex commit SHA")
    if not _REF.match(ref or ""):
        raise GantryError("--ref", "expected refs/heads/<branch>, refs/pull/<n>/head or refs/tags/<tag>")
    say = progress or (lambda _msg: None)
    posted: list[tuple[PreparedUpload, str]] = []
    for p in prepared:
        where = f"code scanning {p.tool}"
        try:
            resp = client.request("POST", f"repos/{repo}/code-scanning/sarifs",
                                  json={"commit_sha": commit_sha, "ref": ref, "sarif": p.sarif_b64})
        except GantryError as exc:
            raise GantryError(where, f"upload rejected: {exc.what}") from None
        endpoint = f"github POST /repos/{repo}/code-scanning/sarifs"
        sarif_id = require(json_of(resp, endpoint), "id", kind=str, where=endpoint)
        say(f"code-scanning: {p.tool}: uploaded {p.results_sent} of {p.results_total} result(s) "
            f"({p.gzip_bytes} bytes gzipped) as {p.category}, id {sarif_id}")
        posted.append((p, sarif_id))
    results: list[UploadResult] = []
    for p, sarif_id in posted:
        where = f"code scanning {p.tool}"
        deadline = clock() + timeout
        wait = min(1.0, interval)
        while True:
            endpoint = f"github GET /repos/{repo}/code-scanning/sarifs/{sarif_id}"
            try:
                resp = client.request("GET", f"repos/{repo}/code-scanning/sarifs/{sarif_id}")
            except GantryError as exc:
                raise GantryError(where, f"status of upload {sarif_id}: {exc.what}") from None
            data = json_of(resp, endpoint)
            status = require(data, "processing_status", kind=str, where=endpoint)
            errors = [str(x)[:500] for x in optional(data, "errors", kind=list, default=[], where=endpoint)]
            if status == "complete":
                results.append(UploadResult(p.tool, p.category, sarif_id, status,
                                            optional(data, "analyses_url", kind=str, where=endpoint), errors,
                                            p.results_sent, p.results_total, p.cuts))
                say(f"code-scanning: {p.tool}: processing complete")
                break
            if status == "failed":
                raise GantryError(where, f"GitHub failed to process upload {sarif_id}: "
                                  + ("; ".join(errors[:5]) or "no error given"))
            if status != "pending":
                raise GantryError(where, f"unexpected processing_status {status!r}")
            if clock() >= deadline:
                raise GantryError(where, f"upload {sarif_id} still pending after {timeout:.0f}s "
                                  "(GitHub may finish later; see the repository's Security tab)")
            say(f"code-scanning: {p.tool}: pending…")
            sleep(min(wait, max(0.0, deadline - clock())))
            wait = min(wait * 2, interval)
    return results
