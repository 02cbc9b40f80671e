"""End to end: real Prometheus, Alertmanager and Pushgateway, gantry's webhook receiver and a
Slack stand-in, all on 127.0.0.1.

Prometheus (1 s scrape and evaluation) loads the rules gantry generates for prod (a fast policy:
``for: 2s``) and scrapes the receiver's ``/metrics`` and the Pushgateway. Two things go wrong:
Jenkins stops while a GitHub push is waiting to be built, and a gate stage fails (pushed through
gantry's stage runner with ``PUSHGATEWAY_URL`` set). Alertmanager, configured by gantry with the
Slack URL read from a file, must deliver both alerts to the Slack stand-in.
"""

from __future__ import annotations

import io
import os
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gitops.monitoring import DEFAULT_POLICY, alertmanager_config, monitoring_resources
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.process import LOOPBACK, ManagedProcess, free_port
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.stages import FAILED, StageResult, run_stage
from tests.support.localjenkins import LocalJenkins
from tests.support.paths import FIXTURES
from tests.webhook.conftest import SECRET, TEST_SERVICE, catalog_with, headers_for, seed_jobs

from .parts import SlackStandIn, http_ok, need, start_alertmanager, start_prometheus, start_pushgateway

GANTRY = Path(sys.executable).parent / "gantry"
FAST = replace(DEFAULT_POLICY, webhook_pending_for="2s")
SLACK_PATH = "/services/T0000/B0000/e2e-test-token"
DEADLINE = 30.0  # seconds from the faults to both Slack messages

pytestmark = pytest.mark.integration


def _rule_files(catalog, workdir: Path) -> list[Path]:
    """The spec of every PrometheusRule gantry renders for prod, as plain rule files."""
    out = []
    for rel, text in monitoring_resources(catalog, "prod", FAST).items():
        if "/rules/" in rel:
            path = workdir / "rules" / Path(rel).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(yaml.safe_load(text)["spec"]))
            out.append(path)
    return out


def _start_receiver(catalog_path: Path, workdir: Path, jenkins_url: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), JENKINS_URL=jenkins_url,
               JENKINS_USER="hook", JENKINS_API_TOKEN="hook-token")
    proc = ManagedProcess("webhook", [str(GANTRY), "webhook", "serve", "--host", LOOPBACK, "--port", str(port),
                                      "--catalog", str(catalog_path), "--db", str(workdir / "deliveries.sqlite3")],
                          workdir / "webhook.log", env=env)
    proc.start()
    url = f"http://{LOOPBACK}:{port}"
    try:
        proc.wait_ready(lambda: http_ok(url + "/healthz"), timeout=30)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def _deliver_push(url: str) -> int:
    body = (FIXTURES / "github-webhooks" / "push.json").read_bytes()
    req = urllib.request.Request(url + "/github-webhook/", data=body, headers=headers_for("push", body), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def _by_alert(messages: list[dict]) -> dict[str, dict]:
    """Slack attachments keyed by the alert name in their title (``[FIRING:1] Name``)."""
    found = {}
    for message in messages:
        for attachment in message.get("attachments", []):
            title = attachment.get("title", "")
            if title.startswith("[FIRING"):
                found[title.split("] ", 1)[1]] = {**attachment, "channel": message.get("channel")}
    return found


def test_alerts_travel_from_gantry_through_prometheus_and_alertmanager_to_slack(tmp_path: Path, monkeypatch) -> None:
    need("prometheus", "prometheus")
    started = time.monotonic()
    catalog_path = tmp_path / "catalog.yaml"
    catalog_path.write_text(catalog_with(TEST_SERVICE))
    catalog = load_catalog(catalog_path)
    rule_files = _rule_files(catalog, tmp_path)

    with ExitStack() as stack:
        slack = stack.enter_context(SlackStandIn())
        url_file = tmp_path / "slack-url"  # what the mounted Secret holds in the cluster
        url_file.write_text(slack.url + SLACK_PATH + "\n")
        am = start_alertmanager(tmp_path, alertmanager_config(
            catalog, slack_api_url_file=str(url_file), group_wait="1s", group_interval="1s", repeat_interval="1h"))
        stack.callback(am.stop)
        pushgateway = start_pushgateway(tmp_path)
        stack.callback(pushgateway.stop)
        jenkins = stack.enter_context(LocalJenkins(user="hook", token="hook-token", crumb=True))
        seed_jobs(jenkins)
        receiver, receiver_url = _start_receiver(catalog_path, tmp_path, jenkins.url)
        stack.callback(receiver.stop)
        prometheus = start_prometheus(tmp_path, rule_files, {
            "gantry-webhook": (receiver_url.removeprefix("http://"), False),
            "pushgateway": (pushgateway.url.removeprefix("http://"), True),  # keep the pushed job/labels
        }, am.url.removeprefix("http://"))
        stack.callback(prometheus.stop)
        ready_at = time.monotonic()

        # Fault 1: Jenkins goes away while a push waits to be built.
        jenkins.stop()
        assert _deliver_push(receiver_url) == 202
        # Fault 2: the security gate fails a prod deploy; the stage runner pushes the outcome.
        # (the settings the CLI or the demo reads once and passes to the stage runner)
        settings = Settings.from_env({"PUSHGATEWAY_URL": pushgateway.url, "SERVICE": "storefront",
                                      "TARGET_ENV": "prod"})
        run_stage("gate", lambda: StageResult("gate", FAILED, "2 critical findings"), out=io.StringIO(),
                  settings=settings)

        wanted = {"GantryWebhookTriggersPending", "GantryGateFailing"}
        deadline = time.monotonic() + DEADLINE
        while not wanted <= set(_by_alert(slack.received())) and time.monotonic() < deadline:
            time.sleep(0.2)
        delivered_at = time.monotonic()
        alerts = _by_alert(slack.received())
        assert wanted <= set(alerts), (
            f"Slack got {sorted(alerts)}; Prometheus alerts: {prometheus.get_text('/api/v1/alerts')}; "
            f"targets: {prometheus.get_text('/api/v1/targets')[:2000]}; alertmanager log: {am.log[-2000:]}")
        # Prometheus loaded every generated group and evaluates every rule without error.
        loaded = prometheus.get_json("/api/v1/rules")["data"]["groups"]
        generated = [g for p in rule_files for g in yaml.safe_load(p.read_text())["groups"]]
        assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in generated)
        assert all(r["health"] in ("ok", "unknown") for g in loaded for r in g["rules"]), loaded

    # Alertmanager posted to the URL it read from the file, never from its configuration.
    assert set(slack.paths) == {SLACK_PATH}
    gate = alerts["GantryGateFailing"]
    assert gate["channel"] == "#shop-alerts"
    for label in ("alertname=GantryGateFailing", "service=storefront", "env=prod", "stage=gate",
                  "severity=warning", "job=gantry"):
        assert f"`{label}`" in gate["text"], gate["text"]
    assert "The security gate blocks storefront in prod" in gate["text"]
    pending = alerts["GantryWebhookTriggersPending"]
    for label in ("alertname=GantryWebhookTriggersPending", "job=gantry-webhook", "severity=warning", "team=sre"):
        assert f"`{label}`" in pending["text"], pending["text"]
    assert "Why it matters:" in pending["text"] and "Runbook" in pending["text"]
    print(f"\nmonitoring e2e: parts up in {ready_at - started:.1f}s, faults to Slack in "
          f"{delivered_at - ready_at:.1f}s, total {time.monotonic() - started:.1f}s")
