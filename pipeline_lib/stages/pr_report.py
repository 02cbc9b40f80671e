"""The ``PR report`` stage: the security comment and the commit status on the pull request.

Jenkinsfile: ``gantry pr-report --repo "$REPO" --pr "$PR_NUMBER" --sha "$GIT_SHA" --report-dir
"$REPORTS/gate"``. Reads ``report.md`` and ``verdict.json`` written by the gate stage; the comment
is edited in place on the next build (found by its hidden marker); the status is
``success`` / ``failure`` / ``error`` for gate exit 0 / 1 / 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.codescanning.upload import pr_ref
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient, check_repo, check_sha
from scanners.formats.markdown import MARKER

from . import PASSED, StageResult
from .code_scanning import upload_sarif

STATES = {0: "success", 1: "failure", 2: "error"}


@dataclass(frozen=True)
class PrReportOptions:
    repo: str                   # owner/name
    pr: int
    sha: str
    report_dir: Path
    api_url: str
    token: str = field(default="", repr=False)
    target_url: str | None = None
    context: str = "gantry/security"
    code_scanning: bool = False            # also upload report.sarif (ref refs/pull/N/head)
    code_scanning_timeout: float = 300.0


def _verdict(path: Path) -> tuple[int, str]:
    try:
        verdict = json.loads(path.read_text(encoding="utf-8"))
        code = verdict["exit_code"]
        if code not in STATES:
            raise ValueError("exit_code")
        return code, str(verdict.get("summary", ""))
    except FileNotFoundError:
        raise GantryError(str(path), "no such file (run gantry gate --report-dir first)") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise GantryError(str(path), "not a gantry verdict") from None


def run(opts: PrReportOptions) -> StageResult:
    """Post or update the comment, then set the status; GantryError when GitHub refuses."""
    check_repo(opts.repo)
    check_sha(opts.sha)
    if opts.pr <= 0:
        raise GantryError("--pr", "must be a positive pull request number")
    md_path = opts.report_dir / "report.md"
    try:
        body = md_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GantryError(str(md_path), "no such file (run gantry gate --report-dir first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GantryError(str(md_path), f"cannot read: {exc}") from None
    code, summary = _verdict(opts.report_dir / "verdict.json")
    state = STATES[code]
    client = GitHubClient(opts.token, opts.api_url)
    comment = client.upsert_comment(opts.repo, opts.pr, body, MARKER)
    client.set_status(opts.repo, opts.sha, state, summary or state, context=opts.context, target_url=opts.target_url)
    uploads = []
    if opts.code_scanning:
        uploads = upload_sarif(opts.repo, opts.sha, pr_ref(opts.pr), opts.report_dir / "report.sarif",
                               api_url=opts.api_url, timeout=opts.code_scanning_timeout, token=opts.token or None)
    return StageResult("pr-report", PASSED, f"comment {comment.action} ({comment.id}); status {opts.context} = {state}",
                       data={"comment": comment.id, "action": comment.action, "state": state,
                             "code_scanning": uploads})
