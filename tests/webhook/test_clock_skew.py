"""Issue 20 #12: leases and due times follow the store's clock, so a replica whose clock is off
by more than the lease neither takes over a live trigger nor gives one up early. The skewed
replica is a separate process (tests/webhook/skewed_replica.py: its ``time.time`` is shifted
before gantry is imported); the other replica is this process. SQLite and a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings
from pipeline_lib.webhook.backends import open_store
from pipeline_lib.webhook.retry import RetryPolicy
from pipeline_lib.webhook.triggers import Dispatcher

from .conftest import PROJECT_ROOT, REPO, SHA_A

PARAMS = {"COMMIT_SHA": SHA_A, "BRANCH": "master", "GIT_REF": "refs/heads/master", "TARGET_ENV": "dev",
          "IMAGE_TAG": "", "PR_NUMBER": ""}
LEASE = 30.0


def skewed_replica(store_url: str, jenkins, skew: float, seconds: float, **extra) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tests.webhook.skewed_replica", "--store", store_url, "--jenkins", jenkins.url,
            "--skew", str(skew), "--seconds", str(seconds), "--lease", str(LEASE)]
    for k, v in extra.items():
        argv += [f"--{k}", str(v)]
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ready = json.loads(proc.stdout.readline() or "{}")
    if not ready.get("ready"):
        proc.kill()
        pytest.fail(f"skewed replica did not start: {proc.stderr.read()[-3000:]}")
    assert abs(ready["clock"] - ready["real"] - skew) < 1  # its clock really is off
    return proc


def outcomes_of(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def builds_posted(jenkins) -> int:
    return jenkins.state.requests[("POST", "buildWithParameters")]


def test_a_replica_whose_clock_runs_ahead_does_not_take_over_a_live_lease(store_url, jenkins) -> None:
    store = open_store(store_url)
    assert store.claim("skew-ahead", REPO, [("dev/hello-world", PARAMS)]).queued == ["dev/hello-world"]
    [row] = store.acquire("replica-a", 10, lease=LEASE)  # replica A is calling Jenkins (for < 30 s)
    replica_b = skewed_replica(store_url, jenkins, skew=+600, seconds=1.5)  # 10 min ahead: lease "over"
    assert outcomes_of(replica_b) == []
    assert builds_posted(jenkins) == 0
    client = JenkinsClient(JenkinsSettings(jenkins.url, "hook", "hook-token", timeout=5), retries=0)
    done = Dispatcher(store, client, RetryPolicy(lease=LEASE), workers=1).attempt(row)
    assert done.result == "started", done
    assert [b.job for b in jenkins.state.builds] == ["dev/hello-world"] and builds_posted(jenkins) == 1
    assert store.states("skew-ahead") == {"dev/hello-world": ("started", "queue item 1")}
    store.close()


def test_a_replica_whose_clock_runs_behind_keeps_its_lease(store_url, jenkins) -> None:
    store = open_store(store_url)
    jenkins.build_delay = 3.0  # replica B's POST takes 3 s: it is mid-call while A looks
    assert store.claim("skew-behind", REPO, [("dev/hello-world", PARAMS)]).queued == ["dev/hello-world"]
    replica_b = skewed_replica(store_url, jenkins, skew=-600, seconds=5.0)  # 10 min behind
    deadline = time.monotonic() + 10
    while builds_posted(jenkins) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert builds_posted(jenkins) == 1, "replica B never took the trigger"
    taken = []
    until = time.monotonic() + 1.5
    while time.monotonic() < until:  # replica A, right clock: B's lease must still hold
        taken += store.acquire("replica-a", 10, lease=LEASE)
        time.sleep(0.1)
    assert taken == []
    [outcome] = outcomes_of(replica_b)
    assert outcome["result"] == "started" and outcome["delivery"] == "skew-behind"
    assert builds_posted(jenkins) == 1 and store.stats().count == 0
    store.close()


def test_the_retry_horizon_follows_the_store_clock(store_url, jenkins) -> None:
    store = open_store(store_url)
    assert store.claim("skew-horizon", REPO, [("dev/hello-world", PARAMS)]).queued == ["dev/hello-world"]
    jenkins.fail(503, count=2)  # a restarting controller: worth retrying well inside the horizon
    # Two hours ahead, horizon one minute: by its own clock the delivery is long past the horizon.
    replica_b = skewed_replica(store_url, jenkins, skew=+7200, seconds=2.5, horizon=60)
    results = [o["result"] for o in outcomes_of(replica_b)]
    assert results[-1] == "started" and "failed" not in results, results
    assert results.count("retry") >= 1
    assert [b.job for b in jenkins.state.builds] == ["dev/hello-world"]
    [(state, _)] = store.states("skew-horizon").values()
    assert state == "started"
    store.close()
