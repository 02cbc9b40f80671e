"""One GitHub issue per (environment, service, vulnerability), kept in step with the ledger.

GitHub REST (https://docs.github.com/en/rest/issues/issues): the issues gantry owns carry the
label :data:`LABEL` and a hidden marker line ``<!-- gantry-watch env=E service=S id=V -->`` in
their body. :func:`sync` lists the label's issues once per repository (``GET
/repos/{owner}/{repo}/issues?labels=…&state=all``, paginated; pull requests are skipped) — the
list, not the search API, whose index lags and would let a second run create a duplicate —
then creates the missing ones (``POST …/issues``), edits a changed body, reopens a closed one
that is wanted again (``PATCH …/issues/{n}`` + a comment) and closes, with a comment, an open
one whose vulnerability the running digest no longer has. Never a second issue per marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline_lib.core.answer import json_of, optional, require
from pipeline_lib.core.github import GitHubClient, check_repo

LABEL = "gantry-watch"
_MARKER = re.compile(r"<!-- gantry-watch env=(\S+) service=(\S+) id=(\S+) -->")
MAX_BODY = 60_000


def marker(environment: str, service: str, vulnerability: str) -> str:
    return f"<!-- gantry-watch env={environment} service={service} id={vulnerability} -->"


@dataclass(frozen=True)
class WantedIssue:
    """An issue that must be open: its repository (owner/name), identity, title and body."""

    repo: str
    environment: str
    service: str
    vulnerability: str
    title: str
    body: str

    @property
    def marker(self) -> str:
        return marker(self.environment, self.service, self.vulnerability)

    def full_body(self) -> str:
        return f"{self.marker}\n{self.body}"[:MAX_BODY]


@dataclass
class SyncResult:
    """Issue numbers per action: created, updated (body edited), reopened, closed, unchanged."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "reopened": self.reopened,
                "closed": self.closed, "unchanged": self.unchanged}


@dataclass(frozen=True)
class _Existing:
    number: int
    state: str
    body: str
    key: tuple[str, str, str]


def _existing(client: GitHubClient, repo: str) -> dict[tuple[str, str, str], _Existing]:
    where = f"github GET /repos/{repo}/issues"
    found: dict[tuple[str, str, str], _Existing] = {}
    for item in client.paginate(f"repos/{check_repo(repo)}/issues",
                                {"labels": LABEL, "state": "all", "per_page": 100}):
        if "pull_request" in item:
            continue
        body = optional(item, "body", kind=str, default="", where=where)
        m = _MARKER.search(body)
        if not m:
            continue
        key = (m.group(1), m.group(2), m.group(3))
        number = require(item, "number", kind=int, where=where)
        # the oldest wins if a person copied a marker: gantry never makes a second one itself
        if key not in found or number < found[key].number:
            found[key] = _Existing(number, require(item, "state", kind=str, where=where), body, key)
    return found


def sync(client: GitHubClient, wanted: Iterable[WantedIssue], *, environment: str,
         scope: dict[str, Iterable[str]], close_comment: str) -> SyncResult:
    """Make GitHub match ``wanted`` for ``environment``.

    ``scope``: repository → the services whose scan completed in this run; only their issues may
    be closed (a service that could not be scanned keeps its issues as they are). Raises the
    typed errors of :class:`~pipeline_lib.core.github.GitHubClient` (Unauthorized, NotFound, …).
    """
    result = SyncResult()
    by_repo: dict[str, list[WantedIssue]] = {}
    for w in wanted:
        by_repo.setdefault(w.repo, []).append(w)
    for repo in sorted(set(by_repo) | set(scope)):
        existing = _existing(client, repo)
        keep: set[tuple[str, str, str]] = set()
        for w in sorted(by_repo.get(repo, []), key=lambda x: (x.service, x.vulnerability)):
            key = (w.environment, w.service, w.vulnerability)
            keep.add(key)
            have = existing.get(key)
            body = w.full_body()
            if have is None:
                where = f"github POST /repos/{repo}/issues"
                data = json_of(client.request("POST", f"repos/{repo}/issues",
                                              json={"title": w.title, "body": body, "labels": [LABEL]}), where)
                result.created.append(f"{repo}#{require(data, 'number', kind=int, where=where)}")
                continue
            patch: dict[str, str] = {}
            if have.body != body:
                patch["body"] = body
            if have.state != "open":
                patch["state"] = "open"
            name = f"{repo}#{have.number}"
            if not patch:
                result.unchanged.append(name)
                continue
            client.request("PATCH", f"repos/{repo}/issues/{have.number}", json={"title": w.title, **patch})
            if "state" in patch:
                client.request("POST", f"repos/{repo}/issues/{have.number}/comments",
                               json={"body": f"The running digest has {w.vulnerability} again: reopened by gantry watch."})
                result.reopened.append(name)
            else:
                result.updated.append(name)
        services = set(scope.get(repo, ()))
        for key, have in sorted(existing.items()):
            env, service, _ = key
            if env != environment or service not in services or key in keep or have.state != "open":
                continue
            client.request("POST", f"repos/{repo}/issues/{have.number}/comments", json={"body": close_comment})
            client.request("PATCH", f"repos/{repo}/issues/{have.number}",
                           json={"state": "closed", "state_reason": "completed"})
            result.closed.append(f"{repo}#{have.number}")
    return result
