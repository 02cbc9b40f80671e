"""A tiny image pushed to a real local registry, and a proxy that adds the OCI 1.1 referrers API
in front of Debian's docker-registry 2.8 (which has no such API)."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from tests.support.oci import image_layout


def push_image(client: RegistryClient, tmp: Path, repository: str | None = None, tag: str = "v1") -> tuple[str, str]:
    """Push a fresh one-layer image; return (repository, digest)."""
    repository = repository or f"shop/att-{uuid.uuid4().hex[:8]}"
    layout, _ = image_layout(tmp / f"layout-{uuid.uuid4().hex[:6]}", f"content {uuid.uuid4().hex}")
    result = copy_image(LayoutSource(layout), "app", client, repository, [tag])
    return repository, result.digest


class ReferrersProxy:
    """Forwards to a registry; answers ``GET /v2/<name>/referrers/<digest>`` itself (OCI 1.1: an image
    index of the manifests whose ``subject`` is the digest, learnt from the artifact manifests PUT
    through it) and answers such a PUT with ``OCI-Subject``, as a registry with the API does.
    ``hide_tag_schema``: 404 for ``sha256-…`` tag reads, so only the API can find referrers."""

    def __init__(self, upstream: str, hide_tag_schema: bool = False, api: bool = True,
                 immutable_tags: bool = False) -> None:
        self.upstream = upstream
        self.hide_tag_schema = hide_tag_schema
        self.api = api                      # False: no referrers API (404), no OCI-Subject
        self.immutable_tags = immutable_tags  # ECR IMMUTABLE: a PUT to an existing tag is refused (400)
        self.tag_puts: list[str] = []
        self.index: dict[str, list[dict]] = {}
        self.api_calls = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                if self.command == "PUT" and "/manifests/" in path and "/manifests/sha256:" not in path:
                    proxy.tag_puts.append(path.rsplit("/", 1)[1])
                    if proxy.immutable_tags and requests.head(proxy.upstream + path, timeout=10, headers={
                            "Accept": "application/vnd.oci.image.index.v1+json"}).status_code == 200:
                        return self._send(400, json.dumps({"errors": [{"code": "TAG_INVALID", "message":
                                          "ImageTagAlreadyExistsException: tag is immutable"}]}).encode(),
                                          {"Content-Type": "application/json"})
                if self.command == "GET" and "/referrers/" in path and not proxy.api:
                    return self._send(404, b"404 page not found", {"Content-Type": "text/plain"})
                if self.command == "GET" and "/referrers/" in path:
                    proxy.api_calls += 1
                    digest = path.rsplit("/", 1)[1]
                    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": proxy.index.get(digest, [])}
                    return self._send(200, json.dumps(doc).encode(),
                                      {"Content-Type": "application/vnd.oci.image.index.v1+json"})
                if proxy.hide_tag_schema and "/manifests/sha256-" in path and self.command in ("GET", "HEAD"):
                    return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', {"Content-Type": "application/json"})
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                resp = requests.request(self.command, proxy.upstream + self.path, data=body or None,
                                        headers=headers, allow_redirects=False, timeout=60)
                extra: dict[str, str] = {}
                if self.command == "PUT" and "/manifests/" in path and resp.status_code == 201:
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = {}
                    subject = doc.get("subject") if isinstance(doc, dict) else None
                    if isinstance(subject, dict) and proxy.api:
                        import hashlib
                        proxy.index.setdefault(subject["digest"], []).append(
                            {"mediaType": doc.get("mediaType"), "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                             "size": len(body), "artifactType": doc.get("artifactType"),
                             "annotations": doc.get("annotations", {})})
                        extra["OCI-Subject"] = subject["digest"]
                content = resp.content if self.command != "HEAD" else b""
                hdrs = {k: v for k, v in resp.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
                self.send_response(resp.status_code)
                for k, v in {**hdrs, **extra}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", resp.headers.get("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(content)))
                self.end_headers()
                if content:
                    self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[ReferrersProxy]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
