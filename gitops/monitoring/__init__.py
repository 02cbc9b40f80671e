"""Monitoring as code: Prometheus rules, promtool unit tests, Grafana dashboards and the
Alertmanager configuration, generated from the catalog and checked by promtool and amtool.

The entry points the GitOps layout and ``gantry gitops check`` call:

- :func:`monitoring_resources` ``(catalog, environment) -> {relative path: text}``;
- :func:`alertmanager_values` ``(catalog) -> mapping`` — kube-prometheus-stack values under
  ``alertmanager:`` (the config of :func:`alertmanager_config` plus the mounted Slack Secret);
- :func:`check_monitoring` ``(repo_dir) -> [problem line]``.
"""

from __future__ import annotations

from .alertmanager import (SLACK_SECRET, SLACK_URL_FILE, alertmanager_config, alertmanager_values,
                           render_alertmanager_config)
from .check import check_monitoring
from .policy import DEFAULT_POLICY, MonitoringPolicy
from .resources import MONITORING_DIR, MONITORING_NAMESPACE, monitoring_resources

__all__ = ["DEFAULT_POLICY", "MONITORING_DIR", "MONITORING_NAMESPACE", "MonitoringPolicy", "SLACK_SECRET",
           "SLACK_URL_FILE", "alertmanager_config", "alertmanager_values", "check_monitoring", "monitoring_resources",
           "render_alertmanager_config"]
