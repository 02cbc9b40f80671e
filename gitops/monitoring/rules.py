"""Prometheus alerting and recording rules generated from the catalog.

Two kinds of rule groups, as plain data (``{"name": …, "rules": […]}``, the Prometheus rule
file format, https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/):

- :func:`service_groups` — one service in one Kubernetes environment: error-budget burn
  (multiwindow, multi-burn-rate, Google SRE workbook ch. 5), p99 latency, HPA pinned at its
  maximum, containers restarting;
- :func:`gantry_groups` — gantry itself: webhook triggers waiting for Jenkins, the oldest one's
  age, triggers given up, security gates failing on deploying environments, images not
  replicated to Tokyo (the last two from the metrics stages push to the Pushgateway).

Every alert carries ``severity`` (``critical`` pages the on-call, ``warning`` goes to the
channel), ``team`` when one team owns it, and annotations ``summary``, ``description``,
``why`` (why a flash-sale shop's SRE cares) and ``runbook_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_lib.core import pipelinemetrics as pm
from pipeline_lib.core.catalog import Catalog, Service

from .policy import BURN_WINDOWS, MonitoringPolicy

ERROR_RATIO = "service:http_requests_errors:ratio_rate{window}"
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class AlertSpec:
    """One alerting rule before it becomes YAML; annotations are Go templates."""

    alert: str
    expr: str
    for_: str
    labels: dict[str, str]
    summary: str
    description: str
    why: str
    runbook: str

    def rule(self, policy: MonitoringPolicy) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_ not in ("0s", "0m", ""):
            rule["for"] = self.for_
        rule["labels"] = dict(self.labels)
        rule["annotations"] = self.annotations(policy)
        return rule

    def annotations(self, policy: MonitoringPolicy) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, "why": self.why,
                "runbook_url": f"{policy.runbook_base}#{self.runbook}"}


@dataclass(frozen=True)
class ServiceTarget:
    """Where one service runs: its name, Kubernetes namespace and owning team."""

    name: str
    namespace: str
    team: str
    environment: str
    replicas_max: int = 1
    production: bool = True  # False (dev): nothing pages, critical becomes warning

    @property
    def paging(self) -> str:
        """The severity of this target's paging alerts."""
        return "critical" if self.production else "warning"


def target(catalog: Catalog, svc: Service, environment: str) -> ServiceTarget:
    """The :class:`ServiceTarget` of ``svc`` in ``environment`` (namespace from the catalog)."""
    env = catalog.environments[environment]
    team = svc.owners[0] if svc.owners else "sre"
    return ServiceTarget(svc.name, env.namespace, team, environment, svc.environment(environment).replicas_max,
                         production=env.platform != "jenkins")


def _num(value: float) -> str:
    return f"{value:.6g}"


def slo_recording_rules(t: ServiceTarget, policy: MonitoringPolicy) -> list[dict[str, Any]]:
    """5xx ratio of the service's requests over each window the burn-rate alerts read."""
    m = policy.metrics
    sel = f'namespace="{t.namespace}", service="{t.name}"'
    rules = []
    for w in SLO_WINDOWS:
        rules.append({
            "record": ERROR_RATIO.format(window=w),
            "expr": (f'sum by (namespace, service) (rate({m.requests}{{{sel}, code=~"5.."}}[{w}]))\n'
                     f'/\nsum by (namespace, service) (rate({m.requests}{{{sel}}}[{w}]))'),
        })
    return rules


def _burn_expr(t: ServiceTarget, policy: MonitoringPolicy, severity: str) -> str:
    sel = f'namespace="{t.namespace}", service="{t.name}"'
    parts = []
    for rate, long_w, short_w, sev in BURN_WINDOWS:
        if sev != severity:
            continue
        threshold = _num(rate * policy.error_budget)
        parts.append(f"({ERROR_RATIO.format(window=long_w)}{{{sel}}} > {threshold}\n"
                     f" and\n {ERROR_RATIO.format(window=short_w)}{{{sel}}} > {threshold})")
    return "\nor\n".join(parts)


def service_alerts(t: ServiceTarget, policy: MonitoringPolicy) -> list[AlertSpec]:
    """The alerts of one service (see the module docstring); in a non-production environment
    (the Jenkins-platform dev) nothing is ``critical``, so dev never pages the on-call."""
    m = policy.metrics
    slo = f"{policy.availability_objective * 100:g}%"
    base = {"service": t.name, "env": t.environment, "team": t.team}
    fast = [w for w in BURN_WINDOWS if w[3] == "critical"]
    slow = [w for w in BURN_WINDOWS if w[3] == "warning"]
    ns_sel = f'namespace="{t.namespace}"'
    return [
        AlertSpec(
            "ServiceErrorBudgetBurnFast", _burn_expr(t, policy, "critical"), policy.burn_fast_for,
            {**base, "severity": t.paging},
            t.name + " is burning its error budget fast",
            "{{ $value | humanizePercentage }} of " + t.name + "'s requests in "
            "{{ $labels.namespace }} fail (5xx); the " + slo + " SLO allows "
            + f"{policy.error_budget * 100:g}%. Burn rate over "
            + " or ".join(f"{r:g}x for {lw} and {sw}" for r, lw, sw, _ in fast) + ".",
            "At this rate the 30-day error budget is gone within days, and during a flash sale "
            "every failed request is a lost order: page now, roll back or shed load.",
            "service-error-budget-burn"),
        AlertSpec(
            "ServiceErrorBudgetBurnSlow", _burn_expr(t, policy, "warning"), policy.burn_slow_for,
            {**base, "severity": "warning"},
            t.name + " is slowly burning its error budget",
            "{{ $value | humanizePercentage }} of " + t.name + "'s requests in "
            "{{ $labels.namespace }} fail (5xx); burn rate over "
            + " or ".join(f"{r:g}x for {lw} and {sw}" for r, lw, sw, _ in slow) + ".",
            "A slow leak does not need a page at night, but left alone it spends the budget the "
            "next sale needs: fix it during working hours.",
            "service-error-budget-burn"),
        AlertSpec(
            "ServiceLatencyP99High",
            f"histogram_quantile(0.99, sum by (namespace, service, le) "
            f'(rate({m.duration_bucket}{{namespace="{t.namespace}", service="{t.name}"}}[5m])))\n'
            f"> {_num(policy.latency_p99_seconds)}",
            policy.latency_for, {**base, "severity": t.paging},
            t.name + " p99 latency is {{ $value | humanizeDuration }}",
            "The slowest 1% of " + t.name + "'s requests in {{ $labels.namespace }} take "
            "{{ $value | humanizeDuration }} (threshold "
            + f"{policy.latency_p99_seconds:g}s) for {policy.latency_for}.",
            "Slow checkout pages lose buyers before they fail: in a flash sale latency is the "
            "first sign of saturation (database, downstream API, CPU throttling).",
            "service-latency"),
        AlertSpec(
            "ServiceHPAAtMaxReplicas",
            f'max by (namespace, horizontalpodautoscaler) ({m.hpa_current}{{{ns_sel}, horizontalpodautoscaler="{t.name}"}})\n'
            f">= on (namespace, horizontalpodautoscaler)\n"
            f'max by (namespace, horizontalpodautoscaler) ({m.hpa_max}{{{ns_sel}, horizontalpodautoscaler="{t.name}"}})',
            policy.hpa_max_for, {**base, "severity": t.paging},
            t.name + " has been at its maximum replicas for " + policy.hpa_max_for,
            "The HorizontalPodAutoscaler {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} "
            "runs {{ $value }} replicas, its maximum, since " + policy.hpa_max_for + " ago.",
            "Pinned at max means the autoscaler can no longer absorb traffic: the next wave of "
            "the sale will raise latency and errors. Raise replicas.max in the catalog, or find "
            "what makes each pod slow.",
            "service-hpa-at-max"),
        AlertSpec(
            "ServicePodRestarting",
            f'sum by (namespace, pod, container) (increase({m.restarts}{{{ns_sel}, container="{t.name}"}}'
            f"[{policy.restarts_window}]))\n>= {policy.restarts_threshold}",
            policy.restarts_for, {**base, "severity": "warning"},
            "{{ $labels.pod }} restarts repeatedly",
            "Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} "
            "restarted {{ $value | humanize }} times in " + policy.restarts_window + ".",
            "A crash-looping pod serves nothing while it counts as capacity, and each restart "
            "drops in-flight orders; the usual causes are OOM kills and failing probes.",
            "service-pod-restarting"),
    ]


def service_groups(t: ServiceTarget, policy: MonitoringPolicy) -> list[dict[str, Any]]:
    """The rule groups of one service: SLO recording rules, then its alerts."""
    return [
        {"name": f"{t.name}.slo", "rules": slo_recording_rules(t, policy)},
        {"name": f"{t.name}.alerts", "rules": [a.rule(policy) for a in service_alerts(t, policy)]},
    ]


def gantry_alerts(policy: MonitoringPolicy, deploy_envs: tuple[str, ...]) -> list[AlertSpec]:
    """gantry's own alerts; gate failures count only in ``deploy_envs`` (PR builds fail gates
    by design)."""
    m = policy.metrics
    envs = "|".join(deploy_envs) or "prod"
    return [
        AlertSpec(
            "GantryWebhookTriggersPending",
            # The in-memory queue depth stands in for receivers that predate the pending gauge.
            f"max by (namespace, job) ({m.webhook_pending} or {m.webhook_queue}) > 0",
            policy.webhook_pending_for, {"severity": "warning", "team": "sre"},
            "GitHub pushes wait for Jenkins",
            "{{ $value }} build triggers of {{ $labels.job }} have been waiting for Jenkins for "
            "at least " + policy.webhook_pending_for + ".",
            "Every waiting trigger is a commit not built: a hotfix for a sale in progress "
            "does not ship while Jenkins refuses triggers (down, crumb or credential trouble).",
            "gantry-webhook-pending"),
        AlertSpec(
            "GantryWebhookTriggerStuck",
            f"max by (namespace, job) ({m.webhook_oldest_pending}) > {policy.webhook_oldest_pending_seconds}",
            policy.webhook_stuck_for, {"severity": "critical", "team": "sre"},
            "A GitHub push has waited {{ $value | humanizeDuration }} for a build",
            "The oldest pending trigger of {{ $labels.job }} is {{ $value | humanizeDuration }} "
            "old (threshold " + f"{policy.webhook_oldest_pending_seconds}s).",
            "Triggers are retried with backoff; one this old means Jenkins has refused work for "
            "a long time, so no fix reaches production: page.",
            "gantry-webhook-stuck"),
        AlertSpec(
            "GantryWebhookTriggersFailing",
            f'sum by (namespace, job) (increase({m.webhook_triggers}{{result="failed"}}[15m])) > 0',
            "0s", {"severity": "warning", "team": "sre"},
            "Build triggers were given up",
            "{{ $labels.job }} gave up {{ $value | humanize }} build triggers in 15m after all retries.",
            "A given-up trigger is a push that will never be built unless someone re-runs it.",
            "gantry-webhook-failing"),
        AlertSpec(
            "GantryGateFailing",
            f'{pm.STAGE_OUTCOME}{{stage="{pm.GATE_STAGE}", status="failed", env=~"{envs}"}} == 1',
            policy.gate_failing_for, {"severity": "warning"},
            "The security gate blocks {{ $labels.service }} in {{ $labels.env }}",
            "The last '{{ $labels.stage }}' stage of {{ $labels.service }} for {{ $labels.env }} failed: "
            "no new image of it can be deployed there.",
            "A blocked gate on a deploying environment means the next fix cannot ship; in a sale "
            "the owners must know before they need that fix (and a gate failing everywhere at "
            "once is a broken scanner, not vulnerable code).",
            "gantry-gate-failing"),
        AlertSpec(
            "GantryImageReplicationFailing",
            f'{pm.STAGE_OUTCOME}{{stage="{pm.REPLICATE_STAGE}", status="failed"}} == 1',
            policy.replication_failing_for, {"severity": "warning"},
            "{{ $labels.service }}'s image did not reach Tokyo",
            "The last '{{ $labels.stage }}' stage of {{ $labels.service }} ({{ $labels.env }}) could "
            "not find the pushed digest in the Tokyo registry.",
            "Tokyo is the disaster-recovery region: a failover there would run an old image, or "
            "none, so the DR plan is broken until replication works again.",
            "gantry-image-replication"),
        AlertSpec(
            "GantryWatchBlockingFindings",
            f"sum by (env, service) ({pm.WATCH_BLOCKING}) > 0",
            "0s", {"severity": "warning"},
            "{{ $labels.service }} runs {{ $value }} blocking finding(s) in {{ $labels.env }}",
            "gantry watch re-scanned the digest {{ $labels.service }} runs in {{ $labels.env }} with today's "
            "advisories: {{ $value }} open finding(s) the environment's gate policy blocks (see the GitHub "
            "issues it opened and .gantry/ledger/{{ $labels.env }}.json).",
            "The gate passed this image when it was built; an advisory published since makes the running "
            "digest one the gate would refuse today. Rebuild with the fixed package and deploy.",
            "gantry-watch-blocking"),
        AlertSpec(
            "GantryWatchCannotEvaluate",
            f"max by (env) ({pm.WATCH_EVALUATED}) == 0",
            "0s", {"severity": "warning", "team": "sre"},
            "gantry watch could not evaluate what {{ $labels.env }} runs",
            "The last gantry watch run for {{ $labels.env }} could not scan every running digest (no SBOM, "
            "scan failed, vulnerability DB too old, or a notification failed).",
            "A digest that cannot be re-scanned is one nobody would hear about when an advisory hits it: "
            "the watch is blind there until it is fixed.",
            "gantry-watch-cannot-evaluate"),
    ]


def gantry_groups(policy: MonitoringPolicy, deploy_envs: tuple[str, ...]) -> list[dict[str, Any]]:
    """gantry's rule group (see :func:`gantry_alerts`)."""
    return [{"name": "gantry.alerts", "rules": [a.rule(policy) for a in gantry_alerts(policy, deploy_envs)]}]


def deploy_environments(catalog: Catalog) -> tuple[str, ...]:
    """Environments that run production traffic (every platform but the Jenkins dev one)."""
    return tuple(sorted(n for n, e in catalog.environments.items() if e.platform != "jenkins"))
