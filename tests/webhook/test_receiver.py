"""The receiver in-process (Starlette TestClient): fixtures, rejections, dedupe, slow Jenkins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline_lib.webhook.app import create_app

from tests.support.paths import FIXTURES

from .conftest import (HELLO_JOBS, SECRET, event_of, fixture_files, headers_for, load_fixture, make_receiver,
                       sign)

SHARED = FIXTURES
FIXTURES = fixture_files(SHARED)

EXPECTED = {
    "ping.json": (200, None),
    "push.json": (202, {"prod/hello-world": {"COMMIT_SHA": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                                             "BRANCH": "simple-tag", "GIT_REF": "refs/tags/simple-tag",
                                             "IMAGE_TAG": "simple-tag", "TARGET_ENV": "prod", "PR_NUMBER": ""}}),
    "push-2.json": (200, "refs/tags/simple-tag was deleted"),
    "pull_request-opened.json": (202, {"dev/hello-world-pr": {
        "COMMIT_SHA": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "BRANCH": "changes",
        "GIT_REF": "refs/pull/2/head", "PR_NUMBER": "2", "TARGET_ENV": "dev", "IMAGE_TAG": ""}}),
    "pull_request-synchronize.json": (202, {"dev/hello-world-pr": {
        "COMMIT_SHA": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "PR_NUMBER": "2"}}),
    "pull_request-closed.json": (200, "pull_request action 'closed' does not start builds"),
    "push-branch-commit.json": (202, {"dev/hello-world": {"COMMIT_SHA": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                                                          "BRANCH": "master", "GIT_REF": "refs/heads/master",
                                                          "TARGET_ENV": "dev", "IMAGE_TAG": "", "PR_NUMBER": ""}}),
    "create-tag.json": (200, "event 'create' does not start builds"),
    "issues-opened.json": (200, "event 'issues' does not start builds"),
}


@pytest.fixture()
def client(receiver):
    with TestClient(create_app(receiver), raise_server_exceptions=False) as c:
        yield c


def drain(client, receiver) -> None:
    client.portal.call(receiver.drain, 20.0)


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.name in EXPECTED], ids=lambda p: p.name)
def test_every_fixture_payload(path: Path, client, receiver, jenkins) -> None:
    body, payload = load_fixture(path)
    status, expected = EXPECTED[path.name]
    r = client.post("/github-webhook/", content=body, headers=headers_for(event_of(path), body))
    assert r.status_code == status, r.text
    drain(client, receiver)
    if path.name == "ping.json":
        assert r.json() == {"pong": True, "hook_id": payload["hook_id"]}
    if isinstance(expected, str):
        assert r.json() == {"ignored": expected}
        assert jenkins.state.builds == []
    elif isinstance(expected, dict):
        assert sorted(r.json()["queued"]) == sorted(expected)
        started = {b.job: b.params for b in jenkins.state.builds}
        assert started.keys() == expected.keys()
        for job, params in expected.items():
            assert params.items() <= started[job].items()
    if expected is None:
        assert jenkins.state.builds == []


def _branch_push(shared_body: bytes, ref: str, files: list[str]) -> bytes:
    payload = json.loads(shared_body)
    payload.update(ref=ref, deleted=False, created=False, before="1" * 40,
                   commits=[{"id": payload["after"], "added": [], "removed": [], "modified": files}])
    return json.dumps(payload).encode()


@pytest.mark.parametrize("ref,files,jobs", [
    ("refs/heads/master", ["src/app.py"], ["dev/hello-world"]),
    ("refs/heads/release/1.2", ["README.md"], ["dev/hello-world"]),
    ("refs/heads/master", ["docs/guide.md"], []),          # no changed file matches paths
    ("refs/heads/feature/x", ["src/app.py"], []),          # branch not built
    ("refs/remotes/odd", ["src/app.py"], []),              # neither branch nor tag
])
def test_branch_push_filters_by_branch_and_paths(ref, files, jobs, client, receiver, jenkins) -> None:
    body = _branch_push((SHARED / "github-webhooks" / "push.json").read_bytes(), ref, files)
    r = client.post("/github-webhook/", content=body, headers=headers_for("push", body))
    drain(client, receiver)
    if jobs:
        assert r.status_code == 202 and r.json()["queued"] == jobs
        assert [b.params["BRANCH"] for b in jenkins.state.builds] == [ref.split("/", 2)[2]]
    else:
        assert r.status_code == 200 and "ignored" in r.json()
        assert jenkins.state.builds == []


def test_pull_request_from_a_fork_starts_nothing(client, jenkins) -> None:
    payload = json.loads((SHARED / "github-webhooks" / "pull_request-opened.json").read_bytes())
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    body = json.dumps(payload).encode()
    r = client.post("/github-webhook/", content=body, headers=headers_for("pull_request", body))
    assert r.status_code == 200 and "fork" in r.json()["ignored"]


def test_repository_not_in_the_catalog_is_ignored(client) -> None:
    payload = json.loads((SHARED / "github-webhooks" / "push.json").read_bytes())
    payload["repository"]["full_name"] = "someone/else"
    body = json.dumps(payload).encode()
    r = client.post("/github-webhook/", content=body, headers=headers_for("push", body))
    assert r.status_code == 200 and r.json() == {"ignored": "repository someone/else is not in the catalog"}


PUSH = (SHARED / "github-webhooks" / "push.json").read_bytes()


@pytest.mark.parametrize("mutate,status", [
    (lambda h, b: (h.pop("X-Hub-Signature-256"), b)[1], 401),
    (lambda h, b: (h.update({"X-Hub-Signature-256": "sha256=" + "0" * 64}), b)[1], 401),
    (lambda h, b: (h.update({"X-Hub-Signature-256": sign(b, b"other secret")}), b)[1], 401),
    (lambda h, b: (h.update({"X-Hub-Signature-256": sign(b)[7:]}), b)[1], 401),
    (lambda h, b: (h.update({"X-Hub-Signature-256": "sha1=" + sign(b)[7:47]}), b)[1], 401),
    (lambda h, b: b + b" ", 401),                                                    # body changed after signing
    (lambda h, b: (h.update({"Content-Type": "application/x-www-form-urlencoded"}), b)[1], 400),  # JSON body
    (lambda h, b: (h.update({"Content-Type": "text/plain"}), b)[1], 400),
    (lambda h, b: (h.pop("X-GitHub-Delivery"), b)[1], 400),
    (lambda h, b: (h.pop("X-GitHub-Event"), b)[1], 400),
    (lambda h, b: (h.update({"X-GitHub-Delivery": "../../etc/passwd"}), b)[1], 400),
])
def test_rejections_start_no_build(mutate, status, client, receiver, jenkins) -> None:
    headers = headers_for("push", PUSH)
    body = mutate(headers, PUSH)
    r = client.post("/github-webhook/", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert "error" in r.json()
    drain(client, receiver)
    assert jenkins.state.builds == []


@pytest.mark.parametrize("body", [b"not json", b"{", "{\"a\": \"\xff\"}".encode("latin-1"), b"[" * 100_000,
                                  b'{"ref": 5, "after": null}', b"[]", b'"string"'])
def test_signed_garbage_is_400(body, client, jenkins) -> None:
    r = client.post("/github-webhook/", content=body, headers=headers_for("push", body))
    assert r.status_code == 400, r.text
    assert jenkins.state.builds == []


def test_body_over_25_mb_is_413(client, jenkins) -> None:
    body = b" " * (25 * 1024 * 1024 + 1)
    r = client.post("/github-webhook/", content=body, headers=headers_for("push", body))
    assert r.status_code == 413
    chunks = (b" " * (1024 * 1024) for _ in range(26))  # chunked: no Content-Length to trust
    headers = headers_for("push", b"")
    r = client.post("/github-webhook/", content=chunks, headers=headers)
    assert r.status_code == 413
    assert jenkins.state.builds == []


def test_redelivery_never_starts_a_second_build_even_after_restart(test_catalog, jenkins, tmp_path) -> None:
    db = tmp_path / "seen.sqlite3"
    headers = headers_for("push", PUSH, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    first = make_receiver(test_catalog, jenkins, db)
    with TestClient(create_app(first)) as c:
        assert c.post("/github-webhook/", content=PUSH, headers=headers).status_code == 202
        again = c.post("/github-webhook/", content=PUSH, headers=headers)
        assert again.status_code == 200 and "already handled" in again.json()["ignored"]
        c.portal.call(first.drain, 10.0)
    first.store.close()
    second = make_receiver(test_catalog, jenkins, db)  # a restart: same SQLite file
    with TestClient(create_app(second)) as c:
        r = c.post("/github-webhook/", content=PUSH, headers=headers)
        assert r.status_code == 200 and "already handled" in r.json()["ignored"]
        c.portal.call(second.drain, 10.0)
    second.store.close()
    assert len(jenkins.state.builds) == 1


def test_finished_triggers_expire(tmp_path) -> None:
    from pipeline_lib.webhook.sqlite_store import SQLiteStore
    store = SQLiteStore(tmp_path / "s.sqlite3", ttl=0.3)  # by the store's clock: real seconds
    assert store.claim("a", "o/r", [("dev/x", {"A": "1"})]).queued == ["dev/x"]
    assert store.claim("a", "o/r", [("dev/x", {"A": "1"})]).queued == []
    [row] = store.acquire("me", 5, lease=10)
    assert store.mark_started(row, "queue item 1")
    assert store.expire() == 0
    time.sleep(0.4)
    assert store.expire() == 1
    assert store.claim("a", "o/r", [("dev/x", {"A": "1"})]).queued == ["dev/x"]
    store.close()


def test_slow_jenkins_does_not_delay_the_answer(test_catalog, jenkins, tmp_path) -> None:
    jenkins.build_delay = 2.0
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3")
    with TestClient(create_app(r)) as c:
        t0 = time.monotonic()
        resp = c.post("/github-webhook/", content=PUSH, headers=headers_for("push", PUSH))
        assert resp.status_code == 202
        assert time.monotonic() - t0 < 1.0
        assert jenkins.state.builds == [] or len(jenkins.state.builds) == 1
        c.portal.call(r.drain, 20.0)
        metrics = c.get("/metrics").text
    r.store.close()
    assert len(jenkins.state.builds) == 1
    assert "gantry_webhook_trigger_latency_seconds_count 1.0" in metrics
    assert 'gantry_webhook_triggers_total{result="started"} 1.0' in metrics


def test_jenkins_errors_are_retried_with_backoff(test_catalog, jenkins, tmp_path) -> None:
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3")
    with TestClient(create_app(r)) as c:
        jenkins.fail_next = 3
        assert c.post("/github-webhook/", content=PUSH, headers=headers_for("push", PUSH)).status_code == 202
        c.portal.call(r.drain, 20.0)
        metrics = c.get("/metrics").text
    r.store.close()
    assert len(jenkins.state.builds) == 1
    assert "gantry_webhook_trigger_retries_total 3.0" in metrics
    assert "gantry_webhook_pending_triggers 0.0" in metrics


def test_failed_trigger_is_logged_counted_and_may_be_redelivered(test_catalog, jenkins, tmp_path, caplog) -> None:
    del jenkins.state.items["prod/hello-world"]  # 404: final, not retried
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3")
    headers = headers_for("push", PUSH)
    with TestClient(create_app(r)) as c:
        assert c.post("/github-webhook/", content=PUSH, headers=headers).status_code == 202
        c.portal.call(r.drain, 20.0)
        metrics = c.get("/metrics").text
        assert 'gantry_webhook_triggers_total{result="failed"} 1.0' in metrics
        assert any("could not start Jenkins job prod/hello-world" in rec.getMessage() and rec.levelname == "ERROR"
                   for rec in caplog.records)
        jenkins.put("prod/hello-world", "<flow-definition/>", folder=False)
        assert c.post("/github-webhook/", content=PUSH, headers=headers).status_code == 202  # redelivery
        c.portal.call(r.drain, 20.0)
    r.store.close()
    assert [b.job for b in jenkins.state.builds] == ["prod/hello-world"]


def test_pending_triggers_survive_a_restart(test_catalog, jenkins, tmp_path) -> None:
    db = tmp_path / "db.sqlite3"
    first = make_receiver(test_catalog, jenkins, db)
    assert first.store.claim("d-1", "Codertocat/Hello-World",
                             [("prod/hello-world", {"COMMIT_SHA": "a" * 40})]).queued == ["prod/hello-world"]
    first.store.close()  # stopped before any worker ran
    second = make_receiver(test_catalog, jenkins, db)
    with TestClient(create_app(second)) as c:
        c.portal.call(second.drain, 10.0)
    assert second.store.pending() == []
    second.store.close()
    assert [b.job for b in jenkins.state.builds] == ["prod/hello-world"]


def test_healthz_and_metrics(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "pending_triggers": 0, "oldest_pending_seconds": 0.0}
    body = (SHARED / "github-webhooks" / "issues-opened.json").read_bytes()
    client.post("/github-webhook/", content=body, headers=headers_for("issues", body))
    client.post("/github-webhook/", content=b"x", headers={"X-GitHub-Event": "weird-event!"})
    text = client.get("/metrics").text
    assert 'gantry_webhook_deliveries_total{event="issues",outcome="ignored"} 1.0' in text
    assert 'gantry_webhook_deliveries_total{event="other",outcome="bad_signature"} 1.0' in text
    assert client.get("/github-webhook/").status_code == 405
    assert all(job in HELLO_JOBS for job in ("dev/hello-world",))
    assert SECRET.decode() not in text


def test_trigger_process_mode_starts_builds_and_reports_metrics(test_catalog, jenkins, tmp_path) -> None:
    """What `gantry webhook serve` runs: Jenkins calls from a lower-priority child process."""
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3", trigger_process=True)
    with TestClient(create_app(r)) as c:
        jenkins.fail_next = 1
        pr = (SHARED / "github-webhooks" / "pull_request-opened.json").read_bytes()
        assert c.post("/github-webhook/", content=PUSH, headers=headers_for("push", PUSH)).status_code == 202
        assert c.post("/github-webhook/", content=pr, headers=headers_for("pull_request", pr)).status_code == 202
        c.portal.call(r.drain, 20.0)
        # drain() returns once the store has no pending trigger; the child process reports each
        # outcome just after it marks the row, so the counters may lag by one pipe read
        deadline = time.monotonic() + 10
        while 'gantry_webhook_triggers_total{result="started"} 2.0' not in (metrics := c.get("/metrics").text) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/healthz").json()["pending_triggers"] == 0
    r.store.close()
    assert sorted(b.job for b in jenkins.state.builds) == ["dev/hello-world-pr", "prod/hello-world"]
    assert 'gantry_webhook_triggers_total{result="started"} 2.0' in metrics
    assert "gantry_webhook_trigger_retries_total 1.0" in metrics


def test_a_dead_trigger_process_is_restarted_and_loses_nothing(test_catalog, jenkins, tmp_path) -> None:
    import os
    import signal
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3", trigger_process=True)
    with TestClient(create_app(r)) as c:
        os.kill(r._process.pid, signal.SIGKILL)
        r._process._proc.join(5)
        assert c.get("/healthz").status_code == 503
        assert c.post("/github-webhook/", content=PUSH, headers=headers_for("push", PUSH)).status_code == 202
        c.portal.call(r.drain, 20.0)
        assert c.get("/healthz").json()["status"] == "ok"
    r.store.close()
    assert [b.job for b in jenkins.state.builds] == ["prod/hello-world"]
