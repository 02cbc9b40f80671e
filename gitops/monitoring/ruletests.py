"""``promtool test rules`` unit tests for the generated alerts: series in, expected alerts out.

The format is Prometheus' rule unit-test file
(https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/). Every alert
gets at least one case where it fires (with its exact labels and expanded annotations) and one
where it must stay silent. Inputs are hand-picked series (``10 %`` of requests failing, an HPA
at its maximum, …); promtool evaluates the real PromQL and templates over them, so a wrong
selector, window, threshold, ``for:`` or template fails the test.

Tests reference their rule file relative to themselves (``../rules/<name>.yaml``, the
PrometheusRule manifest); ``check_monitoring`` extracts each manifest's ``spec`` to the same
relative path before it runs promtool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipeline_lib.core import pipelinemetrics as pm

from .policy import MonitoringPolicy
from .rules import AlertSpec, ServiceTarget, gantry_alerts, service_alerts

_LABEL = re.compile(r"\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}")
_VALUE = re.compile(r"\{\{ \$value(?: \| [a-zA-Z]+)? \}\}")


@dataclass
class Expect:
    """One firing alert the case expects: the sample's labels and ``$value`` as rendered."""

    labels: dict[str, str]
    value: str = ""


@dataclass
class Case:
    """Input series and, per (alert, eval time), the alerts expected to fire there."""

    name: str
    series: list[tuple[str, str]]
    checks: list[tuple[str, str, list[Expect]]] = field(default_factory=list)


def _series(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def _expand(template: str, labels: dict[str, str], value: str) -> str:
    """The subset of Go templating the annotations use: ``$labels.x`` and ``$value | f``."""
    return _VALUE.sub(value, _LABEL.sub(lambda m: labels.get(m.group(1), ""), template))


def _exp_alert(spec: AlertSpec, policy: MonitoringPolicy, expect: Expect) -> dict[str, Any]:
    labels = {**expect.labels, **spec.labels}
    return {"exp_labels": labels,
            "exp_annotations": {k: _expand(v, expect.labels, expect.value)
                                for k, v in spec.annotations(policy).items()}}


def _test_file(rule_file: str, cases: list[Case], specs: dict[str, AlertSpec],
               policy: MonitoringPolicy) -> dict[str, Any]:
    tests = []
    for case in cases:
        checks = []
        for alert, at, expected in case.checks:
            checks.append({"eval_time": at, "alertname": alert,
                           "exp_alerts": [_exp_alert(specs[alert], policy, e) for e in expected]})
        tests.append({"name": case.name, "interval": "1m",
                      "input_series": [{"series": s, "values": v} for s, v in case.series],
                      "alert_rule_test": checks})
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def _after(duration: str, extra_minutes: int) -> str:
    """``duration`` (``15m``, ``1h``, ``30s``) plus ``extra_minutes``, as a duration string."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = int(duration[:-1]) * units[duration[-1]] if duration not in ("", "0") else 0
    return f"{seconds // 60 + extra_minutes}m"


def service_tests(t: ServiceTarget, policy: MonitoringPolicy, rule_file: str) -> dict[str, Any]:
    """The promtool test file for one service's alerts (needs the policy's defaults' shapes:
    thresholds are read from ``policy`` so a changed threshold keeps the cases meaningful)."""
    specs = {s.alert: s for s in service_alerts(t, policy)}
    m = policy.metrics
    sel = {"namespace": t.namespace, "service": t.name}
    slo = {"namespace": t.namespace, "service": t.name}
    # 10 % failing: above every burn threshold of a 99.9 % SLO (14.4 x 0.1 % = 1.44 %).
    bad_ratio = 0.10
    assert bad_ratio > 14.4 * policy.error_budget, "policy's budget too loose for the burn case"
    burning = Case("10% of requests fail: both burn alerts fire, the fast one first", [
        (_series(m.requests, {**sel, "code": "200"}), "0+54x40"),
        (_series(m.requests, {**sel, "code": "500"}), "0+6x40"),
    ], [
        ("ServiceErrorBudgetBurnFast", _after(policy.burn_fast_for, 8), [Expect(slo, "10%")]),
        ("ServiceErrorBudgetBurnSlow", _after(policy.burn_fast_for, 8), []),
        ("ServiceErrorBudgetBurnSlow", _after(policy.burn_slow_for, 10), [Expect(slo, "10%")]),
    ])
    # 0.05 % failing: within a 99.9 % budget, silent.
    healthy = Case("0.05% of requests fail: within budget, no burn alert", [
        (_series(m.requests, {**sel, "code": "200"}), "0+1999x40"),
        (_series(m.requests, {**sel, "code": "503"}), "0+1x40"),
    ], [
        ("ServiceErrorBudgetBurnFast", _after(policy.burn_fast_for, 8), []),
        ("ServiceErrorBudgetBurnSlow", _after(policy.burn_slow_for, 10), []),
    ])
    # Every request in the (0.5 s, 1 s] bucket: p99 interpolates to 0.995 s.
    slow_buckets = [("0.1", "0x40"), ("0.5", "0x40"), ("1", "0+60x40"), ("+Inf", "0+60x40")]
    slow = Case("every request takes 0.5-1 s: p99 latency alert", [
        (_series(m.duration_bucket, {**sel, "le": le}), v) for le, v in slow_buckets
    ], [
        ("ServiceLatencyP99High", "3m", []),
        ("ServiceLatencyP99High", _after(policy.latency_for, 5), [Expect(slo, "995ms")]),
    ])
    fast = Case("every request under 0.1 s: no latency alert", [
        (_series(m.duration_bucket, {**sel, "le": le}), v)
        for le, v in [("0.1", "0+60x40"), ("0.5", "0+60x40"), ("1", "0+60x40"), ("+Inf", "0+60x40")]
    ], [("ServiceLatencyP99High", _after(policy.latency_for, 5), [])])
    hpa = {"namespace": t.namespace, "horizontalpodautoscaler": t.name, "job": "kube-state-metrics"}
    top = t.replicas_max
    pinned = Case(f"HPA at {top} of {top} replicas: pages after {policy.hpa_max_for}", [
        (_series(m.hpa_current, hpa), f"{top}x40"),
        (_series(m.hpa_max, hpa), f"{top}x40"),
    ], [
        ("ServiceHPAAtMaxReplicas", _after(policy.hpa_max_for, -5), []),
        ("ServiceHPAAtMaxReplicas", _after(policy.hpa_max_for, 5),
         [Expect({"namespace": t.namespace, "horizontalpodautoscaler": t.name}, str(top))]),
    ])
    headroom = Case("HPA one replica under its maximum: silent", [
        (_series(m.hpa_current, hpa), f"{max(0, top - 1)}x40"),
        (_series(m.hpa_max, hpa), f"{top}x40"),
    ], [("ServiceHPAAtMaxReplicas", _after(policy.hpa_max_for, 5), [])])
    pod = {"namespace": t.namespace, "pod": f"{t.name}-7d4b9c6f5-x2x9z", "container": t.name,
           "job": "kube-state-metrics"}
    crashing = Case("a container restarting every minute", [
        (_series(m.restarts, pod), "0+1x40"),
    ], [
        ("ServicePodRestarting", _after(policy.restarts_for, 20),
         [Expect({k: pod[k] for k in ("namespace", "pod", "container")}, "15")]),
    ])
    steady = Case("a container that restarted twice half an hour ago: silent", [
        (_series(m.restarts, pod), "0 1 2" + " 2" * 40),
    ], [("ServicePodRestarting", "40m", [])])
    return _test_file(rule_file, [burning, healthy, slow, fast, pinned, headroom, crashing, steady],
                      specs, policy)


def gantry_tests(policy: MonitoringPolicy, deploy_envs: tuple[str, ...], rule_file: str) -> dict[str, Any]:
    """The promtool test file for gantry's own alerts."""
    specs = {s.alert: s for s in gantry_alerts(policy, deploy_envs)}
    m = policy.metrics
    hook = {"job": "gantry-webhook", "instance": "10.0.3.7:8090"}
    pending = Case("two triggers wait for Jenkins", [
        (_series(m.webhook_pending, hook), "2x30"),
        (_series(m.webhook_queue, hook), "2x30"),
    ], [
        ("GantryWebhookTriggersPending", "1m", []),
        ("GantryWebhookTriggersPending", _after(policy.webhook_pending_for, 2), [Expect({"job": "gantry-webhook"}, "2")]),
    ])
    legacy = Case("a receiver without the pending gauge: its queue depth counts", [
        (_series(m.webhook_queue, hook), "3x30"),
    ], [("GantryWebhookTriggersPending", _after(policy.webhook_pending_for, 2), [Expect({"job": "gantry-webhook"}, "3")])])
    drained = Case("an empty queue: silent", [
        (_series(m.webhook_pending, hook), "0x30"),
        (_series(m.webhook_queue, hook), "5x30"),  # the pending gauge wins when both exist
    ], [("GantryWebhookTriggersPending", _after(policy.webhook_pending_for, 2), [])])
    limit_min = policy.webhook_oldest_pending_seconds // 60
    stuck = Case("the oldest trigger ages one minute per minute", [
        (_series(m.webhook_oldest_pending, hook), "0+60x40"),
    ], [
        ("GantryWebhookTriggerStuck", f"{limit_min}m", []),
        ("GantryWebhookTriggerStuck", f"{limit_min + 5}m",
         [Expect({"job": "gantry-webhook"}, f"{limit_min + 5}m 0s")]),
    ])
    given_up = Case("one trigger given up", [
        (_series(m.webhook_triggers, {**hook, "result": "failed"}), "0 0 0 0 0 1 1 1 1 1 1"),
        (_series(m.webhook_triggers, {**hook, "result": "started"}), "0+5x10"),
    ], [
        ("GantryWebhookTriggersFailing", "3m", []),
        ("GantryWebhookTriggersFailing", "8m", [Expect({"job": "gantry-webhook"}, "1")]),
    ])
    push = {"job": pm.PUSH_JOB, "instance": "pushgateway:9091"}
    deploy_env = deploy_envs[0] if deploy_envs else "prod"
    cases = [pending, legacy, drained, stuck, given_up]
    for stage, alert in ((pm.GATE_STAGE, "GantryGateFailing"), (pm.REPLICATE_STAGE, "GantryImageReplicationFailing")):
        failing = {**push, "service": "storefront", "stage": stage, "env": deploy_env}
        series = [(_series(pm.STAGE_OUTCOME, {**failing, "status": s}), ("1x10" if s == "failed" else "0x10"))
                  for s in pm.STATUSES]
        expected_labels = {k: v for k, v in failing.items()}
        expected_labels["status"] = "failed"
        checks = [(alert, "5m", [Expect(expected_labels, "1")])]
        if stage == pm.GATE_STAGE:
            # A PR build failing its gate on dev is the gate doing its job: silent.
            dev = {**push, "service": "storefront", "stage": stage, "env": "dev"}
            series.append((_series(pm.STAGE_OUTCOME, {**dev, "status": "failed"}), "1x10"))
        cases.append(Case(f"the last {stage} stage failed", series, checks))
        passed = {**push, "service": "order-api", "stage": stage, "env": deploy_env}
        cases.append(Case(f"the last {stage} stage passed: silent", [
            (_series(pm.STAGE_OUTCOME, {**passed, "status": s}), ("1x10" if s == "passed" else "0x10"))
            for s in pm.STATUSES
        ], [(alert, "5m", [])]))
    watch = {"job": pm.WATCH_JOB, "instance": "pushgateway:9091", "env": deploy_env}
    cases.append(Case("gantry watch: the running storefront digest has a blocking finding", [
        (_series(pm.WATCH_BLOCKING, {**watch, "service": "storefront", "severity": "HIGH"}), "1x10"),
        (_series(pm.WATCH_BLOCKING, {**watch, "service": "storefront", "severity": "CRITICAL"}), "0x10"),
        (_series(pm.WATCH_BLOCKING, {**watch, "service": "order-api", "severity": "HIGH"}), "0x10"),
    ], [("GantryWatchBlockingFindings", "5m",
         [Expect({"env": deploy_env, "service": "storefront"}, "1")])]))
    cases.append(Case("gantry watch: nothing blocking runs: silent", [
        (_series(pm.WATCH_BLOCKING, {**watch, "service": "storefront", "severity": "HIGH"}), "0x10"),
    ], [("GantryWatchBlockingFindings", "5m", [])]))
    cases.append(Case("gantry watch could not evaluate a digest", [
        (_series(pm.WATCH_EVALUATED, watch), "0x10"),
    ], [("GantryWatchCannotEvaluate", "5m", [Expect({"env": deploy_env}, "0")])]))
    cases.append(Case("gantry watch evaluated every digest: silent", [
        (_series(pm.WATCH_EVALUATED, watch), "1x10"),
    ], [("GantryWatchCannotEvaluate", "5m", [])]))
    return _test_file(rule_file, cases, specs, policy)
