"""A small GitHub REST client: one sticky PR comment and a commit status.

Works with GitHub.com (``https://api.github.com``) and GitHub Enterprise Server
(``https://HOST/api/v3``). The token comes from the environment (``GITHUB_TOKEN``), is sent
as ``Authorization: Bearer`` and never appears in messages. 5xx answers and secondary rate
limits (403/429 with ``Retry-After``, or ``x-ratelimit-remaining: 0``) are retried by the session
of :mod:`pipeline_lib.core.http` with GitHub's rules (:class:`_GitHubRetry`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, ResponseError

from .answer import json_of, optional, require
from .errors import BadAnswer, GantryError, Unavailable, error_for_status
from .http import GantryRetry, retry_policy
from .http import session as http_session
from .settings import DEFAULT_GITHUB_API_URL

DEFAULT_API_URL = DEFAULT_GITHUB_API_URL
STATUS_CONTEXT = "gantry/security"
MAX_COMMENT_CHARS = 65_536
MAX_STATUS_DESCRIPTION = 140
STATES = ("success", "failure", "error", "pending")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def check_repo(repo: str) -> str:
    if not _REPO.match(repo or "") or ".." in repo:
        raise GantryError("--repo", f"expected owner/name, not {repo!r}")
    return repo


def check_sha(sha: str) -> str:
    if not _SHA.match(sha or ""):
        raise GantryError("--sha", "expected a hexadecimal commit SHA")
    return sha


@dataclass
class CommentResult:
    action: str        # created | updated | unchanged
    id: int
    url: str


SECONDARY_LIMIT_WAIT = 60.0   # GitHub: with no rate-limit header, "wait at least one minute"


class _GitHubRetry(GantryRetry):
    """GitHub's rate-limit rules on top of :mod:`pipeline_lib.core.http`'s policy
    (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api): a 403 or
    429 with ``Retry-After`` waits that long; with ``x-ratelimit-remaining: 0`` it waits until
    ``x-ratelimit-reset`` (epoch seconds). Any other 403 is a permission error: not retried."""

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        if after is None and response.status in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0":
            try:
                return max(0.0, float(response.headers.get("x-ratelimit-reset", "0")) - time.time()) + 1
            except ValueError:
                return SECONDARY_LIMIT_WAIT
        return after

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> GantryRetry:
        if response is not None and response.status == 403 and self.get_retry_after(response) is None:
            raise MaxRetryError(_pool, url, ResponseError("HTTP 403 is not a rate limit"))
        return super().increment(method, url, response=response, error=error, _pool=_pool, _stacktrace=_stacktrace)


class GitHubClient:
    """GitHub REST v3 on one :func:`pipeline_lib.core.http.session`; ``sleep`` is injectable so
    tests do not wait. Connection failures and 5xx are retried for idempotent calls; rate-limit
    answers (403/429, which GitHub rejects unprocessed) for every call; a wait longer than
    ``max_wait`` seconds fails at once (Unavailable)."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 30,
                 max_retries: int = 4, max_wait: float = 120, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not token:
            raise GantryError("GITHUB_TOKEN", "not set (a token with pull request and status write access)")
        if not api_url.startswith(("https://", "http://")):
            raise GantryError("--api-url", "must be an http(s) URL")
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        retry = retry_policy(total=max_retries, statuses=(429, 500, 502, 503, 504, 403), retry_after_max=max_wait,
                             not_processed=(403, 429), sleep=sleep, cls=_GitHubRetry)
        self.session = session or http_session(retry=retry, timeout=timeout)
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                                     "X-GitHub-Api-Version": "2022-11-28"})

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _send(self, method: str, url: str, where: str, json: Any, params: dict | None) -> requests.Response:
        try:
            return self.session.request(method, url, json=json, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unavailable(where, self._redact(f"request failed: {type(exc).__name__}")) from None

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> requests.Response:
        """One API call (retried by the session's policy). Raises the typed error of the final
        status (Unauthorized, NotFound, Conflict for 422 validation errors, Unavailable…)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}/{path.lstrip('/')}"
        where = f"github {method} {re.sub(r'^https?://[^/]+', '', url).split('?')[0]}"
        resp = self._send(method, url, where, json, params)
        if resp.status_code in (403, 429):
            wait = _GitHubRetry().get_retry_after(resp.raw) if resp.raw is not None else None
            if wait is not None and wait > self.max_wait:
                raise Unavailable(where, f"rate limited; retry after {wait:.0f}s exceeds the {self.max_wait:.0f}s limit")
            if wait is None and "rate limit" in resp.text[:2000].lower():
                self.sleep(SECONDARY_LIMIT_WAIT)   # a secondary limit without headers: once, after a minute
                resp = self._send(method, url, where, json, params)
        if resp.status_code < 400:
            return resp
        raise error_for_status(resp.status_code, where, self._redact(f"HTTP {resp.status_code}: {_message(resp)}"))

    def paginate(self, path: str, params: dict | None = None, *, max_pages: int = 100) -> Iterator[dict]:
        url: str | None = path
        for _ in range(max_pages):
            if url is None:
                return
            resp = self.request("GET", url, params=params)
            params = None  # the next link carries them
            data = _json(resp, f"github GET {path}")
            if not isinstance(data, list):
                raise BadAnswer(f"github GET {path}", "answer is not a JSON array")
            yield from (d for d in data if isinstance(d, dict))
            m = _NEXT.search(resp.headers.get("Link", ""))
            url = m.group(1) if m else None

    def find_comment(self, repo: str, pr: int, marker: str) -> dict | None:
        for c in self.paginate(f"repos/{check_repo(repo)}/issues/{int(pr)}/comments", {"per_page": 100}):
            if marker in (c.get("body") or ""):
                return c
        return None

    def upsert_comment(self, repo: str, pr: int, body: str, marker: str) -> CommentResult:
        """Edit the comment carrying ``marker`` or create it: never a second comment."""
        if pr <= 0:
            raise GantryError("--pr", "must be a positive pull request number")
        if marker not in body:
            body = f"{marker}\n{body}"
        if len(body) > MAX_COMMENT_CHARS:
            note = "\n\n_Truncated to GitHub's comment size limit._\n"
            body = body[: MAX_COMMENT_CHARS - len(note)] + note
        existing = self.find_comment(repo, pr, marker)
        if existing is not None:
            listed = f"github GET /repos/{repo}/issues/{int(pr)}/comments"
            comment_id = require(existing, "id", kind=int, where=listed)
            if existing.get("body") == body:
                return CommentResult("unchanged", comment_id, str(optional(existing, "html_url", kind=str,
                                                                              default="", where=listed)))
            where = f"github PATCH /repos/{repo}/issues/comments/{comment_id}"
            data = _json(self.request("PATCH", f"repos/{repo}/issues/comments/{comment_id}", json={"body": body}),
                         where)
            return CommentResult("updated", require(data, "id", kind=int, where=where),
                                 optional(data, "html_url", kind=str, default="", where=where))
        where = f"github POST /repos/{repo}/issues/{int(pr)}/comments"
        data = _json(self.request("POST", f"repos/{repo}/issues/{int(pr)}/comments", json={"body": body}), where)
        return CommentResult("created", require(data, "id", kind=int, where=where),
                             optional(data, "html_url", kind=str, default="", where=where))

    def set_status(self, repo: str, sha: str, state: str, description: str, *,
                   context: str = STATUS_CONTEXT, target_url: str | None = None) -> dict:
        if state not in STATES:
            raise GantryError("status", f"state must be one of {', '.join(STATES)}")
        desc = " ".join(description.split())
        if len(desc) > MAX_STATUS_DESCRIPTION:
            desc = desc[: MAX_STATUS_DESCRIPTION - 1] + "…"
        payload: dict[str, Any] = {"state": state, "description": desc, "context": context}
        if target_url:
            payload["target_url"] = target_url
        resp = self.request("POST", f"repos/{check_repo(repo)}/statuses/{check_sha(sha)}", json=payload)
        where = f"github POST /repos/{repo}/statuses/{sha}"
        data = _json(resp, where)
        require(data, "state", kind=str, where=where)
        return data


def _json(resp: requests.Response, where: str) -> Any:
    """The answer's JSON (BadAnswer naming ``where`` when it is not JSON)."""
    return json_of(resp, where)


def _message(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return (resp.reason or "error")[:200]
    if not isinstance(data, dict):
        return (resp.reason or "error")[:200]
    msg = str(data.get("message", resp.reason or "error"))
    errs = data.get("errors")
    if isinstance(errs, list) and errs:
        msg += " (" + "; ".join(", ".join(f"{k}={v}" for k, v in e.items()) if isinstance(e, dict) else str(e)
                                for e in errs[:5]) + ")"
    return msg[:300]
