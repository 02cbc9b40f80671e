"""The trigger store's contract, on SQLite and on a real PostgreSQL: what a claim does to each
(delivery, job), that concurrent acquirers never share a row, the retry policy's bounds, and what
the receiver answers when the store is unreachable."""

from __future__ import annotations

import json
import threading

from starlette.testclient import TestClient

from pipeline_lib.webhook.app import create_app
from pipeline_lib.webhook.backends import open_store
from pipeline_lib.webhook.retry import RetryPolicy

from .conftest import SHA_A, commit, headers_for, make_receiver, push


def test_a_claim_inserts_new_jobs_repairs_failed_ones_and_leaves_the_rest(store_url) -> None:
    store = open_store(store_url)
    jobs = [("a", {"X": "1"}), ("b", {"X": "1"}), ("c", {"X": "1"})]
    assert store.claim("d", "o/r", jobs).queued == ["a", "b", "c"]
    rows = {r.job: r for r in store.acquire("me", 10, lease=60)}
    assert store.mark_started(rows["a"], "queue item 1")
    assert store.mark_failed(rows["b"], "HTTP 404")
    # c is still firing (owned by "me")
    again = store.claim("d", "o/r", jobs + [("e", {})])
    assert sorted(again.queued) == ["b", "e"]
    assert again.already == {"a": "started", "c": "firing"}
    assert store.stats().count == 3  # b, c, e
    assert not store.mark_started(rows["b"], "late")  # the fence: b was handed out again
    store.close()


def test_concurrent_acquirers_never_share_a_row(store_url) -> None:
    setup = open_store(store_url)
    for i in range(200):
        setup.claim(f"d{i}", "o/r", [("job", {"I": str(i)})])
    stores = [open_store(store_url) for _ in range(4)]  # like four replicas (own connections)
    got: list[list[str]] = [[] for _ in stores]

    def take(k: int) -> None:
        while True:
            rows = stores[k].acquire(f"r{k}", 7, lease=60)
            if not rows:
                return
            got[k].extend(r.delivery for r in rows)

    threads = [threading.Thread(target=take, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    taken = [d for g in got for d in g]
    assert len(taken) == 200 and len(set(taken)) == 200
    for s in stores + [setup]:
        s.close()


def test_retry_delays_grow_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=60.0, horizon=3600.0)
    for attempt in range(1, 12):
        low = min(60.0, 2.0 ** (attempt - 1))
        for _ in range(20):
            assert low <= policy.delay(attempt) <= min(60.0, low + 1.0)
    assert len({round(policy.delay(3), 6) for _ in range(20)}) > 1  # jittered
    assert policy.expired(1000.0, 4600.0) and not policy.expired(1000.0, 4599.0)


def test_an_unreachable_store_answers_503_so_github_shows_the_failure(test_catalog, jenkins, tmp_path) -> None:
    r = make_receiver(test_catalog, jenkins, tmp_path / "db.sqlite3")
    body = json.dumps(push("refs/heads/master", SHA_A, [commit(SHA_A, "src/a.py")])).encode()
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        r.store.close()  # the database is gone
        resp = c.post("/github-webhook/", content=body, headers=headers_for("push", body))
        assert resp.status_code == 503 and "redeliver" in resp.json()["error"]
        assert c.get("/healthz").status_code == 503
        assert "gantry_webhook_pending_triggers NaN" in c.get("/metrics").text
    assert jenkins.state.builds == []


def test_postgresql_connections_killed_by_the_server_are_opened_again(local_postgres, test_catalog, jenkins) -> None:
    import psycopg

    url = local_postgres.new_database()
    r = make_receiver(test_catalog, jenkins, url)
    with TestClient(create_app(r), raise_server_exceptions=False) as c:
        with psycopg.connect(url, autocommit=True) as admin:  # a failover / restart drops every session
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        statuses = {}
        for i in range(12):
            sha = f"{i + 1:040x}"
            body = json.dumps(push("refs/heads/master", sha, [commit(sha, "src/a.py")])).encode()
            for _ in range(3):  # GitHub's redelivery of a failed (503) delivery
                status = c.post("/github-webhook/", content=body,
                                headers=headers_for("push", body, delivery=f"pg-{i}")).status_code
                if status != 503:
                    break
            statuses[i] = status
        assert set(statuses.values()) == {202}, statuses
        c.portal.call(r.drain, 20.0)
    r.store.close()
    assert sorted(b.params["COMMIT_SHA"] for b in jenkins.state.builds) == [f"{i + 1:040x}" for i in range(12)]


def test_pending_triggers_of_a_store_from_before_the_upgrade_are_kept(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(  # the layout gantry wrote before rows per (delivery, job)
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY, seen REAL NOT NULL, triggered INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE triggers (id INTEGER PRIMARY KEY AUTOINCREMENT, delivery TEXT NOT NULL, job TEXT NOT NULL,"
        " params TEXT NOT NULL, accepted REAL NOT NULL);"
        "INSERT INTO triggers (delivery, job, params, accepted) VALUES ('d-old', 'dev/x', '{\"A\": \"1\"}', 5.0);")
    old.commit()
    old.close()
    store = open_store(path)
    [row] = store.pending()
    assert (row.delivery, row.job, row.params, row.accepted_at) == ("d-old", "dev/x", {"A": "1"}, 5.0)
    store.close()
    assert len(open_store(path).pending()) == 1  # imported once
