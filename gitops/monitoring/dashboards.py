"""Grafana dashboards as JSON: the services' RED metrics and gantry's pipeline.

Dashboard JSON model: https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
(schemaVersion 39, ``timeseries``/``stat``/``table`` panels, a ``prometheus`` datasource
variable). Each dashboard ships as a ConfigMap labelled ``grafana_dashboard: "1"``, which the
kube-prometheus-stack Grafana sidecar loads (``sidecar.dashboards.label``).

:func:`dashboard_exprs` lists every PromQL expression with Grafana's variables replaced by
sample values, so ``promtool`` can parse them (as recording rules).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline_lib.core import pipelinemetrics as pm

from .policy import MonitoringPolicy
from .rules import ERROR_RATIO

SIDECAR_LABEL = "grafana_dashboard"
_DS = {"type": "prometheus", "uid": "${datasource}"}


def _panel(pid: int, title: str, targets: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8,
           kind: str = "timeseries", unit: str = "short", description: str = "") -> dict[str, Any]:
    return {
        "id": pid, "type": kind, "title": title, "description": description, "datasource": _DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [{"refId": chr(ord("A") + i), "datasource": _DS, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def _variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": _DS, "refresh": 2,
            "query": {"query": query, "refId": name}, "definition": query, "includeAll": False,
            "multi": False, "sort": 1}


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]],
               policy: MonitoringPolicy) -> dict[str, Any]:
    datasource = {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}
    return {
        "uid": uid, "title": title, "tags": ["gantry"], "editable": False, "schemaVersion": 39,
        "version": 1, "timezone": "browser", "refresh": policy.dashboard_refresh,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource, *variables]},
        "annotations": {"list": []}, "panels": panels,
    }


def services_dashboard(namespace: str, policy: MonitoringPolicy) -> dict[str, Any]:
    """RED (rate, errors, duration) plus saturation of one service chosen from a variable."""
    m = policy.metrics
    sel = 'namespace="$namespace", service="$service"'
    budget = policy.error_budget
    panels = [
        _panel(1, "Requests per second", [
            (f"sum by (code) (rate({m.requests}{{{sel}}}[$__rate_interval]))", "{{code}}")], 0, 0, unit="reqps"),
        _panel(2, "Error ratio (5xx)", [
            (f'sum(rate({m.requests}{{{sel}, code=~"5.."}}[$__rate_interval]))\n/\n'
             f"sum(rate({m.requests}{{{sel}}}[$__rate_interval]))", "5xx ratio"),
            (f"vector({budget:g})", "error budget ({:g}% SLO)".format(policy.availability_objective * 100))],
            12, 0, unit="percentunit"),
        _panel(3, "Latency", [
            (f"histogram_quantile({q}, sum by (le) (rate({m.duration_bucket}{{{sel}}}[$__rate_interval])))", f"p{int(q * 100)}")
            for q in (0.5, 0.9, 0.99)] + [(f"vector({policy.latency_p99_seconds:g})", "p99 alert threshold")],
            0, 8, unit="s"),
        _panel(4, "Error budget burn rate (1h, 6h)", [
            (f"{ERROR_RATIO.format(window=w)}{{{sel}}} / {budget:g}", f"burn {w}") for w in ("1h", "6h")],
            12, 8, description="1 = spending the budget exactly over 30 days; the page fires at 14.4 (1h) or 6 (6h)."),
        _panel(5, "Replicas (HPA current vs max)", [
            (f'max({m.hpa_current}{{namespace="$namespace", horizontalpodautoscaler="$service"}})', "current"),
            (f'max({m.hpa_max}{{namespace="$namespace", horizontalpodautoscaler="$service"}})', "max")], 0, 16),
        _panel(6, "Container restarts", [
            (f'sum by (pod) (increase({m.restarts}{{namespace="$namespace", container="$service"}}[$__rate_interval]))',
             "{{pod}}")], 12, 16),
    ]
    variables = [
        {**_variable("namespace", f"label_values({m.requests}, namespace)", "Namespace"),
         "current": {"text": namespace, "value": namespace}},
        _variable("service", f'label_values({m.requests}{{namespace="$namespace"}}, service)', "Service"),
    ]
    return _dashboard("gantry-services-red", "Services: requests, errors, duration", panels, variables, policy)


def pipeline_dashboard(policy: MonitoringPolicy) -> dict[str, Any]:
    """gantry's pipeline: stage outcomes and durations (Pushgateway) and the webhook receiver."""
    m = policy.metrics
    sel = 'service=~"$service", env=~"$env"'
    panels = [
        _panel(1, "Last outcome per stage", [
            (f'{pm.STAGE_OUTCOME}{{{sel}}} == 1', "{{service}} {{env}} {{stage}}: {{status}}")],
            0, 0, w=24, kind="table",
            description="The status of each stage's last run, as pushed by gantry to the Pushgateway."),
        _panel(2, "Stage duration (last run)", [
            (f"max by (service, env, stage) ({pm.STAGE_DURATION}{{{sel}}})", "{{service}} {{env}} {{stage}}")],
            0, 8, unit="s"),
        _panel(3, "Failed stages", [
            (f'count by (stage) ({pm.STAGE_OUTCOME}{{{sel}, status="failed"}} == 1)', "{{stage}}")],
            12, 8, kind="stat"),
        _panel(4, "Time since the last gate failure", [
            (f'time() - max by (service, env) ({pm.STAGE_LAST_FAILURE}{{{sel}, stage="{pm.GATE_STAGE}"}})',
             "{{service}} {{env}}")], 0, 16, unit="s", kind="stat"),
        _panel(5, "Webhook: triggers waiting for Jenkins", [
            (f"max by (job) ({m.webhook_pending} or {m.webhook_queue})", "pending"),
            (f"max by (job) ({m.webhook_oldest_pending})", "oldest (s)")], 12, 16),
        _panel(6, "Webhook: build triggers per minute", [
            (f"sum by (result) (rate({m.webhook_triggers}[$__rate_interval])) * 60", "{{result}}")], 0, 24),
        _panel(7, "Open findings on running digests (gantry watch)", [
            (f'sum by (env, service, severity) ({pm.WATCH_OPEN}{{{sel}}})', "{{service}} {{env}} {{severity}}"),
            (f'sum by (env, service) ({pm.WATCH_BLOCKING}{{{sel}}})', "{{service}} {{env}} blocking")],
            12, 24, description="Findings of the last gantry watch run: what the running digests have by "
                                "today's advisories (the ledger's open entries)."),
        _panel(8, "Oldest open finding (gantry watch)", [
            (f'max by (env, service) ({pm.WATCH_OLDEST}{{{sel}}})', "{{service}} {{env}}")],
            0, 32, unit="s", kind="stat",
            description="Time since the oldest open finding on a running digest was first seen."),
    ]
    variables = [
        {**_variable("service", f"label_values({pm.STAGE_OUTCOME}, service)", "Service"), "includeAll": True,
         "multi": True, "current": {"text": "All", "value": "$__all"}, "allValue": ".*"},
        {**_variable("env", f"label_values({pm.STAGE_OUTCOME}, env)", "Environment"), "includeAll": True,
         "multi": True, "current": {"text": "All", "value": "$__all"}, "allValue": ".*"},
    ]
    return _dashboard("gantry-pipeline", "gantry pipeline", panels, variables, policy)


_RANGE_VARS = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{(?:__rate_interval|__interval|__range)\}")
_VARS = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` of every target, Grafana variables replaced by sample values
    (``$__rate_interval`` -> ``5m``, any other ``$var`` -> ``sample``)."""
    found: list[tuple[str, str]] = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if isinstance(expr, str) and expr.strip():
                plain = _VARS.sub("sample", _RANGE_VARS.sub("5m", expr))
                found.append((str(panel.get("title", "")), plain))
    return found


def dashboard_json(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=False) + "\n"
