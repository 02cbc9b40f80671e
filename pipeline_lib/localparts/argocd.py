"""A stand-in for the Argo CD API on 127.0.0.1: ``GET /api/v1/applications/{name}`` only.

For the demo (and tests that want a server they can change between calls): it answers with
Application bodies shaped like the API's ``v1alpha1Application`` (argoproj/argo-cd
``assets/swagger.json``; the tests validate :func:`application_body` against it), bearer token
required when one is set (401 otherwise), 404 for an unknown application. :meth:`LocalArgoCD.deploy`
records what a sync would: ``status.sync`` (Synced at the revision), ``status.health``,
``status.operationState`` (Succeeded, finishedAt) and a new ``status.history`` entry.
"""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline_lib.core.process import LOOPBACK

PREFIX = "/api/v1/applications/"


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def application_body(name: str, *, repo: str, path: str, revision: str, sync: str = "Synced",
                     health: str = "Healthy", history: list[tuple[str, datetime]] | None = None,
                     health_since: datetime | None = None, namespace: str = "argocd",
                     phase: str = "Succeeded") -> dict:
    """One Application as the API returns it; ``history``: (revision, deployedAt) oldest first."""
    history = history or []
    last_at = history[-1][1] if history else datetime.now(timezone.utc)
    source = {"repoURL": repo, "path": path, "targetRevision": "main"}
    body: dict = {
        "metadata": {"name": name, "namespace": namespace, "uid": f"00000000-0000-4000-8000-{zlib.crc32(name.encode()):012d}",
                     "resourceVersion": str(1000 + len(history)), "creationTimestamp": rfc3339(history[0][1]) if history
                     else rfc3339(last_at)},
        "spec": {"project": "default", "source": source,
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop-dev"},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
        "status": {
            "sync": {"status": sync, "revision": revision,
                     "comparedTo": {"source": source, "destination": {"server": "https://kubernetes.default.svc",
                                                                      "namespace": "shop-dev"}}},
            "health": {"status": health, "lastTransitionTime": rfc3339(health_since or last_at)},
            "history": [{"id": i, "revision": rev, "deployedAt": rfc3339(at), "deployStartedAt": rfc3339(at),
                         "source": source, "initiatedBy": {"automated": True}}
                        for i, (rev, at) in enumerate(history)],
            "reconciledAt": rfc3339(last_at),
            "sourceType": "Kustomize",
            "summary": {"images": []},
        },
    }
    if history:
        body["status"]["operationState"] = {
            "operation": {"sync": {"revision": history[-1][0]}, "initiatedBy": {"automated": True}},
            "phase": phase, "message": "successfully synced (all tasks run)",
            "syncResult": {"revision": history[-1][0], "source": source},
            "startedAt": rfc3339(last_at), "finishedAt": rfc3339(last_at)}
    return body


@dataclass
class LocalArgoCD:
    """The server; ``repo``: the GitOps repository URL the apps read. Start with :meth:`start`
    (a thread), stop with :meth:`stop`; ``url`` once started."""

    repo: str
    token: str | None = None
    port: int = 0
    apps: dict[str, dict] = field(default_factory=dict)
    _history: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def deploy(self, name: str, path: str, revision: str, *, at: datetime | None = None,
               health: str = "Healthy") -> None:
        """What Argo CD shows once it has synced ``revision`` of ``path`` into app ``name``."""
        at = at or datetime.now(timezone.utc)
        with self._lock:
            hist = self._history.setdefault(name, [])
            hist.append((revision, at))
            self.apps[name] = application_body(name, repo=self.repo, path=path, revision=revision, health=health,
                                               history=list(hist))

    def start(self) -> LocalArgoCD:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:   # quiet: the demo prints its own lines
                return

            def _send(self, status: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:   # noqa: N802 (http.server's name)
                if owner.token and self.headers.get("Authorization") != f"Bearer {owner.token}":
                    self._send(401, {"error": "invalid session", "code": 16, "message": "invalid session"})
                    return
                if not self.path.startswith(PREFIX):
                    self._send(404, {"error": "not found", "code": 5, "message": "not found"})
                    return
                name = self.path[len(PREFIX):].split("?", 1)[0]
                with owner._lock:
                    body = owner.apps.get(name)
                if body is None:
                    self._send(404, {"error": f"applications.argoproj.io \"{name}\" not found", "code": 5,
                                     "message": f"applications.argoproj.io \"{name}\" not found"})
                    return
                self._send(200, body)

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-argocd", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalArgoCD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
