"""Which catalog job a GitHub event starts, with which parameters, or why it starts none.

Payload fields as GitHub documents them ("Webhook events and payloads": ``push``,
``pull_request``); the host a delivery comes from is ``X-GitHub-Enterprise-Host`` (GitHub
Enterprise Server) or else the host of ``repository.html_url``, and it must be the catalog's
``github_url`` host: ``flashshop/storefront`` on ``ghe.example.com`` is not the github.com one.

- ``push`` of a branch: every environment of every service built from the repository whose
  ``branches`` patterns match the branch (``release/*``), when a changed file matches the
  service's ``paths`` (no ``paths``: any change). A tag push matches patterns written as
  full refs (``refs/tags/v*``). Deleted refs start nothing.
- The changed files are *unknown*, and every matching service builds, when they cannot be
  read from the payload: no commit listed, the list capped (GitHub's webhook push payload
  lists at most 2 048 commits, "The array includes a maximum of 2048 commits"; ``size``, when
  present, counts them all: more than listed means capped; comparing ``before...after`` is
  GitHub's way to get the rest, which gantry does not call, so a capped list is unknown), a
  commit whose ``added``/``removed``/``modified`` are all empty (GitHub leaves them empty for
  very large commits), ``head_commit`` missing from the list, a forced push (``forced``) or a
  new ref (``created``, ``before`` all zeros: the list is relative to another branch).
- ``COMMIT_SHA`` is the commit built: ``after`` for a branch; for a tag ``head_commit.id``
  (for an annotated tag ``after`` is the tag object), or empty when there is no
  ``head_commit`` (the job then builds ``GIT_REF``).
- ``pull_request`` opened/synchronize/reopened from a branch of the same repository: the
  service's PR job, when the base branch matches that environment's patterns. Pull requests
  from forks start nothing (their Jenkinsfile would run with our credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pipeline_lib.core.catalog import ENVIRONMENT_NAMES, Catalog, Service
from ..jobs.generate import pipeline_job_name, pr_environment, pr_job_name

PR_ACTIONS = ("opened", "synchronize", "reopened")
ZERO_SHA = "0" * 40
_SHA = re.compile(r"^[0-9a-f]{40}$")
# GitHub lists at most 2 048 commits in a push webhook payload (the Events API's timeline lists
# 20, a limit that "isn't applied to webhook deliveries"); a list that long may be capped.
MAX_LISTED_COMMITS = 2048


class BadPayload(ValueError):
    """The (signed) payload lacks a field the event must have."""


@dataclass(frozen=True)
class Trigger:
    job: str
    params: dict[str, str]


@dataclass
class Decision:
    triggers: list[Trigger] = field(default_factory=list)
    ignored: str | None = None


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans directories, ``*`` and ``?`` stay within one, ``[...]`` as in fnmatch."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error:
        return re.compile(re.escape(pattern) + r"\Z")


def glob_match(path: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(path) is not None


def ref_matches(ref: str, patterns: tuple[str, ...]) -> bool:
    """Branch patterns match ``refs/heads/<b>`` by short name; ``refs/...`` patterns the full ref."""
    short = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None
    for pattern in patterns:
        if pattern.startswith("refs/"):
            if glob_match(ref, pattern):
                return True
        elif short is not None and glob_match(short, pattern):
            return True
    return False


def _str(d: Any, *keys: str, required: bool = True) -> str | None:
    cur = d
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            if required:
                raise BadPayload(f"payload has no {'.'.join(keys)}")
            return None
        cur = cur[k]
    if cur is None and not required:
        return None
    if not isinstance(cur, str):
        raise BadPayload(f"payload field {'.'.join(keys)} must be a string")
    return cur


def changed_files(payload: dict) -> set[str] | None:
    """Files added, modified or removed by the pushed commits; None when unknown (see above)."""
    if payload.get("forced") is True or payload.get("created") is True or payload.get("before") == ZERO_SHA:
        return None
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits or len(commits) >= MAX_LISTED_COMMITS:
        return None  # capped (or nothing listed): compare before...after would tell; unknown here
    size = payload.get("size")  # the count of pushed commits, when present
    if isinstance(size, int) and not isinstance(size, bool) and size > len(commits):
        return None
    head = payload.get("head_commit")
    ids = {c.get("id") for c in commits if isinstance(c, dict)}
    if isinstance(head, dict) and head.get("id") not in ids:
        return None
    files: set[str] = set()
    for commit in commits:
        if not isinstance(commit, dict):
            return None
        listed: set[str] = set()
        for key in ("added", "modified", "removed"):
            value = commit.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                return None
            listed.update(v for v in value if isinstance(v, str))
        if not listed:  # a very large commit (or an empty one): its files are unknown
            return None
        files |= listed
    return files


def delivery_host(payload: dict, enterprise_host: str | None) -> str:
    """The GitHub host a delivery comes from (lower case)."""
    if enterprise_host:
        return enterprise_host.strip().lower().split(":", 1)[0]
    repo = payload.get("repository")
    html_url = repo.get("html_url") if isinstance(repo, dict) else None
    if isinstance(html_url, str):
        host = urlsplit(html_url).hostname
        if host:
            return host.lower()
    return "github.com"


def _tag_commit(payload: dict) -> str:
    head = payload.get("head_commit")
    sha = head.get("id") if isinstance(head, dict) else None
    if sha is None:
        return ""
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise BadPayload("payload field head_commit.id must be a 40-hex commit sha")
    return sha


def _paths_match(service: Service, files: set[str] | None) -> bool:
    if not service.paths or files is None:
        return True
    return any(glob_match(f, p) for f in files for p in service.paths)


def route(catalog: Catalog, event: str, payload: Any, enterprise_host: str | None = None) -> Decision:
    """The jobs ``event`` starts; raises BadPayload when a field the event needs is malformed."""
    if event == "ping":
        return Decision(ignored=None)
    if event not in ("push", "pull_request"):
        return Decision(ignored=f"event {event!r} does not start builds")
    if not isinstance(payload, dict):
        raise BadPayload("payload must be a JSON object")
    repo = _str(payload, "repository", "full_name")
    host = delivery_host(payload, enterprise_host)
    expected = (urlsplit(catalog.github_url).hostname or "github.com").lower()
    if host != expected:
        return Decision(ignored=f"delivery from {host}, but the catalog's repositories are on {expected}")
    services = catalog.services_for_repo(repo)
    if event == "push":
        return _route_push(services, repo, payload)
    return _route_pr(services, repo, payload)


def _route_push(services: list[Service], repo: str, payload: dict) -> Decision:
    ref = _str(payload, "ref")
    after = _str(payload, "after")
    if payload.get("deleted") is True or after == ZERO_SHA:
        return Decision(ignored=f"{ref} was deleted")
    if not _SHA.match(after or ""):
        raise BadPayload("payload field after must be a 40-hex commit sha")
    if not services:
        return Decision(ignored=f"repository {repo} is not in the catalog")
    is_tag = ref.startswith("refs/tags/")
    if not is_tag and not ref.startswith("refs/heads/"):
        return Decision(ignored=f"ref {ref} is neither a branch nor a tag")
    name = ref.split("/", 2)[2] if ref.count("/") >= 2 else ref
    files = None if is_tag else changed_files(payload)
    commit = _tag_commit(payload) if is_tag else after
    triggers: list[Trigger] = []
    reasons: list[str] = []
    for svc in services:
        envs = [e for e in ENVIRONMENT_NAMES if e in svc.environments
                and ref_matches(ref, svc.environments[e].branches)]
        if not envs:
            reasons.append(f"{'tag' if is_tag else 'branch'} {name} is not built for {svc.name}")
            continue
        if not _paths_match(svc, files):
            reasons.append(f"no changed file matches the paths of {svc.name}")
            continue
        for env in envs:
            triggers.append(Trigger(pipeline_job_name(env, svc.name), {
                "COMMIT_SHA": commit, "BRANCH": name, "GIT_REF": ref, "TARGET_ENV": env,
                "IMAGE_TAG": name if is_tag else "", "PR_NUMBER": ""}))
    return Decision(triggers, None if triggers else "; ".join(reasons))


def _route_pr(services: list[Service], repo: str, payload: dict) -> Decision:
    action = _str(payload, "action")
    if action not in PR_ACTIONS:
        return Decision(ignored=f"pull_request action {action!r} does not start builds")
    number = payload.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise BadPayload("payload field number must be a positive integer")
    sha = _str(payload, "pull_request", "head", "sha")
    if not _SHA.match(sha):
        raise BadPayload("payload field pull_request.head.sha must be a 40-hex commit sha")
    head_ref = _str(payload, "pull_request", "head", "ref")
    base_ref = _str(payload, "pull_request", "base", "ref")
    head_repo = _str(payload, "pull_request", "head", "repo", "full_name", required=False)
    if not services:
        return Decision(ignored=f"repository {repo} is not in the catalog")
    if head_repo is None or head_repo.lower() != repo.lower():
        return Decision(ignored=f"pull request #{number} comes from a fork ({head_repo or 'deleted repository'})")
    triggers: list[Trigger] = []
    reasons: list[str] = []
    for svc in services:
        env = pr_environment(svc)
        job = pr_job_name(svc)
        if env is None or job is None:
            continue
        if not ref_matches(f"refs/heads/{base_ref}", svc.environments[env].branches):
            reasons.append(f"base branch {base_ref} is not built for {svc.name}")
            continue
        triggers.append(Trigger(job, {
            "COMMIT_SHA": sha, "BRANCH": head_ref, "GIT_REF": f"refs/pull/{number}/head",
            "TARGET_ENV": env, "IMAGE_TAG": "", "PR_NUMBER": str(number)}))
    return Decision(triggers, None if triggers else "; ".join(reasons))
