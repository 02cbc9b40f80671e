"""The real monitoring parts the tests start on 127.0.0.1: Pushgateway, Prometheus, Alertmanager
(Debian ``prometheus-pushgateway``, ``prometheus``, ``prometheus-alertmanager``), and a Slack
stand-in that records what Alertmanager posts. Every process runs in its own process group
and is killed with it on ``stop()``."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.process import LOOPBACK, ManagedProcess, free_port, require_tool


def need(name: str, package: str) -> str:
    """The tool's path; the test is skipped (with the package to install) when it is missing."""
    try:
        return require_tool(name, package)
    except GantryError as exc:
        pytest.skip(str(exc))


def http_ok(url: str) -> bool:
    """True when GET ``url`` answers 200 (readiness probes)."""
    with urllib.request.urlopen(url, timeout=1) as resp:
        return resp.status == 200


class Part:
    """One started binary: its base URL and its managed process."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path, ready_path: str = "/-/ready") -> None:
        self.url = f"http://{LOOPBACK}:{port}"
        self.port = port
        self.process = ManagedProcess(name, argv, workdir / f"{name}.log")
        self.process.start()
        try:
            self.process.wait_ready(lambda: http_ok(self.url + ready_path), timeout=30)
        except BaseException:
            self.process.stop()
            raise

    @property
    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.stop()

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return json.loads(resp.read())

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return resp.read().decode()


def start_pushgateway(workdir: Path) -> Part:
    binary = need("prometheus-pushgateway", "prometheus-pushgateway")
    port = free_port()
    # Debian's default persists to /var/lib/prometheus/pushgateway.data: keep the tests' pushes in memory.
    return Part("pushgateway", [binary, f"--web.listen-address={LOOPBACK}:{port}", "--persistence.file="],
                port, workdir)


def start_alertmanager(workdir: Path, config: dict[str, Any]) -> Part:
    binary = need("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "alertmanager-data").mkdir(exist_ok=True)
    return Part("alertmanager", [binary, f"--config.file={path}", f"--storage.path={workdir / 'alertmanager-data'}",
                                 f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="],
                port, workdir)


def start_prometheus(workdir: Path, rule_files: list[Path], scrape: dict[str, tuple[str, bool]],
                     alertmanager: str, interval: str = "1s") -> Part:
    """Prometheus scraping ``scrape`` (job -> (host:port, honor_labels)) every ``interval``,
    evaluating ``rule_files`` as often and sending alerts to ``alertmanager`` (host:port)."""
    binary = need("prometheus", "prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [{"job_name": job, "honor_labels": honor, "static_configs": [{"targets": [target]}]}
                           for job, (target, honor) in scrape.items()],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "prometheus-data").mkdir(exist_ok=True)
    return Part("prometheus", [binary, f"--config.file={path}", f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                               f"--web.listen-address={LOOPBACK}:{port}"], port, workdir)


class SlackStandIn:
    """A tiny HTTP server recording every POSTed JSON body (what Slack's incoming webhook gets)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                with stand_in._lock:
                    stand_in.paths.append(self.path)
                    stand_in.messages.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SlackStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)
