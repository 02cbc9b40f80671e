"""Webhook fixtures: a test catalog naming the fixture payloads' repository, a local Jenkins,
a receiver wired to both, and helpers to sign and send deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings
from tests.support.localjenkins import LocalJenkins
from tests.support.paths import FIXTURES
from pipeline_lib.webhook.app import Receiver, WebhookConfig
from pipeline_lib.webhook.backends import open_store
from pipeline_lib.webhook.retry import RetryPolicy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = b"It's a Secret to Everybody"
TEST_SERVICE = """
  - name: hello-world
    repo: Codertocat/Hello-World
    ecr_repository: shop/hello-world
    manifest_path: apps/hello-world
    paths: ["src/**", "README.md"]
    environments:
      dev:
        branches: [master, "release/*"]
      prod:
        branches: ["refs/tags/*"]
"""
HELLO_JOBS = ("dev/hello-world", "dev/hello-world-pr", "prod/hello-world")


# -- payloads built from the real octokit examples ------------------------------------------------
HOOKS = FIXTURES / "github-webhooks"
REPO = "Codertocat/Hello-World"
# A service whose dev, prod and event jobs are all built from main (fault 2).
TRIPLE = """
  - name: tri
    repo: Codertocat/Tri
    ecr_repository: shop/tri
    manifest_path: apps/tri
    paths: ["src/**"]
    environments:
      dev:
        branches: [main]
      prod:
        branches: [main]
      event:
        branches: [main]
"""
SHA_A, SHA_B, TAG_OBJECT = "a" * 40, "b" * 40, "7" * 40


def write_catalog(tmp_path: Path, github_url: str | None = None) -> Path:
    data = yaml.safe_load(catalog_with(TEST_SERVICE + TRIPLE))
    if github_url:
        data.setdefault("defaults", {})["github_url"] = github_url
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def push(ref: str, after: str, commits: list[dict] | None, repo: str = REPO, **fields) -> dict:
    payload = json.loads((HOOKS / "push-branch-commit.json").read_bytes())
    payload.update(ref=ref, after=after, before="1" * 40, created=False, deleted=False, forced=False)
    payload["repository"]["full_name"] = repo
    payload["commits"] = commits if commits is not None else []
    payload["head_commit"] = commits[-1] if commits else None
    payload.update(fields)
    return payload


def commit(sha: str, *files: str, added: tuple[str, ...] = ()) -> dict:
    return {"id": sha, "tree_id": "0" * 40, "distinct": True, "message": "m", "timestamp": "2026-01-01T00:00:00Z",
            "url": f"https://github.com/{REPO}/commit/{sha}", "author": {"name": "a", "email": "a@x"},
            "committer": {"name": "a", "email": "a@x"}, "added": list(added), "removed": [], "modified": list(files)}



def fixture_files(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "github-webhooks").glob("*.json") if "schema" not in p.name)


def event_of(path: Path) -> str:
    """The event name of a fixture file: the part before the first '-' or '.'."""
    name = path.name
    cut = min(i for i in (name.find("-"), name.find(".")) if i != -1)
    return name[:cut]


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def headers_for(event: str, body: bytes, delivery: str | None = None, secret: bytes = SECRET) -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/test"}


def catalog_with(services_yaml: str) -> str:
    """The shipped catalog (a copy) with more services, as a bare mapping (gantry reads both forms)."""
    from pipeline_lib.core.catalog import unwrap
    data = unwrap(yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text()))
    data["services"] = list(data["services"]) + yaml.safe_load(services_yaml)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture()
def test_catalog_path(tmp_path: Path) -> Path:
    """A tmp copy of jobs/catalog.yaml plus a service built from Codertocat/Hello-World."""
    path = tmp_path / "catalog.yaml"
    path.write_text(catalog_with(TEST_SERVICE))
    return path


@pytest.fixture()
def test_catalog(test_catalog_path: Path) -> Catalog:
    return load_catalog(test_catalog_path)


def seed_jobs(jenkins: LocalJenkins) -> None:
    folder = "<com.cloudbees.hudson.plugins.folder.Folder><description>f</description></com.cloudbees.hudson.plugins.folder.Folder>"
    for f in ("dev", "prod"):
        jenkins.put(f, folder, folder=True)
    for job in HELLO_JOBS:
        jenkins.put(job, "<flow-definition><description>j</description></flow-definition>", folder=False)


@pytest.fixture()
def jenkins() -> Iterator[LocalJenkins]:
    with LocalJenkins(user="hook", token="hook-token", crumb=True) as j:
        seed_jobs(j)
        yield j


def make_receiver(catalog: Catalog, jenkins: LocalJenkins, db: Path | str, **config) -> Receiver:
    """A receiver (dispatcher thread unless trigger_process=True) on store ``db`` (path or URL)."""
    policy = RetryPolicy(backoff=config.pop("backoff", 0.01), max_backoff=config.pop("max_backoff", 0.2),
                         horizon=config.pop("horizon", 60.0), lease=config.pop("lease", 30.0))
    timeout = config.pop("jenkins_timeout", 10)
    cfg = WebhookConfig(SECRET, catalog, policy=policy, **config)
    client = JenkinsClient(JenkinsSettings(jenkins.url, "hook", "hook-token", timeout=timeout), retries=0)
    return Receiver(cfg, client, open_store(db))


@pytest.fixture()
def receiver(test_catalog: Catalog, jenkins: LocalJenkins, tmp_path: Path) -> Iterator[Receiver]:
    r = make_receiver(test_catalog, jenkins, tmp_path / "deliveries.sqlite3")
    yield r
    r.store.close()


async def asgi_request(app, method: str, path: str, headers: dict[str, str] | list[tuple[bytes, bytes]],
                       body: bytes = b"") -> tuple[int, bytes]:
    """One request straight into the ASGI app (no network), for fast fuzzing."""
    if isinstance(headers, dict):
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    else:
        raw = headers
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": raw, "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8090)}
    done = False
    status = 0
    chunks: list[bytes] = []

    async def receive():
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def load_fixture(path: Path) -> tuple[bytes, dict]:
    body = path.read_bytes()
    return body, json.loads(body)


@pytest.fixture(scope="session")
def local_postgres():
    """One real PostgreSQL for the session (stopped at the end, also on failure)."""
    from tests.support.postgres import LocalPostgres, postgres_bin
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (`make deps` installs Debian's postgresql)")
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """A fresh trigger store: a SQLite file, or a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "triggers.sqlite3")
    return request.getfixturevalue("local_postgres").new_database()
