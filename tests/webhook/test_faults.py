"""The six ways deliveries lost builds, each against the Jenkins stand-in misbehaving as real
controllers do, with the exact number of builds asserted; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.webhook.app import create_app
from .conftest import (HOOKS, REPO, SHA_A, SHA_B, TAG_OBJECT, commit, headers_for, make_receiver, push, sign,
                       write_catalog)

@pytest.fixture()
def served(store_url, jenkins, tmp_path):
    """(receiver, TestClient) on the store under test, dispatcher in a thread."""
    made = []

    def make(catalog_path: Path | None = None, **config):
        r = make_receiver(load_catalog(catalog_path or write_catalog(tmp_path)), jenkins, store_url, **config)
        c = TestClient(create_app(r), raise_server_exceptions=False)
        c.__enter__()
        made.append((r, c))
        return r, c

    yield make
    for r, c in made:
        c.__exit__(None, None, None)
        r.store.close()


def send(client, event: str, payload: dict | bytes, delivery: str | None = None, **extra):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = headers_for(event, body, delivery=delivery)
    headers.update(extra)
    return client.post("/github-webhook/", content=body, headers=headers)


def jobs_built(jenkins) -> list[str]:
    return sorted(b.job for b in jenkins.state.builds)


# -- 1. unknown is not "no match" -----------------------------------------------------------------
def test_a_large_commit_without_file_lists_builds(served, jenkins) -> None:
    r, c = served()
    big = push("refs/heads/master", SHA_A, [commit(SHA_A)])  # GitHub left added/removed/modified empty
    resp = send(c, "push", big)
    assert resp.status_code == 202, resp.text
    c.portal.call(r.drain, 20.0)
    assert jobs_built(jenkins) == ["dev/hello-world"]
    small = push("refs/heads/master", SHA_B, [commit(SHA_B, "docs/guide.md")])  # known, and no match
    resp = send(c, "push", small)
    assert resp.status_code == 200 and "no changed file matches" in resp.json()["ignored"]
    c.portal.call(r.drain, 20.0)
    assert jobs_built(jenkins) == ["dev/hello-world"]


def test_a_25_commit_docs_only_push_starts_nothing(served, jenkins) -> None:
    """Issue 20 #11: 25 listed commits are read (GitHub's webhook lists up to 2 048), not "unknown"."""
    r, c = served()
    docs = [commit(f"{i:040x}", f"docs/{i}.md") for i in range(24)] + [commit(SHA_A, "docs/last.md")]
    resp = send(c, "push", push("refs/heads/master", SHA_A, docs, size=25, distinct_size=25))
    assert resp.status_code == 200 and "no changed file matches" in resp.json()["ignored"], resp.text
    c.portal.call(r.drain, 10.0)
    assert jenkins.state.builds == []


# -- 2. a partly failed delivery is repaired by GitHub's "Redeliver" --------------------------------
def test_redelivery_starts_exactly_the_jobs_that_never_started(served, jenkins, caplog) -> None:
    for job in ("dev/tri", "event/tri"):  # prod/tri does not exist yet: 404
        jenkins.put(job, "<flow-definition/>", folder=False)
    jenkins.put("event", "<com.cloudbees.hudson.plugins.folder.Folder/>", folder=True)
    r, c = served()
    delivery = "2f0c8e4a-0000-4000-8000-000000000002"
    payload = push("refs/heads/main", SHA_A, [commit(SHA_A, "src/app.py")], repo="Codertocat/Tri")
    resp = send(c, "push", payload, delivery)
    assert resp.status_code == 202 and sorted(resp.json()["queued"]) == ["dev/tri", "event/tri", "prod/tri"]
    c.portal.call(r.drain, 20.0)
    assert jobs_built(jenkins) == ["dev/tri", "event/tri"]
    assert any(rec.levelname == "ERROR" and delivery in rec.getMessage() and "prod/tri" in rec.getMessage()
               for rec in caplog.records)

    jenkins.put("prod/tri", "<flow-definition/>", folder=False)  # `gantry jobs update` created it
    resp = send(c, "push", payload, delivery)  # Redeliver: same GUID
    assert resp.status_code == 202, resp.text
    assert resp.json()["queued"] == ["prod/tri"]
    assert resp.json()["already"] == {"dev/tri": "started", "event/tri": "started"}
    c.portal.call(r.drain, 20.0)
    assert jobs_built(jenkins) == ["dev/tri", "event/tri", "prod/tri"]

    resp = send(c, "push", payload, delivery)  # and once more: nothing left to start
    assert resp.status_code == 200 and "already handled" in resp.json()["ignored"]
    c.portal.call(r.drain, 20.0)
    assert jobs_built(jenkins) == ["dev/tri", "event/tri", "prod/tri"]


# -- 3. a Jenkins restart: pending until Jenkins answers, or failed loudly at the horizon ----------
def test_a_jenkins_restart_delays_the_build_but_loses_nothing(served, jenkins) -> None:
    r, c = served(backoff=0.05, max_backoff=0.4, horizon=60.0)
    jenkins.unavailable_for(2.5)  # 503 "getting ready", and the old crumb is void afterwards
    resp = send(c, "push", push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]))
    assert resp.status_code == 202
    time.sleep(0.5)
    health = c.get("/healthz").json()
    assert health["pending_triggers"] == 1 and health["oldest_pending_seconds"] > 0.3
    metrics = c.get("/metrics").text
    assert "gantry_webhook_pending_triggers 1.0" in metrics
    assert jenkins.state.builds == []
    c.portal.call(r.drain, 30.0)
    assert jobs_built(jenkins) == ["dev/hello-world"]
    metrics = c.get("/metrics").text
    assert "gantry_webhook_pending_triggers 0.0" in metrics
    assert "gantry_webhook_oldest_pending_seconds 0.0" in metrics
    retries = re.search(r"^gantry_webhook_trigger_retries_total (\S+)$", metrics, re.M)
    assert retries and float(retries.group(1)) >= 2


def test_past_the_retry_horizon_a_trigger_fails_loudly(served, jenkins, httpserver, monkeypatch, caplog) -> None:
    httpserver.expect_request("/services/T000/B000/slack", method="POST").respond_with_data("ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/services/T000/B000/slack"))
    r, c = served(backoff=0.05, max_backoff=0.2, horizon=1.0)
    jenkins.fail(503, seconds=30)
    delivery = "3f0c8e4a-0000-4000-8000-000000000003"
    assert send(c, "push", push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]), delivery).status_code == 202
    c.portal.call(r.drain, 20.0)
    assert jenkins.state.builds == []
    [(state, reason)] = r.store.states(delivery).values()
    assert state == "failed" and "retry horizon" in reason and "503" in reason
    [(request, _)] = httpserver.log
    text = json.loads(request.data)["text"]
    for part in (delivery, REPO, "dev/hello-world", "503"):
        assert part in text
    assert any(rec.levelname == "ERROR" and delivery in rec.getMessage() for rec in caplog.records)
    assert 'gantry_webhook_triggers_total{result="failed"} 1.0' in c.get("/metrics").text


@pytest.mark.parametrize("fault", ["500 twice", "expired crumb", "slow"])
def test_other_jenkins_faults_start_the_build_once(fault, served, jenkins) -> None:
    r, c = served(backoff=0.05, max_backoff=0.2)
    c.portal.call(r.drain, 5.0)
    if fault == "500 twice":
        jenkins.fail(500, count=2)
    elif fault == "expired crumb":
        # Warm the client's crumb, then void it: the next POST gets 403 and the client fetches a new one.
        send(c, "push", push("refs/heads/master", SHA_B, [commit(SHA_B, "src/x.py")]))
        c.portal.call(r.drain, 10.0)
        jenkins.expire_crumb()
    else:
        jenkins.build_delay = 2.0
    before = len(jenkins.state.builds)
    t0 = time.monotonic()
    resp = send(c, "push", push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]))
    assert resp.status_code == 202 and time.monotonic() - t0 < 1.5  # answered before Jenkins did
    c.portal.call(r.drain, 20.0)
    new = [b for b in jenkins.state.builds[before:]]
    assert [(b.job, b.params["COMMIT_SHA"]) for b in new] == [("dev/hello-world", SHA_A)]


# -- 4. form-encoded deliveries -------------------------------------------------------------------
def test_form_encoded_deliveries_are_accepted(served, jenkins) -> None:
    r, c = served()
    ping = (HOOKS / "ping.json").read_bytes()
    form = urllib.parse.urlencode({"payload": ping.decode()}).encode()
    resp = send(c, "ping", form, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200 and resp.json()["pong"] is True
    body = json.dumps(push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]))
    form = urllib.parse.urlencode({"payload": body}).encode()
    resp = send(c, "push", form, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 202, resp.text
    bad = send(c, "push", b"payload=%7Bnot-json", **{"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400
    forged = client_post_with_signature_of(c, form, b"payload=" + b"x")
    assert forged.status_code == 401
    c.portal.call(r.drain, 20.0)
    assert [(b.job, b.params["COMMIT_SHA"]) for b in jenkins.state.builds] == [("dev/hello-world", SHA_A)]


def client_post_with_signature_of(c, signed: bytes, sent: bytes):
    headers = headers_for("push", signed)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Hub-Signature-256"] = sign(signed)
    return c.post("/github-webhook/", content=sent, headers=headers)


# -- 5. the server is checked ----------------------------------------------------------------------
def test_a_delivery_from_another_github_server_is_ignored(served, jenkins, tmp_path) -> None:
    r, c = served()
    payload = push("refs/heads/main", SHA_A, [commit(SHA_A, "src/app.py")], repo="flashshop/storefront")
    payload["repository"]["html_url"] = "https://ghe.example.com/flashshop/storefront"
    resp = send(c, "push", payload, **{"X-GitHub-Enterprise-Host": "ghe.example.com"})
    assert resp.status_code == 200
    assert resp.json()["ignored"] == ("delivery from ghe.example.com, but the catalog's repositories are on "
                                      "github.com")
    payload["repository"]["html_url"] = "https://github.com/flashshop/storefront"
    resp = send(c, "push", payload, **{"X-GitHub-Enterprise-Host": "ghe.example.com"})
    assert resp.status_code == 200 and "ghe.example.com" in resp.json()["ignored"]
    c.portal.call(r.drain, 10.0)
    assert jenkins.state.builds == []


def test_a_catalog_on_github_enterprise_takes_its_deliveries(served, jenkins, tmp_path) -> None:
    r, c = served(write_catalog(tmp_path, github_url="https://ghe.example.com"))
    payload = push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")])
    payload["repository"]["html_url"] = "https://ghe.example.com/Codertocat/Hello-World"
    assert send(c, "push", payload, **{"X-GitHub-Enterprise-Host": "ghe.example.com"}).status_code == 202
    payload["repository"]["html_url"] = "https://github.com/Codertocat/Hello-World"
    resp = send(c, "push", payload)  # github.com, no enterprise header
    assert resp.status_code == 200 and "github.com" in resp.json()["ignored"]
    c.portal.call(r.drain, 10.0)
    assert jobs_built(jenkins) == ["dev/hello-world"]


# -- 6. annotated tags build the commit, not the tag object ----------------------------------------
def test_an_annotated_tag_builds_the_commit_it_points_to(served, jenkins) -> None:
    r, c = served()
    payload = json.loads((HOOKS / "push.json").read_bytes())  # a tag push, head_commit = the commit
    payload.update(ref="refs/tags/v1.0.0", after=TAG_OBJECT)
    payload["head_commit"]["id"] = SHA_A
    assert send(c, "push", payload).status_code == 202
    c.portal.call(r.drain, 10.0)
    [build] = jenkins.state.builds
    assert build.job == "prod/hello-world"
    assert build.params == {"COMMIT_SHA": SHA_A, "BRANCH": "v1.0.0", "GIT_REF": "refs/tags/v1.0.0",
                            "TARGET_ENV": "prod", "IMAGE_TAG": "v1.0.0", "PR_NUMBER": ""}


# -- a replica that died mid-call: the trigger is taken over, and not started twice ---------------
def test_a_trigger_taken_over_from_a_dead_replica_is_not_started_twice(store_url, jenkins, test_catalog) -> None:
    from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings
    from pipeline_lib.webhook.backends import open_store
    from pipeline_lib.webhook.retry import RetryPolicy
    from pipeline_lib.webhook.triggers import Dispatcher

    store = open_store(store_url)
    client = JenkinsClient(JenkinsSettings(jenkins.url, "hook", "hook-token", timeout=5), retries=0)
    params = {"COMMIT_SHA": SHA_A, "BRANCH": "master", "GIT_REF": "refs/heads/master", "TARGET_ENV": "dev",
              "IMAGE_TAG": "", "PR_NUMBER": ""}
    store.claim("d-started", REPO, [("dev/hello-world", params)])
    store.claim("d-not-started", REPO, [("dev/hello-world-pr", dict(params, PR_NUMBER="7"))])
    dead = store.acquire("replica-that-dies", 10, lease=0.3)
    assert len(dead) == 2
    client.build("dev/hello-world", params)  # Jenkins queued it; the replica died before recording it
    time.sleep(0.4)
    survivor = Dispatcher(store, client, RetryPolicy(backoff=0.05, lease=5), workers=2)
    rows = store.acquire(survivor.owner, 10, lease=5)
    assert sorted(r.job for r in rows) == ["dev/hello-world", "dev/hello-world-pr"] and all(r.in_doubt for r in rows)
    results = {r.job: survivor.attempt(r) for r in rows}
    assert results["dev/hello-world"].detail.startswith("build #")
    assert results["dev/hello-world-pr"].detail.startswith("queue item")
    assert jobs_built(jenkins) == ["dev/hello-world", "dev/hello-world-pr"]
    assert store.stats().count == 0
    # The dead replica's late write is fenced off.
    assert not store.mark_failed(dead[0], "too late")
    store.close()


# -- issue 20 #13: an ambiguous Jenkins answer is looked up before posting again ---------------------
@pytest.mark.parametrize("fault", ["timeout after queuing", "201 without Location"])
def test_an_ambiguous_jenkins_answer_is_looked_up_before_posting_again(fault, served, jenkins) -> None:
    r, c = served(backoff=0.05, max_backoff=0.2, jenkins_timeout=0.5)
    if fault == "timeout after queuing":
        jenkins.stall_builds, jenkins.stall_seconds = 1, 2.0  # queued, answered after the client gave up
    else:
        jenkins.builds_without_location = 1
    delivery = "4f0c8e4a-0000-4000-8000-000000000013"
    resp = send(c, "push", push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]), delivery)
    assert resp.status_code == 202, resp.text
    c.portal.call(r.drain, 20.0)
    assert [(b.job, b.params["COMMIT_SHA"]) for b in jenkins.state.builds] == [("dev/hello-world", SHA_A)]
    assert jenkins.state.requests[("POST", "buildWithParameters")] == 1  # looked up, never posted again
    assert r.store.states(delivery) == {"dev/hello-world": ("started", "build #1")}
    retries = re.search(r"^gantry_webhook_trigger_retries_total (\S+)$", c.get("/metrics").text, re.M)
    assert retries and float(retries.group(1)) == 1


def test_an_unambiguous_refusal_is_posted_again_without_a_lookup(served, jenkins) -> None:
    """503 ("getting ready") queued nothing: the retry posts again, and still one build results."""
    r, c = served(backoff=0.05, max_backoff=0.2)
    send(c, "push", push("refs/heads/master", SHA_B, [commit(SHA_B, "src/x.py")]))  # warms the crumb
    c.portal.call(r.drain, 10.0)
    jenkins.fail(503, count=1)  # the next POST
    resp = send(c, "push", push("refs/heads/master", SHA_A, [commit(SHA_A, "src/app.py")]))
    assert resp.status_code == 202
    c.portal.call(r.drain, 20.0)
    assert [b.params["COMMIT_SHA"] for b in jenkins.state.builds] == [SHA_B, SHA_A]
    assert jenkins.state.requests[("POST", "buildWithParameters")] == 3
    assert jenkins.state.requests[("GET", "queue/api/json")] == 0


def test_a_refused_connection_is_not_in_doubt(store_url, jenkins) -> None:
    """Jenkins never reached (connection refused): pending again, posted without a lookup."""
    import socket

    from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings
    from pipeline_lib.webhook.backends import open_store
    from pipeline_lib.webhook.retry import RetryPolicy
    from pipeline_lib.webhook.triggers import Dispatcher

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    store = open_store(store_url)
    params = {"COMMIT_SHA": SHA_A, "BRANCH": "master", "GIT_REF": "refs/heads/master", "TARGET_ENV": "dev",
              "IMAGE_TAG": "", "PR_NUMBER": ""}
    store.claim("refused", REPO, [("dev/hello-world", params)])
    down = Dispatcher(store, JenkinsClient(JenkinsSettings(closed, "hook", "hook-token", timeout=2), retries=0),
                      RetryPolicy(backoff=0.05, max_backoff=0.05), workers=1)
    [row] = store.acquire(down.owner, 1, lease=30)
    assert down.attempt(row).result == "retry"
    [again] = store.pending()
    assert not again.in_doubt
    time.sleep(0.2)
    up = Dispatcher(store, JenkinsClient(JenkinsSettings(jenkins.url, "hook", "hook-token", timeout=5), retries=0),
                    RetryPolicy(backoff=0.05), workers=1)
    [row] = store.acquire(up.owner, 1, lease=30)
    assert not row.in_doubt and up.attempt(row).result == "started"
    assert jenkins.state.requests[("GET", "queue/api/json")] == 0 and jobs_built(jenkins) == ["dev/hello-world"]
    store.close()
