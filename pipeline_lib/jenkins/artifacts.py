"""Fetch an archived artifact of a job's last successful build (the PR gate's baseline).

Two documented Jenkins remote-access calls (https://www.jenkins.io/doc/book/using/remote-access-api/):
``GET job/<name>/lastSuccessfulBuild/api/json?tree=number,url,artifacts[relativePath]`` (which
build, and does it have the artifact) then ``GET <build url>artifact/<relativePath>`` (the
bytes; the "last successful" permalink is resolved once, so both calls see the same build).
Folders: ``dev/web`` → ``job/dev/job/web``. Settings come from :func:`pipeline_lib.jenkins.client.load_settings`
(``JENKINS_URL``, ``JENKINS_USER``, ``JENKINS_API_TOKEN`` — the build's credentials); basic auth
with the API token, never logged. Connection errors, 429 and 5xx are retried (the one policy of
:mod:`pipeline_lib.core.http`).
Every failure is one :class:`GantryError`: callers decide whether it is fatal (the PR gate
treats an unreachable baseline as "all findings are new", never as a failed build).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import requests

from pipeline_lib.core.answer import json_of, optional, require
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.http import retry_policy
from pipeline_lib.core.http import session as http_session

from .client import JenkinsSettings

DEFAULT_ARTIFACT = "reports/gate/findings.json"
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Artifact:
    job: str
    build: int
    build_url: str
    path: str
    content: bytes


def job_path(job: str) -> str:
    """``"dev/web"`` → ``"job/dev/job/web"`` (each segment URL-quoted)."""
    parts = [p for p in job.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise GantryError("--baseline-from-jenkins", f"not a Jenkins job name: {job!r}")
    return "/".join(f"job/{quote(p, safe='')}" for p in parts)


def _session(settings: JenkinsSettings, retries: int) -> requests.Session:
    s = http_session(retry=retry_policy(total=retries, statuses=(500, 502, 503, 504, 429)), timeout=settings.timeout)
    if settings.user and settings.token:
        s.auth = (settings.user, settings.token)
    return s


def fetch_last_successful(settings: JenkinsSettings, job: str, artifact: str = DEFAULT_ARTIFACT, *,
                          retries: int = 2, max_bytes: int = MAX_ARTIFACT_BYTES) -> Artifact:
    """The bytes of ``artifact`` (a path relative to the build's archive) from ``job``'s last successful build.

    Raises GantryError("jenkins <job>", …) when Jenkins is not configured or unreachable, the
    job has no successful build, the build did not archive ``artifact``, or it is larger than
    ``max_bytes``.
    """
    where = f"jenkins {job}"
    if not settings.url or not settings.url.startswith(("http://", "https://")):
        raise GantryError(where, "JENKINS_URL is not set (the build's Jenkins URL)")
    base = settings.url.rstrip("/") + "/" + job_path(job)
    session = _session(settings, retries)
    try:
        try:
            r = session.get(f"{base}/lastSuccessfulBuild/api/json",
                            params={"tree": "number,url,artifacts[relativePath]"}, timeout=settings.timeout)
        except requests.RequestException as exc:
            raise GantryError(where, f"unreachable ({type(exc).__name__})") from None
        if r.status_code == 404:
            raise GantryError(where, "no such job or no successful build yet")
        if r.status_code in (401, 403):
            raise GantryError(where, f"HTTP {r.status_code}: the credentials cannot read this job")
        if r.status_code != 200:
            raise GantryError(where, f"HTTP {r.status_code} reading the last successful build")
        endpoint = f"{where} GET {job_path(job)}/lastSuccessfulBuild/api/json"
        info = json_of(r, endpoint)
        number = require(info, "number", kind=int, where=endpoint)
        url = optional(info, "url", kind=str, default="", where=endpoint)
        artifacts = optional(info, "artifacts", kind=list, default=[], where=endpoint)
        paths = [optional(info, "artifacts", i, "relativePath", kind=str, where=endpoint)
                 for i in range(len(artifacts))]
        if artifact not in paths:
            raise GantryError(where, f"build #{number} did not archive {artifact}")
        build_url = url if url.startswith(("http://", "https://")) else f"{base}/{number}/"
        # fetch from the same server we were configured with (the build URL may carry Jenkins'
        # public root URL, which an agent cannot always reach)
        art_url = f"{base}/{number}/artifact/" + "/".join(quote(p) for p in artifact.split("/"))
        try:
            with session.get(art_url, stream=True, timeout=settings.timeout) as resp:
                if resp.status_code != 200:
                    raise GantryError(where, f"HTTP {resp.status_code} downloading {artifact} of build #{number}")
                chunks, size = [], 0
                for chunk in resp.iter_content(1 << 16):
                    size += len(chunk)
                    if size > max_bytes:
                        raise GantryError(where, f"{artifact} of build #{number} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
        except requests.RequestException as exc:
            raise GantryError(where, f"download failed ({type(exc).__name__})") from None
        return Artifact(job, number, build_url, artifact, b"".join(chunks))
    finally:
        session.close()
