"""The Alertmanager configuration: alerts to Slack, routed by severity and owning team.

Format: https://prometheus.io/docs/alerting/latest/configuration/ (Alertmanager >= 0.22 for
``slack_api_url_file``). The Slack incoming-webhook URL is never in git: Alertmanager reads it
from :data:`SLACK_URL_FILE`, the key ``url`` of the Secret :data:`SLACK_SECRET` that
kube-prometheus-stack mounts under ``/etc/alertmanager/secrets/<name>/`` when the values list it
in ``alertmanager.alertmanagerSpec.secrets``.

Routes: ``severity="critical"`` pages the on-call channel (and continues to the team's);
each team in the catalog's ``owners`` gets its own channel; everything else goes to the shop's
alert channel. A critical alert of a service inhibits its warnings (one page, not three
messages).
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline_lib.core.catalog import Catalog

SLACK_SECRET = "alertmanager-slack"
SLACK_URL_FILE = f"/etc/alertmanager/secrets/{SLACK_SECRET}/url"
ONCALL_CHANNEL = "#shop-oncall"
ALERTS_CHANNEL = "#shop-alerts"

_TITLE = '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}'
_TEXT = """{{ range .Alerts }}*{{ .Annotations.summary }}*
{{ .Annotations.description }}
_Why it matters:_ {{ .Annotations.why }}
<{{ .Annotations.runbook_url }}|Runbook> · severity `{{ .Labels.severity }}`
{{ range .Labels.SortedPairs }}`{{ .Name }}={{ .Value }}` {{ end }}
{{ end }}"""


def _slack(name: str, channel: str) -> dict[str, Any]:
    return {"name": name, "slack_configs": [{
        "channel": channel, "send_resolved": True, "title": _TITLE, "text": _TEXT,
        "fallback": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
    }]}


def _team_channel(team: str) -> str:
    return f"#{team}-alerts"


def alertmanager_config(catalog: Catalog, *, slack_api_url_file: str = SLACK_URL_FILE,
                        group_wait: str = "30s", group_interval: str = "5m",
                        repeat_interval: str = "4h") -> dict[str, Any]:
    """The Alertmanager configuration as a mapping (for Helm values ``alertmanager.config``).

    ``slack_api_url_file`` is the path of the file holding the Slack webhook URL inside the
    Alertmanager container; the timings are Alertmanager's route ``group_*``/``repeat_interval``
    (tests shorten them).
    """
    teams = sorted({o for s in catalog.services for o in s.owners})
    routes: list[dict[str, Any]] = [
        {"receiver": "slack-oncall", "matchers": ['severity="critical"'], "continue": True},
    ]
    routes += [{"receiver": f"slack-{team}", "matchers": [f'team="{team}"']} for team in teams]
    receivers = [_slack("slack-alerts", ALERTS_CHANNEL), _slack("slack-oncall", ONCALL_CHANNEL)]
    receivers += [_slack(f"slack-{team}", _team_channel(team)) for team in teams]
    return {
        "global": {"resolve_timeout": "5m", "slack_api_url_file": slack_api_url_file},
        "route": {"receiver": "slack-alerts", "group_by": ["alertname", "namespace", "service", "env"],
                  "group_wait": group_wait, "group_interval": group_interval,
                  "repeat_interval": repeat_interval, "routes": routes},
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["namespace", "service", "env"]}],
        "receivers": receivers,
    }


def render_alertmanager_config(config: dict[str, Any]) -> str:
    """``config`` as the YAML file ``alertmanager --config.file`` and ``amtool`` read."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)


def alertmanager_values(catalog: Catalog, **config_options: str) -> dict[str, Any]:
    """The kube-prometheus-stack Helm values under ``alertmanager:``: the configuration and the
    Secret :data:`SLACK_SECRET` mounted at ``/etc/alertmanager/secrets/<name>/`` (key ``url``),
    where :data:`SLACK_URL_FILE` reads it. ``config_options`` go to :func:`alertmanager_config`."""
    return {"config": alertmanager_config(catalog, **config_options),
            "alertmanagerSpec": {"secrets": [SLACK_SECRET]}}
