"""Receivers as ``gantry webhook serve`` processes behind a round-robin "load balancer": two
replicas on a real PostgreSQL, or one on SQLite, 1 000 signed deliveries plus redeliveries, and
a replica killed with SIGKILL (its trigger process too) halfway. Every delivery's jobs must be
started exactly once: the Jenkins stand-in's builds are counted per (job, commit)."""

from __future__ import annotations

import collections
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline_lib.core.process import free_port
from tests.support.serving import wait_healthy

from tests.support.paths import FIXTURES

from .conftest import SECRET, TRIPLE, sign, write_catalog

GANTRY = Path(sys.executable).parent / "gantry"
DELIVERIES = 1000
REDELIVERIES = 200
LEASE = 4.0


class Replica:
    """One ``gantry webhook serve`` in its own process group (server + trigger process)."""

    def __init__(self, name: str, catalog: Path, store: str, conf: Path, jenkins_url: str, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log_dir / f"{name}.log"
        env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), JENKINS_URL=jenkins_url,
                   JENKINS_USER="hook", JENKINS_API_TOKEN="hook-token")
        env.pop("SLACK_WEBHOOK_URL", None)
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [str(GANTRY), "webhook", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--catalog", str(catalog), "--store", store, "--conf", str(conf), "--workers", "4",
                 "--lease", str(LEASE), "--retry-backoff", "0.05", "--retry-max-backoff", "0.5"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.alive = True
        if wait_healthy(self.url("/healthz"), self.proc):
            return
        self.kill()
        pytest.fail(f"replica {name} did not start: {self.log.read_text()[-3000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kill(self) -> None:
        """SIGKILL the whole replica: the server and its trigger process, mid-whatever."""
        self.alive = False
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.alive = False
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> dict:
        with urllib.request.urlopen(self.url("/healthz"), timeout=5) as resp:
            return json.loads(resp.read())


def _deliveries() -> list[tuple[str, bytes, int]]:
    """(GUID, body, jobs it starts): pushes to Hello-World (1 job) and to Tri (dev, prod, event)."""
    template = json.loads((FIXTURES / "github-webhooks" / "push-branch-commit.json").read_bytes())
    out = []
    for i in range(DELIVERIES):
        sha = hashlib.sha1(f"replica-test-{i}".encode()).hexdigest()
        tri = i % 3 == 0
        payload = dict(template, after=sha, before="1" * 40, created=False, forced=False,
                       ref="refs/heads/main" if tri else "refs/heads/master")
        payload["repository"] = dict(template["repository"],
                                     full_name="Codertocat/Tri" if tri else "Codertocat/Hello-World")
        c = dict(template["commits"][0], id=sha, added=[], removed=[], modified=["src/app.py"])
        payload.update(commits=[c], head_commit=c)
        out.append((f"{i:08d}-0000-4000-8000-replicatest", json.dumps(payload).encode(), 3 if tri else 1))
    return out


class Balancer:
    """Round-robin over live replicas; a refused or broken connection goes to the next one
    (what an ALB does after its health check, or GitHub's redelivery of a failed delivery)."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.local = threading.local()
        self.turn = 0
        self.lock = threading.Lock()

    def post(self, delivery: str, body: bytes) -> int:
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body),
                   "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.lock:
                live = [r for r in self.replicas if r.alive]
                self.turn += 1
                replica = live[self.turn % len(live)] if live else None
            if replica is None:  # the only replica is being restarted
                time.sleep(0.1)
                continue
            conns = self.local.__dict__.setdefault("conns", {})
            conn = conns.get(replica.port)
            if conn is None:
                conn = conns[replica.port] = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=15)
            try:
                conn.request("POST", "/github-webhook/", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 503:  # store briefly unavailable: GitHub would show it failed; redeliver
                    time.sleep(0.1)
                    continue
                return resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(replica.port, None)
                time.sleep(0.05)
        raise AssertionError(f"delivery {delivery} was never accepted")


def _run(replicas: list[Replica], jenkins, restart=None) -> None:
    deliveries = _deliveries()
    rng = random.Random(11)
    sends = [(d, b) for d, b, _ in deliveries]
    for _ in range(REDELIVERIES):  # GitHub's "Redeliver": same GUID and body, anywhere later in the stream
        d, b, _ = deliveries[rng.randrange(DELIVERIES)]
        sends.insert(rng.randrange(len(sends) + 1), (d, b))
    balancer = Balancer(replicas)
    done = [0]
    killed = threading.Event()
    statuses: collections.Counter = collections.Counter()

    def one(item):
        status = balancer.post(*item)
        with balancer.lock:
            statuses[status] += 1
            done[0] += 1
            halfway = done[0] == len(sends) // 2
        if halfway:
            replicas[0].kill()  # mid-delivery: other requests are in flight, triggers mid-call
            killed.set()
            if restart is not None:
                restart()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, sends))
    assert killed.is_set()
    assert set(statuses) <= {200, 202}, statuses

    expected = sum(n for _, _, n in deliveries)
    deadline = time.monotonic() + 45
    while len(jenkins.state.builds) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(LEASE + 1.0)  # any trigger taken over after the lease would show up by now
    with jenkins.state.lock:
        built = collections.Counter((b.job, b.params["COMMIT_SHA"]) for b in jenkins.state.builds)
    twice = {k: n for k, n in built.items() if n > 1}
    assert not twice, f"started more than once: {list(twice.items())[:5]}"
    missing = [(d, n) for d, b, n in deliveries
               if sum(built[(j, json.loads(b)["after"])] for j in _jobs(b)) != n]
    assert not missing, f"{len(missing)} deliveries lost builds, e.g. {missing[:3]}"
    assert sum(built.values()) == expected
    live = [r for r in replicas if r.alive]
    assert all(r.health()["pending_triggers"] == 0 for r in live)


def _jobs(body: bytes) -> list[str]:
    repo = json.loads(body)["repository"]["full_name"]
    return ["dev/tri", "prod/tri", "event/tri"] if repo.endswith("/Tri") else ["dev/hello-world"]


@pytest.fixture()
def setup(jenkins, tmp_path):
    jenkins.put("event", "<com.cloudbees.hudson.plugins.folder.Folder/>", folder=True)
    for job in ("dev/tri", "prod/tri", "event/tri"):
        jenkins.put(job, "<flow-definition/>", folder=False)
    conf = tmp_path / "jenkins.ini"
    conf.write_text("[jenkins]\ntimeout=1.5\n")  # a lease of 4 s outlasts two calls
    assert TRIPLE
    return write_catalog(tmp_path), conf


def test_two_replicas_on_postgresql_start_every_build_exactly_once(setup, local_postgres, jenkins, tmp_path) -> None:
    catalog, conf = setup
    store = local_postgres.new_database()
    replicas = [Replica(n, catalog, store, conf, jenkins.url, tmp_path) for n in ("a", "b")]
    try:
        _run(replicas, jenkins)
    finally:
        for r in replicas:
            r.stop()


def test_one_replica_on_sqlite_killed_and_restarted_starts_every_build_exactly_once(setup, jenkins, tmp_path) -> None:
    catalog, conf = setup
    store = str(tmp_path / "triggers.sqlite3")
    replicas = [Replica("only", catalog, store, conf, jenkins.url, tmp_path)]

    def restart() -> None:  # a supervisor (systemd, ECS) starts it again on the same file
        replicas.append(Replica("again", catalog, store, conf, jenkins.url, tmp_path))

    try:
        _run(replicas, jenkins, restart)
    finally:
        for r in replicas:
            r.stop()
