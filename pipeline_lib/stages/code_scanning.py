"""Code scanning, after the ``Gate`` stage (main builds) and in the ``PR report`` stage (PR builds):
upload ``report.sarif`` to GitHub code scanning, one analysis per tool, and wait for GitHub to
process it.

Jenkinsfile: ``gantry code-scanning --repo "$REPO" --sha "$GIT_SHA" --ref refs/heads/main
--sarif "$REPORTS/gate/report.sarif"`` and ``gantry pr-report … --code-scanning``. The token is
the caller's (the CLI passes ``GITHUB_TOKEN``, scope ``security_events``). Limits and the wire format are
:mod:`pipeline_lib.codescanning`'s.
"""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.codescanning import prepare, read_sarif, upload
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient


def upload_sarif(repo: str, sha: str, ref: str, sarif: Path, *, api_url: str, token: str, timeout: float,
                 dry_run: bool = False, quiet: bool = False) -> list[dict]:
    """Prepare, upload and wait (``api_url``: the GitHub API base, ``token``: its token); returns
    one summary per tool. Raises GantryError on any failure."""
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
    client = GitHubClient(token, api_url)
    return [r.to_json() for r in upload(client, repo, sha, ref, prepared, timeout=timeout, progress=say)]
