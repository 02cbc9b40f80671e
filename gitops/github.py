"""A small GitHub REST client for ``--mode pr``: open (or find) a pull request.

Endpoints: ``POST /repos/{owner}/{repo}/pulls`` and ``GET /repos/{owner}/{repo}/pulls?head=…``
(https://docs.github.com/en/rest/pulls/pulls). The token comes from ``$GITHUB_TOKEN``.
"""

from __future__ import annotations

import os
import re
import time

import requests

from pipeline_lib.errors import GantryError

_URL_REPO = re.compile(r"(?:github\.com[:/]|/)(?P<owner>[A-Za-z0-9-]+)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?$")


def repo_from_url(url: str) -> str:
    m = _URL_REPO.search(url)
    if not m:
        raise GantryError("gitops", f"cannot tell the GitHub owner/name from {url!r}; pass --github-repo")
    return f"{m['owner']}/{m['name']}"


class GitHub:
    def __init__(self, api: str, token: str | None = None, attempts: int = 4) -> None:
        self.api = api.rstrip("/")
        token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            raise GantryError("github", "GITHUB_TOKEN is not set (needed to open a pull request)")
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Accept": "application/vnd.github+json",
                                     "X-GitHub-Api-Version": "2022-11-28",
                                     "User-Agent": "gantry"})
        self.attempts = attempts

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        last = ""
        for attempt in range(self.attempts):
            try:
                resp = self.session.request(method, self.api + path, timeout=30, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = type(exc).__name__
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    return resp
                last = f"HTTP {resp.status_code}"
            time.sleep(0.2 * 2 ** attempt)
        raise GantryError("github", f"{method} {path} failed after {self.attempts} attempts: {last}")

    def open_pull_request(self, repo: str, head: str, base: str, title: str, body: str) -> str:
        """The ``html_url`` of a new pull request, or of the open one for ``head`` already there."""
        resp = self._call("POST", f"/repos/{repo}/pulls",
                          json={"title": title, "head": head, "base": base, "body": body})
        if resp.status_code == 201:
            return resp.json()["html_url"]
        if resp.status_code == 422:
            owner = repo.split("/", 1)[0]
            found = self._call("GET", f"/repos/{repo}/pulls", params={"head": f"{owner}:{head}", "state": "open"})
            if found.status_code == 200 and found.json():
                return found.json()[0]["html_url"]
        try:
            message = resp.json().get("message", "")
        except ValueError:
            message = resp.text[:200]
        raise GantryError("github", f"cannot open pull request {head} -> {base} on {repo}: "
                                    f"HTTP {resp.status_code} {message}")
