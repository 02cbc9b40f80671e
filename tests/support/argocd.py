"""An Argo CD API on pytest-httpserver: ``GET /api/v1/applications/{name}`` answering with
Application bodies (:func:`pipeline_lib.localparts.argocd.application_body`) that are validated,
before they are sent, against the ``v1alpha1Application`` definition of Argo CD's own swagger
(tests/fixtures/argocd/swagger.json, argoproj/argo-cd assets/swagger.json) — so a body gantry reads
is shaped like a real server's."""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime

from jsonschema import Draft4Validator
from werkzeug import Request, Response

from pipeline_lib.localparts.argocd import application_body
from tests.support.paths import FIXTURES

SWAGGER = FIXTURES / "argocd" / "swagger.json"


@functools.cache
def application_validator() -> Draft4Validator:
    """The swagger's ``v1alpha1Application`` with its ``#/definitions/…`` references resolvable."""
    definitions = json.loads(SWAGGER.read_bytes())["definitions"]
    return Draft4Validator({"$ref": "#/definitions/v1alpha1Application", "definitions": definitions})


def check_shape(body: dict) -> dict:
    errors = sorted(application_validator().iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"not a v1alpha1Application: {errors[0].message} at {list(errors[0].path)}"
    return body


class FakeArgoCD:
    """Apps keyed by name; :meth:`deploy` appends a sync of ``revision`` at ``at``."""

    def __init__(self, httpserver, token: str = "argocd-test-token", repo: str = "https://example/gitops.git") -> None:
        self.server = httpserver
        self.token = token
        self.repo = repo
        self.history: dict[str, list[tuple[str, datetime]]] = {}
        self.health: dict[str, str] = {}
        self.health_since: dict[str, datetime] = {}
        self.requests = 0
        self.attach(httpserver)

    def attach(self, httpserver) -> None:
        """Serve on ``httpserver`` (again: pytest-httpserver clears its handlers after each test)."""
        self.server = httpserver
        httpserver.expect_request(re.compile(r"^/api/v1/applications/.*")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def deploy(self, app: str, revision: str, at: datetime, health: str = "Healthy") -> None:
        self.history.setdefault(app, []).append((revision, at))
        self.health[app] = health
        self.health_since[app] = at

    def set_health(self, app: str, health: str, at: datetime | None = None) -> None:
        """A health transition at ``at`` (default: the last deployment)."""
        if self.health.get(app) != health:
            self.health_since[app] = at or self.history[app][-1][1]
        self.health[app] = health

    def body(self, app: str) -> dict:
        hist = self.history[app]
        return check_shape(application_body(app, repo=self.repo, path=f"apps/{app}", revision=hist[-1][0],
                                            health=self.health[app], history=hist[-10:],
                                            health_since=self.health_since[app]))

    def handle(self, request: Request) -> Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response(json.dumps({"error": "invalid session", "code": 16, "message": "invalid session"}), 401,
                            content_type="application/json")
        app = request.path.rsplit("/", 1)[-1]
        if app not in self.history:
            return Response(json.dumps({"error": "not found", "code": 5, "message": f"applications.argoproj.io "
                                        f"\"{app}\" not found"}), 404, content_type="application/json")
        return Response(json.dumps(self.body(app)), 200, content_type="application/json")
