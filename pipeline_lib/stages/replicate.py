"""The replication check of the ``Push`` stage: wait until the pushed digest is in every replica
region (ECR Seoul → Tokyo) before anything deploys it.

Jenkinsfile: ``gantry image verify-replication --service "$SERVICE" --env "$TARGET_ENV" --digest
"$IMAGE_DIGEST"``. A timeout or a FAILED replication status is exit 1 (the check said no).

While the environment is failed over (``dr_repo``: the GitOps repository whose DR state,
:mod:`gitops.drstate`, names the active registry) images are pushed to the active replica, so the
check runs in reverse: from the active region to every other one, the primary included.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from gitops.drstate import fetch_state
from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.registry import registry_for
from pipeline_lib.image.replication import Destination, verify_replication

from . import PASSED, StageResult


@dataclass(frozen=True)
class ReplicateOptions:
    """``source_host``: the primary registry (in region ``source_region``); ``replicas``: region →
    registry host to check; ``ecr``: a boto3 ECR client for DescribeImageReplicationStatus, or
    ``ecr_for``: a function giving one for the source region (neither: registries only).

    ``dr_repo`` (None: not read): the GitOps repository (branch ``gitops_branch``) whose DR state
    for ``environment`` names the active region; while failed over, that region is the source
    and ``source_region`` one of the regions checked."""

    repository: str
    digest: str
    source_host: str
    replicas: dict[str, str]
    ecr: Any = field(default=None, repr=False)
    registry_id: str | None = None
    timeout: float = 600.0
    interval: float = 1.0
    out: TextIO | None = field(default=None, repr=False)
    source_region: str = ""
    dr_repo: str | None = None
    environment: str = ""
    gitops_branch: str = "main"
    ecr_for: Callable[[str], Any] | None = field(default=None, repr=False)


def direction(opts: ReplicateOptions) -> tuple[str, str, dict[str, str]]:
    """``(source region, source host, {region: host} to check)``, after the DR state."""
    source, host, replicas = opts.source_region, opts.source_host, dict(opts.replicas)
    if not opts.dr_repo:
        return source, host, replicas
    if not opts.environment or not opts.source_region:
        raise GantryError("verify-replication", "reading the DR state needs the environment and the primary region")
    state = fetch_state(opts.dr_repo, opts.environment, opts.gitops_branch)
    if state is None or not state.failed_over or state.active_region == source:
        return source, host, replicas
    if state.active_region not in replicas:
        raise GantryError("verify-replication", f"{opts.environment} is failed over to {state.active_region}, "
                                                f"which is not a replica region ({', '.join(replicas) or 'none'})")
    active_host = replicas.pop(state.active_region)
    replicas = {source: host, **replicas}
    print(f"verify-replication: {opts.environment} is failed over to {state.active_region}: checking "
          f"{state.active_region} -> {', '.join(replicas)}", file=opts.out or sys.stdout, flush=True)
    return state.active_region, active_host, replicas


def run(opts: ReplicateOptions) -> StageResult:
    """Poll until present everywhere; raises GantryError (exit 1) on timeout or FAILED."""
    source, host, replicas = direction(opts)
    ecr = opts.ecr if opts.ecr is not None or opts.ecr_for is None else opts.ecr_for(source)
    dests = [Destination(region, registry_for(h)) for region, h in replicas.items()]
    report = verify_replication(opts.repository, opts.digest, dests, source=registry_for(host),
                                ecr=ecr, registry_id=opts.registry_id, timeout=opts.timeout,
                                interval=opts.interval, out=opts.out or sys.stdout)
    where = ", ".join(f"{r} ({s:.1f}s)" for r, s in report.present.items())
    refs = f" with its {report.referrers} referrer(s)" if report.referrers else ""
    return StageResult("replicate", PASSED, f"{opts.repository}@{opts.digest[:19]}{refs} in {where}",
                       data={"present": report.present, "digest": opts.digest, "referrers": report.referrers,
                             "source_region": source, "source": host})
