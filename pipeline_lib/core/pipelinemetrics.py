"""The names of the metrics gantry's stages push to a Prometheus Pushgateway.

One definition shared by the pusher (``pipeline_lib.metrics.pushgateway``) and the alerting
rules and dashboards that read them (``gitops.monitoring``).

Pushed under job :data:`PUSH_JOB` with the grouping key ``service``, ``stage``, ``env``
(https://github.com/prometheus/pushgateway#url). Per group:

- :data:`STAGE_OUTCOME` ``{status}`` — 1 for the status of the stage's last run
  (``passed``, ``failed``, ``skipped``), 0 for the others (the kube-state-metrics enum style,
  so ``== 1`` selects the current status and a graph shows flips);
- :data:`STAGE_DURATION` — seconds the last run took;
- :data:`STAGE_LAST_RUN` — Unix time of the last run's end;
- :data:`STAGE_LAST_FAILURE` — Unix time of the last failed run (kept across passing runs:
  pushes use POST, which replaces only the metric names pushed). The Pushgateway documentation
  recommends timestamps over counters for batch jobs, which cannot keep a counter themselves.
"""

from __future__ import annotations

PUSH_JOB = "gantry"
GROUPING_LABELS = ("service", "stage", "env")
STATUSES = ("passed", "failed", "skipped")

STAGE_OUTCOME = "gantry_stage_outcome"
STAGE_DURATION = "gantry_stage_duration_seconds"
STAGE_LAST_RUN = "gantry_stage_last_run_timestamp_seconds"
STAGE_LAST_FAILURE = "gantry_stage_last_failure_timestamp_seconds"

# Stage names the alerting rules single out (the names run_stage is given).
GATE_STAGE = "gate"
REPLICATE_STAGE = "replicate"

# ``gantry watch`` (pipeline_lib.metrics.watch): pushed under job WATCH_JOB, grouping key ``env``
# (PUT: one push replaces the environment's whole group, so a service or severity with nothing
# open reads 0, not its last non-zero value). Labels ``service`` and ``severity`` on the first three.
WATCH_JOB = "gantry-watch"
WATCH_OPEN = "gantry_watch_findings_open"                      # open findings on the running digest
WATCH_NEW = "gantry_watch_findings_new"                        # of those, new or reopened in the last run
WATCH_OLDEST = "gantry_watch_oldest_open_finding_age_seconds"  # now - first_seen of the oldest open one
WATCH_BLOCKING = "gantry_watch_blocking_findings_open"         # open findings the env's gate policy blocks
WATCH_LAST_RUN = "gantry_watch_last_run_timestamp_seconds"     # Unix time the last watch run ended
WATCH_EVALUATED = "gantry_watch_last_run_evaluated"            # 1: every digest evaluated; 0: exit 2
