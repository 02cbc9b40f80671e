"""The ``Event deploy`` stage: roll the event stack's ECS service to the digest the GitOps repo pins.

Jenkinsfile (``TARGET_ENV=event`` only): ``gantry event deploy --service "$SERVICE" --env
"$TARGET_ENV" --timeout 15m``. Argo CD deploys the Kubernetes environments from the GitOps repo by
itself; an ``ecs-fargate`` environment has no Argo CD, so this stage reads the pin
(:func:`gitops.pins.read_pins`) and calls :func:`pipeline_lib.event.deploy.deploy`. For any other
platform the stage is skipped, saying who deploys.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from gitops.pins import image_digests, read_pins
from pipeline_lib.attest.enforce import check_before_write
from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError

from ..event.deploy import DeployResult, deploy
from . import PASSED, SKIPPED, StageResult


@dataclass(frozen=True)
class DeployOptions:
    """``ecs``: a function returning an ECS client for a region (boto3 ``session.client``);
    ``cluster`` None: the environment's name (infra/envs/event names its cluster so)."""

    catalog: Catalog
    service: str
    environment: str
    ecs: Callable[[str], Any]
    repo_url: str | None = None
    cluster: str | None = None
    container: str | None = None
    region: str | None = None
    dry_run: bool = False
    wait: bool = True
    timeout: float = 900.0
    interval: float = 10.0
    out: TextIO | None = None


def run(opts: DeployOptions) -> StageResult:
    """Deploy; ``value`` is the :class:`~pipeline_lib.event.deploy.DeployResult` (None when skipped)."""
    env = opts.catalog.environments.get(opts.environment)
    if env is None:
        raise GantryError("event deploy: --env", f"no environment {opts.environment!r} in the catalog")
    if env.platform != "ecs-fargate":
        return StageResult("deploy", SKIPPED, f"Argo CD deploys {opts.environment} ({env.platform}) from the "
                                              "GitOps repo")
    se = opts.catalog.service(opts.service).environment(opts.environment)
    pins = read_pins(opts.repo_url or opts.catalog.gitops_repo, opts.catalog, opts.environment)
    digest = image_digests({opts.service: pins[opts.service]}, opts.environment)[opts.service]
    repository = pins[opts.service].name or f"{opts.catalog.registry_host}/{se.ecr_repository}"
    # before the ECS service changes: the pinned digest's evidence, for this environment
    evidence = check_before_write(opts.catalog, opts.environment, repository, digest, what="event deploy")
    for line in evidence.warnings:
        print(f"gantry: warning: {line}", file=sys.stderr)
    result: DeployResult = deploy(
        opts.ecs(opts.region or env.aws_region), service=opts.service, repository=repository, digest=digest,
        cluster=opts.cluster or opts.environment,
        container=opts.container, dry_run=opts.dry_run, wait=opts.wait, timeout=opts.timeout,
        interval=opts.interval, out=opts.out)
    revision = result.task_definition.rsplit("/", 1)[-1]
    detail = {"unchanged": f"already at {repository}@{digest[:19]}, nothing to do",
              "dry-run": f"would register a new revision of "
                         f"{result.previous_task_definition.rsplit('/', 1)[-1]} with {result.image} "
                         "and update the service",
              "updated": f"updated to {revision} ({result.image}); not waiting",
              "completed": f"rolled out {revision} ({result.image})"}[result.status]
    return StageResult("deploy", PASSED, detail, data=result.as_dict(), value=result)
