"""Push a stage's outcome and duration to a Prometheus Pushgateway.

Each ``gantry`` stage is a short-lived batch job, the case the Pushgateway exists for
(https://prometheus.io/docs/practices/pushing/). A push goes to job
:data:`~pipeline_lib.core.pipelinemetrics.PUSH_JOB` with the grouping key ``service``,
``stage``, ``env`` and uses POST (``pushadd_to_gateway``): it replaces only the metric names it
carries, so the last-failure timestamp survives the passing runs that follow it. Metric names
and meaning: :mod:`pipeline_lib.core.pipelinemetrics`.

Configuration comes in :class:`~pipeline_lib.core.settings.Settings` (read by the CLI or the
demo): ``PUSHGATEWAY_URL`` (unset: nothing is pushed), optional ``PUSHGATEWAY_USERNAME``/
``PUSHGATEWAY_PASSWORD`` (basic auth); the service and environment labels from ``SERVICE`` and
``TARGET_ENV`` (the Jenkinsfile's variables).
"""

from __future__ import annotations

import time
import urllib.error
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pipeline_lib.core import pipelinemetrics as pm
from pipeline_lib.core.errors import GantryError

if TYPE_CHECKING:
    from pipeline_lib.core.settingsmodel import Settings
    from prometheus_client import CollectorRegistry

# prometheus_client (and the urllib3 it pulls in) is imported only when a push happens: every
# stage imports this module, and most runs have no PUSHGATEWAY_URL.

URL_ENV = "PUSHGATEWAY_URL"
PUSH_TIMEOUT = 5.0  # seconds; a slow Pushgateway must not hold up the pipeline


@dataclass(frozen=True)
class StageReport:
    """One stage run: labels of its group, its status (passed/failed/skipped), seconds taken."""

    service: str
    stage: str
    env: str
    status: str
    duration: float
    finished_at: float  # Unix time

    def grouping_key(self) -> dict[str, str]:
        return {"service": self.service, "stage": self.stage, "env": self.env}


def registry_for(report: StageReport) -> CollectorRegistry:
    """The metrics of one push (see :mod:`pipeline_lib.core.pipelinemetrics`)."""
    from prometheus_client import CollectorRegistry, Gauge
    if report.status not in pm.STATUSES:
        raise GantryError("pushgateway", f"unknown stage status {report.status!r} (one of {', '.join(pm.STATUSES)})")
    registry = CollectorRegistry()
    outcome = Gauge(pm.STAGE_OUTCOME, "1 for the status of the stage's last run, 0 for the others",
                    ["status"], registry=registry)
    for status in pm.STATUSES:
        outcome.labels(status).set(1 if status == report.status else 0)
    Gauge(pm.STAGE_DURATION, "Seconds the stage's last run took", registry=registry).set(report.duration)
    Gauge(pm.STAGE_LAST_RUN, "Unix time the stage's last run ended", registry=registry).set(report.finished_at)
    if report.status == "failed":
        Gauge(pm.STAGE_LAST_FAILURE, "Unix time the stage last failed", registry=registry).set(report.finished_at)
    return registry


def push(url: str, report: StageReport, timeout: float = PUSH_TIMEOUT,
         username: str | None = None, password: str | None = None) -> None:
    """POST ``report`` to the Pushgateway at ``url``; :class:`GantryError` when it fails."""
    from prometheus_client.exposition import basic_auth_handler, default_handler, pushadd_to_gateway
    handler = partial(basic_auth_handler, username=username, password=password) if username else default_handler
    try:
        pushadd_to_gateway(url, job=pm.PUSH_JOB, registry=registry_for(report),
                           grouping_key=report.grouping_key(), timeout=timeout, handler=handler)
    except urllib.error.HTTPError as exc:
        raise GantryError(f"pushgateway {url}", f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GantryError(f"pushgateway {url}", f"push failed: {reason}") from None


def push_stage_run(stage: str, status: str, duration: float, settings: Settings | None) -> bool:
    """Push one stage run when ``settings.pushgateway_url`` (``PUSHGATEWAY_URL``) is set; False
    when it is not (or ``settings`` is None). Labels: ``settings.service``/``target_env``.

    Raises :class:`GantryError` when the push fails (callers treat that as a warning).
    """
    if settings is None or not settings.pushgateway_url:
        return False
    report = StageReport(service=settings.service or "unknown", stage=stage,
                         env=settings.target_env or "unknown", status=status, duration=duration,
                         finished_at=time.time())
    push(settings.pushgateway_url, report, username=settings.pushgateway_username,
         password=settings.pushgateway_password)
    return True
