"""The ``GitOps bump`` stage: pin the pushed digest for one service in one environment.

Jenkinsfile: ``gantry gitops bump --env "$TARGET_ENV" --service "$SERVICE" --digest
"$IMAGE_DIGEST" --tag "$TAG"``. The environment's ``deploy`` setting in the catalog decides
between a direct commit and a pull request (``mode``); both are :func:`gitops.promote.deliver`.
Before anything is written, the digest's signed evidence is verified for the environment
(:func:`pipeline_lib.attest.enforce.check_before_write`, the catalog's ``signing:`` policy):
required evidence that does not verify is exit 1 and no commit.

A bump committed directly to the catalog's promotion source (``promotion.source``, dev) records
its freight (:mod:`gitops.freight`: the digest, in the pin commit itself); ``data["freight"]``
is its ID, what ``gantry gitops promote --freight`` takes.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from gitops.bump import BumpResult, default_image
from gitops.hostlock import Writers
from gitops.promote import deliver
from gitops.writeback import Stamp
from pipeline_lib.attest.enforce import EvidenceDecision, check_before_write
from pipeline_lib.core.catalog import Catalog

from . import PASSED, StageResult


@dataclass(frozen=True)
class BumpOptions:
    """``repo_url``: the GitOps repository (None: the catalog's); ``mode``: commit | pr
    (None: the environment's deploy setting); ``image``: None → the catalog's ECR repository."""

    catalog: Catalog
    service: str
    environment: str
    digest: str
    tag: str | None = None
    repo_url: str | None = None
    image: str | None = None
    build_url: str | None = None
    mode: str | None = None
    github_api: str = "https://api.github.com"
    github_repo: str | None = None
    workdir: Path | None = None
    writers: Writers | None = None        # host-wide writer lock and batching (None: both on)
    github_token: str | None = None       # mode pr: opens the pull request
    stamp: Stamp | None = None            # by, reason, break-glass, freeze windows (gitops.writeback.Stamp)


def pulled_from(catalog: Catalog, repo_url: str | None, environment: str, image: str) -> str:
    """The image the cluster will pull: ``image``, or its copy in the active registry while the
    environment is failed over (the GitOps repo's DR state; the bump pins that one too). Read only
    when evidence is checked."""
    policy = catalog.signing_for(environment)
    if policy.evidence == "off" or (policy.evidence == "warn" and not policy.trusted_keys):
        return image
    from gitops.drstate import fetch_state
    state = fetch_state(repo_url or catalog.gitops_repo, environment, catalog.gitops_branch)
    return state.follow(image) if state else image


def evidence_is_local(catalog: Catalog, environment: str) -> bool:
    """The evidence check of ``environment`` reads nothing but the catalog (``signing: off``, or
    ``warn`` without trusted keys: a warning, no registry, no DR state), so any gantry process on
    this host can run it for another (a GitOps batch's leader, :func:`plan`)."""
    policy = catalog.signing_for(environment)
    return policy.evidence == "off" or (policy.evidence == "warn" and not policy.trusted_keys)


@dataclass(frozen=True)
class Plan:
    """What :func:`run` delivers: ``image`` (host/repository) pinned, delivery ``mode`` (commit |
    pr), the ``evidence`` decision (its warnings are printed before the delivery) and ``freight``:
    the pin commit records the bump's freight (the environment is the catalog's promotion source)."""

    image: str
    mode: str
    evidence: EvidenceDecision
    freight: bool = False


def plan(opts: BumpOptions) -> Plan:
    """The checks before anything is written: service and environment known, the evidence
    (:func:`pipeline_lib.attest.enforce.check_before_write`; CheckFailed exit 1 when required
    evidence does not verify)."""
    env = opts.catalog.service(opts.service).environment(opts.environment)
    image = opts.image or default_image(opts.catalog, opts.service, opts.environment)
    evidence = check_before_write(opts.catalog, opts.environment,
                                  pulled_from(opts.catalog, opts.repo_url, opts.environment, image),
                                  opts.digest, what="gitops bump")
    return Plan(image, opts.mode or env.deploy, evidence, opts.environment == opts.catalog.promotion.source)


def run(opts: BumpOptions) -> StageResult:
    """Deliver the pin; ``value`` is the :class:`gitops.bump.BumpResult`."""
    planned = plan(opts)
    image, evidence = planned.image, planned.evidence
    for line in evidence.warnings:
        print(f"gantry: warning: {line}", file=sys.stderr)
    result: BumpResult = deliver(opts.repo_url or opts.catalog.gitops_repo, catalog=opts.catalog,
                                 service=opts.service, environment=opts.environment, image=image,
                                 digest=opts.digest, tag=opts.tag, build_url=opts.build_url,
                                 mode=planned.mode, github_api=opts.github_api,
                                 github_repo=opts.github_repo, workdir=opts.workdir, writers=opts.writers,
                                 github_token=opts.github_token, stamp=opts.stamp,
                                 freight=planned.freight)
    if not result.changed:
        detail = f"{result.manifest}: already at {opts.digest[:19]}, no commit"
    else:
        detail = (f"{result.manifest}: {result.old_tag or 'none'} -> {result.new_tag or 'none'} "
                  f"({str(result.commit)[:12]})" + (f"; pull request {result.pull_request}" if result.pull_request else ""))
    if evidence.mode != "off":
        detail += f"; {evidence.summary}"
    freight = result.freight
    if freight:
        detail += f"; freight {freight}"
    return StageResult("bump", PASSED, detail, data={**asdict(result), "evidence": asdict(evidence),
                                                      "freight": freight}, value=result)
