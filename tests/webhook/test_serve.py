"""`gantry webhook serve` for real: uvicorn on 127.0.0.1, signed deliveries over HTTP, a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline_lib.core.process import free_port
from tests.support.serving import wait_healthy

from .conftest import SECRET, headers_for
from tests.support.paths import FIXTURES

SHARED = FIXTURES / "github-webhooks"
GANTRY = Path(sys.executable).parent / "gantry"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Served:
    def __init__(self, catalog: Path, db: Path, jenkins_url: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), JENKINS_URL=jenkins_url,
                   JENKINS_USER="hook", JENKINS_API_TOKEN="hook-token")
        self.proc = subprocess.Popen([str(GANTRY), "webhook", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--catalog", str(catalog), "--db", str(db), *extra], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if wait_healthy(self.url + "/healthz", self.proc):
            return
        self.stop()
        pytest.fail(f"gantry webhook serve did not start: {self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.returncode


def test_uvicorn_serves_deliveries_and_remembers_them_across_restarts(test_catalog_path, jenkins, tmp_path) -> None:
    db = tmp_path / "deliveries.sqlite3"
    body = (SHARED / "push.json").read_bytes()
    headers = headers_for("push", body, delivery="5d0c7a0e-1111-4e7e-8a1a-0000000000aa")
    served = Served(test_catalog_path, db, jenkins.url)
    try:
        ping = (SHARED / "ping.json").read_bytes()
        assert _post(served.url + "/github-webhook/", ping, headers_for("ping", ping))[0] == 200
        status, answer = _post(served.url + "/github-webhook/", body, headers)
        assert status == 202 and answer["queued"] == ["prod/hello-world"]
        deadline = time.monotonic() + 10
        while not jenkins.state.builds and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b.job for b in jenkins.state.builds] == ["prod/hello-world"]
        assert jenkins.state.builds[0].params["COMMIT_SHA"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
        status, _ = _post(served.url + "/github-webhook/", body, {**headers, "X-Hub-Signature-256": "sha256=" + "f" * 64})
        assert status == 401
        with urllib.request.urlopen(served.url + "/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'gantry_webhook_deliveries_total{event="push",outcome="queued"} 1.0' in metrics
    finally:
        # uvicorn shuts down cleanly, then re-raises SIGTERM: gantry exits 143 as on any SIGTERM.
        assert served.stop() == 143, served.output
    assert "Application shutdown complete" in served.output and "Traceback" not in served.output

    again = Served(test_catalog_path, db, jenkins.url)
    try:
        status, answer = _post(again.url + "/github-webhook/", body, headers)
        assert status == 200 and "already handled" in answer["ignored"]
    finally:
        again.stop()
    assert len(jenkins.state.builds) == 1


def test_serve_refuses_to_start_without_a_secret(test_catalog_path, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_WEBHOOK_SECRET"}
    env["JENKINS_URL"] = "http://127.0.0.1:9"
    proc = subprocess.run([str(GANTRY), "webhook", "serve", "--catalog", str(test_catalog_path),
                           "--db", str(tmp_path / "db")], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gantry: GITHUB_WEBHOOK_SECRET: not set: the receiver refuses to run without a secret"
    proc = subprocess.run([str(GANTRY), "webhook", "serve", "--port", "99999"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.startswith("gantry: webhook serve:") and "Traceback" not in proc.stderr
