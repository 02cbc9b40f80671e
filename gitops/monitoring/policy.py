"""What the alerting rules page on, and when: objectives, thresholds, ``for:`` durations.

One :class:`MonitoringPolicy` feeds the rule generator, the generated ``promtool`` unit tests
and the dashboards, so a threshold is written once. :data:`DEFAULT_POLICY` is the shop's
production policy; tests build a fast variant with :func:`dataclasses.replace` (short ``for:``)
to see alerts fire within seconds on a real Prometheus.

Durations are Prometheus duration strings (``30s``, ``15m``, ``1h``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Multiwindow, multi-burn-rate alerts: Google SRE workbook, "Alerting on SLOs", table 5-8
# (https://sre.google/workbook/alerting-on-slos/#6-multiwindow-multi-burn-rate-alerts).
# (burn rate, long window, short window, severity): 14.4x over 1h spends 2 % of a 30-day budget
# in one hour, 6x over 6h spends 5 % in six hours -> page; 3x over 1d and 1x over 3d -> ticket.
BURN_WINDOWS: tuple[tuple[float, str, str, str], ...] = (
    (14.4, "1h", "5m", "critical"),
    (6.0, "6h", "30m", "critical"),
    (3.0, "1d", "2h", "warning"),
    (1.0, "3d", "6h", "warning"),
)


@dataclass(frozen=True)
class MetricNames:
    """Metric names the rules and dashboards read; the services' HTTP metrics are the
    prometheus_client / OpenMetrics conventions (``code`` label, seconds histogram)."""

    requests: str = "http_requests_total"
    duration_bucket: str = "http_request_duration_seconds_bucket"
    hpa_current: str = "kube_horizontalpodautoscaler_status_current_replicas"
    hpa_max: str = "kube_horizontalpodautoscaler_spec_max_replicas"
    restarts: str = "kube_pod_container_status_restarts_total"
    webhook_pending: str = "gantry_webhook_pending_triggers"
    webhook_oldest_pending: str = "gantry_webhook_oldest_pending_seconds"
    webhook_queue: str = "gantry_webhook_queue_depth"
    webhook_triggers: str = "gantry_webhook_triggers_total"


@dataclass(frozen=True)
class MonitoringPolicy:
    """Thresholds and durations of every alert (see each field)."""

    availability_objective: float = 0.999   # 30-day SLO: 99.9 % of requests are not 5xx
    latency_p99_seconds: float = 0.5        # p99 of HTTP requests above this pages
    latency_for: str = "10m"
    burn_fast_for: str = "2m"               # the workbook's short windows already debounce
    burn_slow_for: str = "15m"
    hpa_max_for: str = "15m"                # pinned at max replicas this long pages
    restarts_window: str = "15m"
    restarts_threshold: int = 3             # restarts of one container within the window
    restarts_for: str = "5m"
    webhook_pending_for: str = "10m"        # triggers waiting for Jenkins this long warn
    webhook_oldest_pending_seconds: int = 900  # one trigger older than this pages
    webhook_stuck_for: str = "1m"
    gate_failing_for: str = "0s"
    replication_failing_for: str = "0s"
    runbook_base: str = ""                  # "" = the GitOps repo's monitoring/<env>/RUNBOOK.md
    dashboard_refresh: str = "30s"
    metrics: MetricNames = MetricNames()

    @property
    def error_budget(self) -> float:
        """The fraction of requests allowed to fail: 1 - objective."""
        return round(1.0 - self.availability_objective, 10)


DEFAULT_POLICY = MonitoringPolicy()
