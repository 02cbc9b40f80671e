"""Parts of a watched environment: tiny images with signed SBOM attestations in a real local
registry, a GitOps repo pinning them, a Trivy DB built from the advisory files (plus extra
advisories), and fake Slack/GitHub servers answering as their documented APIs do."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from werkzeug import Request, Response

from pipeline_lib.attest.sign import attest_image
from pipeline_lib.attest.statement import sbom_predicate
from pipeline_lib.attest.store import push_bundles
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.image.registry import RegistryClient
from tests.attest.registry_helpers import push_image
from tests.support.paths import FIXTURES, PROJECT_ROOT
from tests.support.trivydb import GHSA_DIR, build_db, install_db

SERVICES = ("storefront", "order-api", "product-api")   # the catalog's dev services


def sbom(repository: str, packages: dict[str, str]) -> dict:
    """A CycloneDX 1.5 SBOM listing PyPI ``packages`` (name → version) of an image."""
    comps = [{"bom-ref": f"pkg:pypi/{n}@{v}", "type": "library", "name": n, "version": v,
              "purl": f"pkg:pypi/{n}@{v}"} for n, v in sorted(packages.items())]
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1,
            "metadata": {"timestamp": "2026-12-01T00:00:00Z",
                         "component": {"bom-ref": "image", "type": "container", "name": repository}},
            "components": comps,
            "dependencies": [{"ref": "image", "dependsOn": [c["bom-ref"] for c in comps]}]}


def push_attested(client: RegistryClient, tmp: Path, repository: str, tag: str, packages: dict[str, str],
                  signer, provenance: dict | None = None) -> str:
    """Push a fresh image and its signed SBOM attestation (and ``provenance``); return the digest."""
    _, digest = push_image(client, tmp, repository, tag)
    predicates = {"sbom": sbom_predicate(sbom(repository, packages))}
    if provenance is not None:
        predicates["provenance"] = provenance
    bundles = attest_image(f"{client.host}/{repository}", digest, signer, predicates)
    push_bundles(client, repository, digest, bundles)
    return digest


def signed_catalog(directory: Path, public_key: Path, services: tuple[str, ...] = SERVICES) -> Path:
    """The repository's catalog with dev's evidence trusted to ``public_key`` (warn)."""
    raw = yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text())
    body = raw[0]["_catalog"]
    body["signing"] = {"dev": {"evidence": "warn", "trusted_keys": [str(public_key)]}}
    body["services"] = [s for s in body["services"] if s["name"] in services]
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_catalog(path)
    return path


def advisory_dir(tmp: Path, extra: list[dict]) -> Path:
    """A copy of the advisory files plus ``extra`` (OSV documents in GitHub's layout)."""
    out = tmp / f"ghsa-{uuid.uuid4().hex[:6]}"
    shutil.copytree(GHSA_DIR, out)
    for adv in extra:
        (out / f"{adv['id']}.json").write_text(json.dumps(adv))
    return out


def advisory(ghsa: str, cve: str, package: str, fixed: str, severity: str = "HIGH") -> dict:
    """An OSV advisory as the GitHub Advisory Database writes one (see examples/advisories/ghsa)."""
    template = json.loads((GHSA_DIR / "GHSA-m2qf-hxjv-5gpq.json").read_text())
    return {**template, "id": ghsa, "aliases": [cve], "summary": f"{package} test advisory {cve}",
            "details": f"{package} before {fixed} is vulnerable (test advisory).",
            "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            "database_specific": {**template.get("database_specific", {}), "severity": severity}}


def trivy_cache(tmp: Path, ghsa: Path = GHSA_DIR, updated_at: dt.datetime | None = None) -> Path:
    """A Trivy cache directory holding a DB built from ``ghsa`` (UpdatedAt: now by default)."""
    db = build_db(tmp / f"db-{uuid.uuid4().hex[:6]}", ghsa=ghsa,
                  updated_at=updated_at or dt.datetime.now(dt.timezone.utc))
    return install_db(db, tmp / f"cache-{uuid.uuid4().hex[:6]}")


def recorded_issue() -> dict:
    """A real issue object of GitHub's REST API (octokit fixtures), used as the answers' shape."""
    return json.loads((FIXTURES / "github-api" / "paginate-issues.json").read_text())[0]["response"][0]


@dataclass
class FakeSlack:
    messages: list[str] = field(default_factory=list)

    def handle(self, request: Request) -> Response:
        self.messages.append(request.get_json()["text"])
        return Response("ok", 200, content_type="text/plain")


class FakeGitHub:
    """Issues and issue comments, as GitHub's REST API documents them (list with ``labels``/
    ``state`` filters and ``Link`` pagination, create 201, update 200, comment 201), and code
    scanning SARIF uploads (202 with a receipt, then ``processing_status: complete``)."""

    def __init__(self, httpserver, per_page: int = 2) -> None:
        self.server = httpserver
        self.issues: dict[str, list[dict]] = {}
        self.comments: list[tuple[str, int, str]] = []
        self.requests: list[tuple[str, str]] = []
        self.sarifs: list[tuple[str, str, str, dict]] = []   # repo, commit, ref, the SARIF uploaded
        self.per_page = per_page
        self.template = recorded_issue()
        httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(self.handle)

    def _json(self, repo: str, issue: dict) -> dict:
        n = issue["number"]
        return {**self.template, "url": self.server.url_for(f"/repos/{repo}/issues/{n}"),
                "html_url": f"https://github.com/{repo}/issues/{n}", "id": 5000 + n, "number": n,
                "title": issue["title"], "body": issue["body"], "state": issue["state"],
                "labels": [{"id": 1, "name": name, "color": "ededed", "default": False} for name in issue["labels"]],
                "state_reason": issue.get("state_reason")}

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/code-scanning/sarifs(?:/([^/]+))?", request.path)
        if m and request.method == "POST":   # 202 + receipt, as documented (code-scanning-sarif-upload-202.json)
            body = request.get_json()
            sid = f"sarif-{len(self.sarifs) + 1}"
            self.sarifs.append((m.group(1), body["commit_sha"], body["ref"],
                                json.loads(gzip.decompress(base64.b64decode(body["sarif"])))))
            return Response(json.dumps({"id": sid, "url": self.server.url_for(f"/repos/{m.group(1)}/code-scanning/sarifs/{sid}")}),
                            202, content_type="application/json")
        if m and request.method == "GET":
            return Response(json.dumps({"processing_status": "complete", "analyses_url": self.server.url_for(
                f"/repos/{m.group(1)}/code-scanning/analyses?sarif_id={m.group(2)}")}), 200,
                content_type="application/json")
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues(?:/(\d+))?(/comments)?", request.path)
        if not m:
            return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")
        repo, number, comments = m.group(1), m.group(2), m.group(3)
        issues = self.issues.setdefault(repo, [])
        if comments and request.method == "POST":
            self.comments.append((repo, int(number), request.get_json()["body"]))
            return Response(json.dumps({"id": len(self.comments), "body": request.get_json()["body"]}), 201,
                            content_type="application/json")
        if number is None and request.method == "GET" and request.path.endswith("/issues"):
            label, state = request.args.get("labels"), request.args.get("state", "open")
            found = [i for i in issues if (not label or label in i["labels"]) and state in ("all", i["state"])]
            page = int(request.args.get("page", 1))
            per = min(self.per_page, int(request.args.get("per_page", 30)))
            headers = {}
            if page * per < len(found):
                nxt = self.server.url_for(f"/repos/{repo}/issues") + f"?labels={label}&state={state}&per_page={per}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            return Response(json.dumps([self._json(repo, i) for i in found[(page - 1) * per: page * per]]), 200,
                            headers, content_type="application/json")
        if number is None and request.method == "POST":
            body = request.get_json()
            issue = {"number": len(issues) + 1, "title": body["title"], "body": body.get("body", ""),
                     "state": "open", "labels": list(body.get("labels", []))}
            issues.append(issue)
            return Response(json.dumps(self._json(repo, issue)), 201, content_type="application/json")
        if number is not None and request.method == "PATCH":
            issue = next(i for i in issues if i["number"] == int(number))
            issue.update({k: v for k, v in request.get_json().items() if k in ("title", "body", "state", "state_reason")})
            return Response(json.dumps(self._json(repo, issue)), 200, content_type="application/json")
        return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")

    def all_issues(self) -> list[tuple[str, dict]]:
        return [(repo, i) for repo, items in self.issues.items() for i in items]


def pin_all(bare: Path, catalog, environment: str, pins: dict[str, tuple[str, str, str]]) -> None:
    """Pin ``service → (image, digest, tag)`` in one GitOps commit (the bump's write path)."""
    from gitops.hostlock import Writers
    from gitops.writeback import PinEdit, write_edits
    edits = []
    for name, (image, digest, tag) in pins.items():
        env = catalog.service(name).environment(environment)
        edits.append(PinEdit(name, environment, env.ecr_repository, env.manifest, env.manifest_format,
                             env.values_key, image, digest, tag))
    for result in write_edits(bare.as_uri(), catalog.gitops_branch, edits, writers=Writers(batch=False)):
        if isinstance(result, Exception):
            raise result
