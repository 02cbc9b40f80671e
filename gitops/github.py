"""Pull requests for ``--mode pr``: open one (or find the open one) for gantry's review branch.

Uses :class:`pipeline_lib.core.github.GitHubClient` (session, retries, rate limits, token redaction).
Endpoints: ``POST /repos/{owner}/{repo}/pulls`` and ``GET /repos/{owner}/{repo}/pulls?head=…``
(https://docs.github.com/en/rest/pulls/pulls). The token is the caller's (``$GITHUB_TOKEN``, read by the CLI).
"""

from __future__ import annotations

import re

from pipeline_lib.core.answer import json_of, require
from pipeline_lib.core.errors import Conflict, GantryError
from pipeline_lib.core.github import GitHubClient, check_repo

_URL_REPO = re.compile(r"(?:github\.com[:/]|/)(?P<owner>[A-Za-z0-9-]+)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?$")


def repo_from_url(url: str) -> str:
    m = _URL_REPO.search(url)
    if not m:
        raise GantryError("gitops", f"cannot tell the GitHub owner/name from {url!r}; pass --github-repo")
    return f"{m['owner']}/{m['name']}"


class GitHub:
    def __init__(self, api: str, token: str | None = None) -> None:
        if not token:
            raise GantryError("github", "GITHUB_TOKEN is not set (needed to open a pull request)")
        self.client = GitHubClient(token, api)

    def open_pull_request(self, repo: str, head: str, base: str, title: str, body: str) -> str:
        """The ``html_url`` of a new pull request, or of the open one for ``head`` already there."""
        check_repo(repo)
        where = f"github POST /repos/{repo}/pulls"
        try:
            resp = self.client.request("POST", f"/repos/{repo}/pulls",
                                       json={"title": title, "head": head, "base": base, "body": body})
            return require(json_of(resp, where), "html_url", kind=str, where=where)
        except Conflict as exc:   # 422: a pull request for this head already exists (or invalid)
            first_error = exc
        owner = repo.split("/", 1)[0]
        where = f"github GET /repos/{repo}/pulls"
        found = self.client.request("GET", f"/repos/{repo}/pulls", params={"head": f"{owner}:{head}", "state": "open"})
        items = require(json_of(found, where), kind=list, where=where)
        if items:
            return require(items, 0, "html_url", kind=str, where=where)
        raise GantryError("github", f"cannot open pull request {head} -> {base} on {repo}: {first_error.what}")
