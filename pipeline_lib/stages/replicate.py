"""The replication check of the ``Push`` stage: wait until the pushed digest is in every replica
region (ECR Seoul → Tokyo) before anything deploys it.

Jenkinsfile: ``gantry image verify-replication --service "$SERVICE" --env "$TARGET_ENV" --digest
"$IMAGE_DIGEST"``. A timeout or a FAILED replication status is exit 1 (the check said no).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from pipeline_lib.image.registry import registry_for
from pipeline_lib.image.replication import Destination, verify_replication

from . import PASSED, StageResult


@dataclass
class ReplicateOptions:
    """``source_host``: the primary registry; ``replicas``: region → registry host to check;
    ``ecr``: a boto3 ECR client for DescribeImageReplicationStatus (None: registries only)."""

    repository: str
    digest: str
    source_host: str
    replicas: dict[str, str]
    ecr: Any = field(default=None, repr=False)
    registry_id: str | None = None
    timeout: float = 600.0
    interval: float = 1.0
    out: TextIO | None = field(default=None, repr=False)


def run(opts: ReplicateOptions) -> StageResult:
    """Poll until present everywhere; raises GantryError (exit 1) on timeout or FAILED."""
    dests = [Destination(region, registry_for(host)) for region, host in opts.replicas.items()]
    report = verify_replication(opts.repository, opts.digest, dests, source=registry_for(opts.source_host),
                                ecr=opts.ecr, registry_id=opts.registry_id, timeout=opts.timeout,
                                interval=opts.interval, out=opts.out or sys.stdout)
    where = ", ".join(f"{r} ({s:.1f}s)" for r, s in report.present.items())
    refs = f" with its {report.referrers} referrer(s)" if report.referrers else ""
    return StageResult("replicate", PASSED, f"{opts.repository}@{opts.digest[:19]}{refs} in {where}",
                       data={"present": report.present, "digest": opts.digest, "referrers": report.referrers})
