"""Monitoring in the GitOps layout and in ``gantry gitops check``.

- :func:`layout_files`: every environment's ``monitoring/<env>/`` (PrometheusRules, dashboards,
  promtool tests, runbook) joins the layout ``gantry gitops init`` writes (registered in
  :data:`gitops.layout.GENERATORS`);
- the ``monitoring`` check runs :func:`gitops.monitoring.check.check_monitoring` (promtool check
  and test rules, dashboard PromQL, amtool check-config) on the checkout (registered in
  :data:`gitops.validate.CHECK_MODULES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from ..layout import LayoutContext, LayoutFile
from ..validate import CheckContext, Problem, register_check
from .check import check_monitoring
from .resources import monitoring_resources


def layout_files(ctx: LayoutContext) -> Iterable[LayoutFile]:
    for environment in ctx.environments:
        for path, text in monitoring_resources(ctx.catalog, environment).items():
            yield LayoutFile(path, text)


@register_check("monitoring")
def check(ctx: CheckContext) -> Iterable[Problem]:
    """One problem per file promtool or amtool refused (repeated lines of one tool run folded)."""
    for line in check_monitoring(ctx.repo):
        where, sep, what = line.partition(": ")
        if not sep:
            where, what = "monitoring", line
        parts = list(dict.fromkeys(p.strip() for p in what.split(";") if p.strip()))
        kind = "AlertmanagerConfig" if "amtool" in what else "PrometheusRule"
        yield Problem(where, kind, PurePosixPath(where).stem, "promtool" if kind == "PrometheusRule" else "amtool",
                      "; ".join(parts), check="monitoring")
