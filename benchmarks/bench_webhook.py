"""Webhook benchmark: signed deliveries per second, p99 latency and duplicate builds, in one run.

Starts a local Jenkins-API server (own process) and the real ``gantry webhook serve`` (uvicorn), once on
the SQLite store and once on a local PostgreSQL (``--stores``), then sends
signed ``push`` deliveries over keep-alive HTTP/1.1 connections from an asyncio client; 10 % of
them are redeliveries of an earlier id. Goals: >= 1 000 deliveries/s and p99 < 20 ms on SQLite,
and on every store each unique delivery starts exactly one build (0 duplicates).

Run: ``.venv/bin/python benchmarks/bench_webhook.py [--deliveries 5000] [--connections 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline_lib.core.catalog import unwrap  # noqa: E402


SECRET = b"bench-secret"
SERVICE = """
  - name: hello-world
    repo: Codertocat/Hello-World
    ecr_repository: shop/hello-world
    manifest_path: apps/hello-world
    environments:
      dev:
        branches: [master]
"""


JENKINS_PROCESS = """
import json, os, sys
os.nice(10)  # stands in for a Jenkins controller on another machine: not for our 2 cores' CPU
from tests.support.localjenkins import LocalJenkins
with LocalJenkins(user="bench", token="bench-token", crumb=True) as j:
    j.put("dev", "<com.cloudbees.hudson.plugins.folder.Folder/>", folder=True)
    j.put("dev/hello-world", "<flow-definition/>", folder=False)
    print(j.url, flush=True)
    for line in sys.stdin:
        with j.state.lock:
            shas = [b.params.get("COMMIT_SHA") for b in j.state.builds]
        print(json.dumps(shas), flush=True)
"""


class JenkinsProcess:
    """The Jenkins stand-in in its own process: Jenkins is another machine, not our cores' GIL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", JENKINS_PROCESS], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.url = self.proc.stdout.readline().strip()

    def shas(self) -> list[str]:
        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def __enter__(self) -> "JenkinsProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_requests(n: int, port: int, redeliver: float, prefix: str = "bench") -> tuple[list[bytes], set[str]]:
    template = json.loads((ROOT / "tests" / "fixtures" / "github-webhooks" / "push.json").read_bytes())
    template.update(ref="refs/heads/master", deleted=False, created=False)
    rng = random.Random(5)
    requests: list[bytes] = []
    ids: list[str] = []
    for i in range(n):
        if ids and rng.random() < redeliver:
            delivery, sha = rng.choice(ids)
        else:
            sha = hashlib.sha1(f"{prefix}-{i}".encode()).hexdigest()
            delivery = f"{prefix}-{i:08d}"
            ids.append((delivery, sha))
        payload = dict(template, after=sha, commits=[{"id": sha, "added": [], "removed": [], "modified": ["src/x.py"]}])
        body = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        head = (f"POST /github-webhook/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
                f"Content-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {delivery}\r\n"
                f"X-Hub-Signature-256: {sig}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        requests.append(head + body)
    return requests, {sha for _, sha in ids}


def _forge(request: bytes) -> bytes:
    """The same request with its signature's last hex digit changed."""
    head, sep, body = request.partition(b"\r\n\r\n")
    start = head.index(b"X-Hub-Signature-256: sha256=") + len(b"X-Hub-Signature-256: sha256=")
    last = start + 63
    digit = b"0" if head[last:last + 1] != b"0" else b"1"
    return head[:last] + digit + head[last + 1:] + sep + body


async def client(port: int, queue: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            req = queue.pop()
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            status = int(head.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, requests: list[bytes], connections: int) -> tuple[float, list[float], dict[int, int]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    await asyncio.gather(*(client(port, queue, latencies, statuses) for _ in range(connections)))
    return time.perf_counter() - t0, latencies, statuses


def run_store(label: str, store: str, catalog: Path, tmp: Path, jenkins: JenkinsProcess,
              args: argparse.Namespace) -> dict:
    """One ``gantry webhook serve`` on ``store``: warm up, send the load, count builds per commit."""
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), JENKINS_URL=jenkins.url,
               JENKINS_USER="bench", JENKINS_API_TOKEN="bench-token")
    log = tmp / f"serve-{label}.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gantry"), "webhook", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--catalog", str(catalog), "--store", store],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gantry webhook serve ({label}) did not start:\n" + log.read_text())
                time.sleep(0.1)
        requests, shas = build_requests(args.deliveries, port, args.redeliver, prefix=f"bench-{label}")
        warm, warm_shas = build_requests(200, port, 0.0, prefix=f"warm-{label}")
        asyncio.run(load(port, warm, 4))  # warm-up: imports, caches, connections
        # Reference, same run and load: the same requests with a wrong signature (HTTP, parsing and
        # HMAC, no store, no trigger): what this machine's scheduling costs without the store.
        forged = [_forge(r) for r in requests]
        _, ref_latencies, ref_statuses = asyncio.run(load(port, forged, args.connections))
        assert set(ref_statuses) == {401}, ref_statuses
        elapsed, latencies, statuses = asyncio.run(load(port, requests, args.connections))
        expected = shas | warm_shas
        deadline = time.monotonic() + 120
        while sum(1 for s in jenkins.shas() if s in expected) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # anything extra would be a duplicate
        built = [s for s in jenkins.shas() if s in expected]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    latencies.sort()
    ref_latencies.sort()
    return {"ref_p99": ref_latencies[int(len(ref_latencies) * 0.99) - 1] * 1000, "label": label, "rate": len(latencies) / elapsed, "n": len(latencies), "elapsed": elapsed,
            "p50": latencies[len(latencies) // 2] * 1000, "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "statuses": dict(sorted(statuses.items())), "builds": len(built), "expected": len(expected),
            "duplicates": len(built) - len(set(built))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--redeliver", type=float, default=0.1, help="share of redeliveries (default 0.1)")
    ap.add_argument("--stores", default="sqlite,postgresql",
                    help="comma-separated: sqlite, postgresql (a local server; needs Debian's postgresql)")
    args = ap.parse_args()
    from tests.support.postgres import LocalPostgres, postgres_bin

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmpdir, JenkinsProcess() as jenkins:
        tmp = Path(tmpdir)
        catalog = tmp / "catalog.yaml"
        data = unwrap(yaml.safe_load((ROOT / "jobs" / "catalog.yaml").read_text()))
        data["services"] = yaml.safe_load(SERVICE)
        catalog.write_text(yaml.safe_dump(data, sort_keys=False))
        for label in [s.strip() for s in args.stores.split(",") if s.strip()]:
            if label == "sqlite":
                results.append(run_store(label, str(tmp / "db.sqlite3"), catalog, tmp, jenkins, args))
            elif label == "postgresql":
                if postgres_bin() is None:
                    print("postgresql: not installed (apt-get install postgresql), skipped")
                    continue
                with LocalPostgres() as pg:
                    results.append(run_store(label, pg.new_database(), catalog, tmp, jenkins, args))
            else:
                sys.exit(f"unknown store {label!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ok = True
    for r in results:
        print(f"webhook on {cores} cores, {r['label']} store: {r['n']} signed deliveries in {r['elapsed']:.2f}s -> "
              f"{r['rate']:.0f}/s (goal >= 1000/s, ratio {r['rate'] / 1000:.2f}x); p50 {r['p50']:.1f} ms, "
              f"p99 {r['p99']:.1f} ms (goal < 20 ms, ratio {r['p99'] / 20:.2f}x); statuses {r['statuses']}")
        print(f"  reference (same requests, wrong signature: no store): p99 {r['ref_p99']:.1f} ms; "
              f"store overhead at p99 {r['p99'] / r['ref_p99']:.2f}x")
        print(f"  builds: {r['builds']} for {r['expected']} unique deliveries, {r['duplicates']} duplicates (goal 0)")
        ok = ok and r["duplicates"] == 0 and r["builds"] == r["expected"]
        if r["label"] == "sqlite":
            ok = ok and r["rate"] >= 1000 and r["p99"] < 20
    if len(results) == 2:
        a, b = results
        print(f"postgresql / sqlite: throughput {b['rate'] / a['rate']:.2f}x, p99 {b['p99'] / a['p99']:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
