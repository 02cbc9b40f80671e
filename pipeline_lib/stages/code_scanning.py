"""Code scanning, after the ``Gate`` stage (main builds) and in the ``PR report`` stage (PR builds):
upload ``report.sarif`` to GitHub code scanning, one analysis per tool, and wait for GitHub to
process it.

Jenkinsfile: ``gantry code-scanning --repo "$REPO" --sha "$GIT_SHA" --ref refs/heads/main
--sarif "$REPORTS/gate/report.sarif"`` (:func:`run`) and ``gantry pr-report … --code-scanning``
(:func:`upload_sarif`). The token comes from ``GITHUB_TOKEN`` (scope ``security_events``).
Limits and the wire format are :mod:`pipeline_lib.codescanning.upload`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.codescanning.upload import branch_ref, pr_ref, prepare, read_sarif, upload
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient, api_url_from_env
from pipeline_lib.core.settings import Settings

from . import PASSED, StageResult


@dataclass(frozen=True)
class CodeScanningOptions:
    """One upload: ``repo`` (owner/name), the commit ``sha``, and exactly one of ``pr`` (ref
    ``refs/pull/N/head``) or ``ref`` (a git ref or branch name); ``sarif``: the gate's
    report.sarif; ``api_url`` None: ``$GITHUB_API_URL`` or api.github.com; ``token`` None:
    ``$GITHUB_TOKEN``; ``timeout``: seconds to wait for GitHub to process each upload;
    ``dry_run``: prepare only; ``quiet``: no progress lines on stdout."""

    repo: str
    sha: str
    sarif: Path
    pr: int | None = None
    ref: str | None = None
    api_url: str | None = None
    token: str | None = field(default=None, repr=False)
    timeout: float = 300.0
    dry_run: bool = False
    quiet: bool = False


def run(opts: CodeScanningOptions) -> StageResult:
    """Upload (or prepare, on a dry run); ``data``: ``ref`` and ``uploads`` (one summary per tool)."""
    if (opts.pr is None) == (opts.ref is None):
        raise GantryError("code-scanning", "give exactly one of a pull request number or a git ref")
    if opts.pr is not None and opts.pr <= 0:
        raise GantryError("--pr", "must be a positive pull request number")
    ref = pr_ref(opts.pr) if opts.pr is not None else branch_ref(str(opts.ref))
    uploads = upload_sarif(opts.repo, opts.sha, ref, opts.sarif, api_url=opts.api_url, timeout=opts.timeout,
                           dry_run=opts.dry_run, quiet=opts.quiet, token=opts.token)
    detail = ", ".join(f"{u['tool']}: {u['status']}" for u in uploads) or "no runs"
    return StageResult("code-scanning", PASSED, f"{ref}: {detail}", data={"ref": ref, "uploads": uploads})


def upload_sarif(repo: str, sha: str, ref: str, sarif: Path, *, api_url: str | None, timeout: float,
                 dry_run: bool = False, quiet: bool = False, token: str | None = None) -> list[dict]:
    """Prepare, upload and wait; returns one summary per tool. Raises GantryError on any failure.

    ``token`` None: ``$GITHUB_TOKEN`` (:class:`~pipeline_lib.core.settings.Settings`)."""
    if timeout <= 0:
        raise GantryError("--code-scanning-timeout", "must be positive")
    prepared = prepare(read_sarif(sarif))
    say = (lambda _m: None) if quiet else (lambda m: print(m, flush=True))
    for p in prepared:
        for cut in p.cuts:
            say(f"code-scanning: {p.tool}: {cut}")
    if dry_run:
        return [{"tool": p.tool, "category": p.category, "results_sent": p.results_sent,
                 "results_total": p.results_total, "gzip_bytes": p.gzip_bytes, "cuts": p.cuts, "status": "dry-run"}
                for p in prepared]
    if token is None:
        token = Settings.from_env().github_token or ""
    client = GitHubClient(token, api_url or api_url_from_env())
    return [r.to_json() for r in upload(client, repo, sha, ref, prepared, timeout=timeout, progress=say)]
