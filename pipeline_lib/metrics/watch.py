"""Push ``gantry watch``'s findings metrics to the Pushgateway (names: :mod:`pipeline_lib.core.pipelinemetrics`).

Per environment, service and severity: open findings, new ones, the oldest open one's age
(seconds since its ``first_seen`` in the ledger), open blocking ones; per environment: when the
run ended and whether every digest could be evaluated. One ``push_to_gateway`` (PUT) per
environment under job :data:`~pipeline_lib.core.pipelinemetrics.WATCH_JOB`, grouping key
``env`` (https://github.com/prometheus/pushgateway#put-method): the group is replaced whole.
"""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from pipeline_lib.core import pipelinemetrics as pm
from pipeline_lib.core.errors import GantryError

from .pushgateway import PUSH_TIMEOUT

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


@dataclass
class ServiceFigures:
    """One service's figures, per severity: open, new, blocking counts and the oldest age (s)."""

    open: dict[str, int] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)
    blocking: dict[str, int] = field(default_factory=dict)
    oldest: dict[str, float] = field(default_factory=dict)


@dataclass
class WatchFigures:
    environment: str
    services: dict[str, ServiceFigures]
    finished_at: float
    evaluated: bool


def registry_for(figures: WatchFigures) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry, Gauge
    reg = CollectorRegistry()
    labels = ["service", "severity"]
    g_open = Gauge(pm.WATCH_OPEN, "Open vulnerability findings on the running digest", labels, registry=reg)
    g_new = Gauge(pm.WATCH_NEW, "Findings new or reopened in the last watch run", labels, registry=reg)
    g_block = Gauge(pm.WATCH_BLOCKING, "Open findings the environment's gate policy blocks", labels, registry=reg)
    g_old = Gauge(pm.WATCH_OLDEST, "Seconds since the oldest open finding was first seen", labels, registry=reg)
    for service, f in sorted(figures.services.items()):
        for sev in SEVERITIES:
            g_open.labels(service, sev).set(f.open.get(sev, 0))
            g_new.labels(service, sev).set(f.new.get(sev, 0))
            g_block.labels(service, sev).set(f.blocking.get(sev, 0))
            g_old.labels(service, sev).set(f.oldest.get(sev, 0.0))
    Gauge(pm.WATCH_LAST_RUN, "Unix time the last watch run ended", registry=reg).set(figures.finished_at)
    Gauge(pm.WATCH_EVALUATED, "1 when the last watch run evaluated every running digest", registry=reg).set(
        1 if figures.evaluated else 0)
    return reg


def push(url: str, figures: WatchFigures, *, username: str | None = None, password: str | None = None,
         timeout: float = PUSH_TIMEOUT) -> None:
    """PUT the environment's group; :class:`GantryError` when the push fails."""
    from prometheus_client.exposition import basic_auth_handler, default_handler, push_to_gateway
    handler = partial(basic_auth_handler, username=username, password=password) if username else default_handler
    try:
        push_to_gateway(url, job=pm.WATCH_JOB, registry=registry_for(figures),
                        grouping_key={"env": figures.environment}, timeout=timeout, handler=handler)
    except urllib.error.HTTPError as exc:
        raise GantryError(f"pushgateway {url}", f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GantryError(f"pushgateway {url}", f"push failed: {getattr(exc, 'reason', exc)}") from None
