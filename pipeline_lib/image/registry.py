"""A small OCI distribution client (``/v2/`` API) over ``requests``.

Manifests are fetched with an ``Accept`` header listing both OCI and Docker media types
(docker-registry 2.8 answers 404 otherwise). Blobs are checked with ``HEAD`` before upload,
mounted across repositories when possible (``POST …/blobs/uploads/?mount=&from=``) and
uploaded monolithically (``POST`` then ``PUT ?digest=``). Transient failures (connection
errors, 408, 429, 5xx) are retried by the :mod:`pipeline_lib.core.http` session (idempotent
calls) with this client's ``attempts`` and ``backoff``; a monolithic blob upload is retried as a
whole (:mod:`pipeline_lib.core.retry`) from a fresh upload session, so a dropped connection never
leaves a half-written blob behind a digest.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

import requests

from pipeline_lib.core.answer import json_of, optional
from pipeline_lib.core.errors import BadAnswer, GantryError, Unavailable, error_for_status
from pipeline_lib.core.http import retry_policy
from pipeline_lib.core.http import session as http_session
from pipeline_lib.core.retry import backoff_delay, call as retry_call
from pipeline_lib.core.reference import MANIFEST_ACCEPT

Credentials = Callable[[], "tuple[str, str] | None"]

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_local(host: str) -> bool:
    return host.rsplit(":", 1)[0] in LOCAL_HOSTS or host.startswith("[::1]")


@dataclass
class ManifestInfo:
    digest: str
    media_type: str
    size: int


@dataclass
class TransferStats:
    """What a copy or push did with blobs: how many were skipped, mounted or uploaded."""

    blobs_skipped: int = 0
    blobs_mounted: int = 0
    blobs_uploaded: int = 0
    bytes_uploaded: int = 0

    def add(self, other: TransferStats) -> None:
        self.blobs_skipped += other.blobs_skipped
        self.blobs_mounted += other.blobs_mounted
        self.blobs_uploaded += other.blobs_uploaded
        self.bytes_uploaded += other.bytes_uploaded


class RegistryClient:
    """One registry host; ``credentials()`` (basic auth) is asked again after a 401."""

    def __init__(self, host: str, *, credentials: Credentials | None = None, scheme: str | None = None,
                 attempts: int = 5, backoff: float = 0.2, timeout: float = 60.0,
                 session: requests.Session | None = None, chunk_size: int = 16 << 20) -> None:
        self.host = host
        self.scheme = scheme or ("http" if is_local(host) else "https")
        self.base = f"{self.scheme}://{host}"
        self.credentials = credentials
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.session = session or http_session(retry=retry_policy(total=self.attempts - 1, backoff=backoff,
                                                                  statuses=RETRY_STATUS), timeout=timeout)
        # blob bodies are streams: no resend below the upload transaction, which retries as a whole
        self.transfer = http_session(retry=retry_policy(total=0), timeout=timeout)
        self.chunk_size = chunk_size
        self._bearer: str | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        if self._bearer:
            return {"Authorization": f"Bearer {self._bearer}"}
        creds = self.credentials() if self.credentials else None
        if creds:
            user, password = creds
            import base64
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        return {}

    def _bearer_token(self, challenge: str) -> bool:
        """Answer a ``WWW-Authenticate: Bearer realm=…`` challenge (token auth registries)."""
        if not challenge.lower().startswith("bearer "):
            return False
        params = {}
        for part in challenge[7:].split(","):
            k, _, v = part.strip().partition("=")
            params[k] = v.strip('"')
        realm = params.pop("realm", None)
        if not realm:
            return False
        creds = self.credentials() if self.credentials else None
        resp = self.session.get(realm, params=params, auth=creds, timeout=self.timeout)
        if resp.status_code != 200:
            return False
        # https://distribution.github.io/distribution/spec/auth/token/: "token", or "access_token"
        where = f"registry {self.host} token GET {realm.split('?')[0]}"
        body = json_of(resp, where)
        self._bearer = (optional(body, "token", kind=str, where=where)
                        or optional(body, "access_token", kind=str, where=where))
        if not self._bearer:
            raise BadAnswer(where, "answer has no field 'token' (nor 'access_token')")
        return True

    def request(self, method: str, path_or_url: str, *, ok: Iterable[int] = (200,),
                headers: dict[str, str] | None = None, data: Any = None,
                params: dict[str, str] | None = None, stream: bool = False) -> requests.Response:
        """One API call; transient failures are retried by the session (idempotent methods);
        a 401 challenge is answered once. Non-``ok`` statuses are returned too, except transient
        ones still failing after the retries: Unavailable."""
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.base + path_or_url
        ok = tuple(ok)
        for challenged in (False, True):
            hdrs = {**self._auth_headers(), **(headers or {})}
            body = data() if callable(data) else data
            try:
                resp = self.session.request(method, url, headers=hdrs, data=body, params=params,
                                            timeout=self.timeout, stream=stream, allow_redirects=True)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {str(exc)[:200]}"
                break
            if resp.status_code == 401 and not challenged:
                challenge = resp.headers.get("WWW-Authenticate", "")
                if self._bearer_token(challenge) or self.credentials:
                    continue
            if resp.status_code not in RETRY_STATUS or resp.status_code in ok:
                return resp
            last = f"HTTP {resp.status_code} {resp.reason}"
            resp.close()
            break
        tries = self.attempts if method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") else 1
        raise Unavailable(f"registry {self.host}", f"{method} {url.removeprefix(self.base)} failed after "
                                                   f"{tries} attempt{'s' if tries > 1 else ''}: {last}")

    @staticmethod
    def _fail(resp: requests.Response, what: str) -> GantryError:
        detail = ""
        try:
            doc = resp.json()
            errors = doc.get("errors") if isinstance(doc, dict) else None
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)) \
                if isinstance(errors, list) else ""
        except ValueError:
            detail = resp.text[:200]
        return error_for_status(resp.status_code, f"registry {resp.url.split('/v2/')[0].split('://')[-1]}",
                                f"{what}: HTTP {resp.status_code}{' ' + detail if detail else ''}")

    # -- API ----------------------------------------------------------------------------------
    def ping(self) -> bool:
        resp = self.request("GET", "/v2/", ok=(200, 401))
        return resp.status_code == 200

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """The manifest's digest (``Docker-Content-Digest``), or None when it does not exist."""
        resp = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", ok=(200, 404),
                            headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, f"HEAD manifest {repository}:{reference}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest and reference.startswith("sha256:"):
            digest = reference
        if not digest:
            _, info = self.get_manifest(repository, reference)
            return info
        return ManifestInfo(digest, resp.headers.get("Content-Type", ""),
                            int(resp.headers.get("Content-Length", "0") or 0))

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, ManifestInfo]:
        resp = self.request("GET", f"/v2/{repository}/manifests/{reference}", ok=(200, 404),
                            headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code != 200:
            raise self._fail(resp, f"manifest {repository}:{reference} not found"
                             if resp.status_code == 404 else f"GET manifest {repository}:{reference}")
        body = resp.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise GantryError(f"registry {self.host}", f"manifest {repository}@{reference} content has digest {digest}")
        return body, ManifestInfo(digest, resp.headers.get("Content-Type", "").split(";")[0], len(body))

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repository}/manifests/{reference}", ok=(201, 200),
                            headers={"Content-Type": media_type}, data=body)
        if resp.status_code not in (200, 201):
            raise self._fail(resp, f"PUT manifest {repository}:{reference}")
        digest = resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        return digest

    def has_blob(self, repository: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", ok=(200, 404))
        if resp.status_code not in (200, 404):
            raise self._fail(resp, f"HEAD blob {digest[:19]}")
        return resp.status_code == 200

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Cross-repository mount; True when the registry mounted it (201), False otherwise."""
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/", ok=(201, 202),
                            params={"mount": digest, "from": source_repository})
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:  # mount refused: an upload session was opened; cancel it
            location = resp.headers.get("Location")
            if location:
                try:
                    self.request("DELETE", self._abs(location), ok=(204, 404, 200))
                except GantryError:
                    pass
        return False

    def _location(self, start: requests.Response, repository: str) -> str:
        """The upload URL of a ``202 Accepted`` upload session (OCI distribution spec: ``Location``)."""
        location = start.headers.get("Location")
        if not location:
            raise BadAnswer(f"registry {self.host} POST /v2/{repository}/blobs/uploads/",
                            "answer has no Location header (the upload URL)")
        return self._abs(location)

    def _abs(self, location: str) -> str:
        return location if location.startswith(("http://", "https://")) else self.base + location

    def upload_blob(self, repository: str, digest: str, opener: Callable[[], BinaryIO | bytes],
                    size: int) -> None:
        """Upload a blob: monolithic up to ``chunk_size``, chunked (resumable) above it.

        A monolithic attempt that fails opens a new upload session and re-reads the data from
        the start; the registry checks the digest on the final ``PUT``, so a broken transfer can
        never be stored under the digest.
        """
        if size > self.chunk_size:
            return self._upload_chunked(repository, digest, opener, size)
        try:
            retry_call(lambda: self._upload_once(repository, digest, opener, size), Unavailable,
                       deadline=float("inf"), attempts=self.attempts, first=self.backoff,
                       max_wait=self.backoff * 2 ** self.attempts)
        except Unavailable as exc:
            raise Unavailable(f"registry {self.host}", f"upload of blob {digest[:19]} to {repository} failed "
                                                       f"after {self.attempts} attempts: {exc.what}") from None

    def _upload_once(self, repository: str, digest: str, opener: Callable[[], BinaryIO | bytes],
                     size: int) -> None:
        """One upload transaction: open a session, PUT the whole blob; Unavailable when transient."""
        start = self.request("POST", f"/v2/{repository}/blobs/uploads/", ok=(202,))
        if start.status_code != 202:
            raise self._fail(start, f"start upload of {digest[:19]}")
        location = self._location(start, repository)
        sep = "&" if "?" in location else "?"
        raw = opener()
        try:
            # A network stream (another registry's blob) has no length requests can see: it would add
            # "Transfer-Encoding: chunked" beside Content-Length and the registry would wait for chunk
            # framing that never comes. Blobs here are at most chunk_size: read such a stream whole.
            body = raw if isinstance(raw, (bytes, bytearray, io.BufferedReader)) else raw.read()
            resp = self.transfer.put(f"{location}{sep}digest={digest}", data=body,
                                     headers={**self._auth_headers(), "Content-Type": "application/octet-stream",
                                              "Content-Length": str(size)}, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable(f"registry {self.host}", f"{type(exc).__name__}: {str(exc)[:200]}") from None
        finally:
            if hasattr(raw, "close"):
                raw.close()
        if resp.status_code in (201, 204):
            return
        if resp.status_code not in RETRY_STATUS:
            raise self._fail(resp, f"upload of blob {digest[:19]}")
        raise Unavailable(f"registry {self.host}", f"HTTP {resp.status_code}")

    @staticmethod
    def _open_at(opener: Callable[[], BinaryIO | bytes], offset: int) -> BinaryIO:
        import io
        stream = opener()
        if isinstance(stream, bytes):
            stream = io.BytesIO(stream)
        if offset:
            if getattr(stream, "seekable", lambda: False)():
                stream.seek(offset)
            else:  # a network stream: read past what the registry already has
                left = offset
                while left:
                    got = stream.read(min(left, 1 << 20))
                    if not got:
                        raise GantryError("upload", "source ended before the resume offset")
                    left -= len(got)
        return stream

    def _upload_chunked(self, repository: str, digest: str, opener: Callable[[], BinaryIO | bytes],
                        size: int) -> None:
        """``PATCH`` chunks with ``Content-Range``; after a failure ask the registry how much it
        has (``GET`` the upload: ``Range: 0-N``) and resume from there; then ``PUT ?digest=``."""
        last = ""
        for session_attempt in range(self.attempts):
            start = self.request("POST", f"/v2/{repository}/blobs/uploads/", ok=(202,))
            if start.status_code != 202:
                raise self._fail(start, f"start upload of {digest[:19]}")
            location = self._location(start, repository)
            offset, failures = 0, 0
            stream = self._open_at(opener, 0)
            try:
                while offset < size:
                    chunk = stream.read(min(self.chunk_size, size - offset))
                    if not chunk:
                        raise GantryError("upload", f"blob {digest[:19]}: source ended at {offset} of {size} bytes")
                    try:
                        resp = self.transfer.patch(location, data=chunk, timeout=self.timeout, headers={
                            **self._auth_headers(), "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                            "Content-Length": str(len(chunk))})
                    except (requests.ConnectionError, requests.Timeout) as exc:
                        resp, last = None, f"{type(exc).__name__}"
                    if resp is not None and resp.status_code == 202:
                        location = self._abs(resp.headers.get("Location", location))
                        offset += len(chunk)
                        failures = 0
                        continue
                    if resp is not None:
                        if resp.status_code not in RETRY_STATUS and resp.status_code != 416:
                            raise self._fail(resp, f"upload of blob {digest[:19]}")
                        last = f"HTTP {resp.status_code}"
                    failures += 1
                    if failures >= self.attempts:
                        break
                    time.sleep(backoff_delay(failures, self.backoff * 2, self.backoff * 2 ** self.attempts))
                    status = self.request("GET", location, ok=(204, 404))
                    if status.status_code != 204:
                        break  # the session is gone: start a new one
                    have = status.headers.get("Range", "")
                    end = int(have.rsplit("-", 1)[1]) if "-" in have else -1
                    if end <= 0 and offset > 1:
                        break  # "0-0" is ambiguous; never guess an offset
                    offset = end + 1 if end > 0 else 0
                    location = self._abs(status.headers.get("Location", location))
                    stream.close()
                    stream = self._open_at(opener, offset)
                else:
                    sep = "&" if "?" in location else "?"
                    resp = self.request("PUT", f"{location}{sep}digest={digest}", ok=(201, 204),
                                        headers={"Content-Length": "0"})
                    if resp.status_code in (201, 204):
                        return
                    if resp.status_code != 400:
                        raise self._fail(resp, f"finish upload of {digest[:19]}")
                    last = "digest mismatch after resume"
            finally:
                stream.close()
        raise GantryError(f"registry {self.host}", f"chunked upload of blob {digest[:19]} to {repository} failed "
                                                   f"after {self.attempts} sessions: {last}")

    def get_blob(self, repository: str, digest: str) -> requests.Response:
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}", ok=(200,), stream=True)
        if resp.status_code != 200:
            raise self._fail(resp, f"GET blob {digest[:19]}")
        return resp


def registry_for(host: str) -> RegistryClient:
    """A client for ``host``: plain HTTP on loopback, HTTPS otherwise, ECR credentials on ECR hosts."""
    from ..ecr.auth import credentials_for
    return RegistryClient(host, credentials=credentials_for(host))
