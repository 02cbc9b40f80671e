"""``gantry image verify-replication``: is the exact digest in every destination region yet?

ECR replicates asynchronously. Each poll asks ``DescribeImageReplicationStatus`` (when the
endpoint implements it: a FAILED status fails at once) and ``HEAD``s the manifest by digest on
each destination registry, which is the proof. The digest's OCI referrers in the source (its
signed evidence, :mod:`.referrers`) must be in each destination too: a region counts once the
image *and* every referrer are there. Polls back off up to ``max_interval``; past ``timeout`` the
check fails naming the regions still missing the digest or a referrer.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, CheckFailed, GantryError, TimeoutExceeded
from pipeline_lib.core.reference import check_digest
from pipeline_lib.core.retry import poll
from .registry import RegistryClient


@dataclass
class Destination:
    region: str
    registry: RegistryClient


@dataclass
class ReplicationReport:
    digest: str
    present: dict[str, float] = field(default_factory=dict)  # region -> seconds until seen
    polls: int = 0
    status_api: bool = False
    referrers: int = 0          # referrers of the digest in the source, each found in every region


def _status(ecr: Any, repository: str, digest: str, registry_id: str | None) -> dict[str, tuple[str, str]] | None:
    """region -> (status, failure) from DescribeImageReplicationStatus, None when unavailable."""
    import botocore.exceptions
    kwargs: dict[str, Any] = {"repositoryName": repository, "imageId": {"imageDigest": digest}}
    if registry_id:
        kwargs["registryId"] = registry_id
    try:
        resp = ecr.describe_image_replication_status(**kwargs)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, AttributeError):
        return None
    return {s["region"]: (s.get("status", ""), s.get("failureCode", "")) for s in resp.get("replicationStatuses", [])}


def verify_replication(repository: str, digest: str, destinations: list[Destination], *,
                       source: RegistryClient | None = None, ecr: Any = None, registry_id: str | None = None,
                       timeout: float = 600.0, interval: float = 1.0, max_interval: float = 15.0,
                       out: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                       referrers: bool = True) -> ReplicationReport:
    """Poll until ``repository@digest`` is in every destination; GantryError (exit 1) on timeout."""
    out = out or sys.stdout
    check_digest(digest, "verify-replication: --digest")
    if not destinations:
        raise GantryError("verify-replication", "no destination regions (catalog replica_regions is empty)")
    if source is not None and source.head_manifest(repository, digest) is None:
        raise GantryError("verify-replication", f"{digest} is not in the source registry "
                                                f"{source.host}/{repository}; push it first")
    report = ReplicationReport(digest)
    want: set[str] = set()
    if source is not None and referrers:
        from .referrers import list_referrers
        want = {r.digest for r in list_referrers(source, repository, digest)}
        report.referrers = len(want)
    lacking: dict[str, set[str]] = {}
    start = clock()
    status_api = ecr is not None
    pending = {d.region: d for d in destinations}

    def replicated() -> bool:
        nonlocal status_api
        report.polls += 1
        statuses = _status(ecr, repository, digest, registry_id) if status_api else None
        if status_api and statuses is None:
            status_api = False
            print("verify-replication: DescribeImageReplicationStatus not available; checking the "
                  "destination registries only", file=out, flush=True)
        elif statuses is not None:
            report.status_api = True
            for region, (status, failure) in statuses.items():
                if region in pending and status == "FAILED":
                    raise GantryError("verify-replication", f"replication of {repository}@{digest[:19]} to "
                                      f"{region} FAILED: {failure or 'no failure code'}",
                                      exit_code=EXIT_CHECK_FAILED)
        for region, dest in list(pending.items()):
            try:
                found = dest.registry.head_manifest(repository, digest) is not None
            except GantryError as exc:
                found = False
                print(f"verify-replication: {region}: {exc.what}", file=out, flush=True)
            if found and want:
                from .referrers import list_referrers
                lacking[region] = want - {r.digest for r in list_referrers(dest.registry, repository, digest)}
                if lacking[region]:
                    found = False
                    print(f"verify-replication: {region}: {len(lacking[region])} of {len(want)} referrers "
                          f"(signed evidence) of {digest[:19]} not there yet", file=out, flush=True)
            if found:
                report.present[region] = round(clock() - start, 2)
                print(f"verify-replication: {region}: {repository}@{digest[:19]} present "
                      f"after {report.present[region]:.1f}s", file=out, flush=True)
                del pending[region]
        return not pending

    def waiting(seconds: float) -> None:
        print(f"verify-replication: waiting for {', '.join(pending)} ({clock() - start:.0f}s of {timeout:.0f}s; "
              f"next check in {seconds:.1f}s)", file=out, flush=True)

    try:
        poll(replicated, timeout=timeout, what="verify-replication", first=interval, interval=max_interval,
             on_wait=waiting)
    except TimeoutExceeded:
        missing = ", ".join(f"{r} ({d.registry.host}" + (f": {len(lacking[r])} of {len(want)} referrers missing, "
                                                         f"{', '.join(sorted(x[:19] for x in lacking[r]))}"
                                                         if lacking.get(r) else "") + ")"
                            for r, d in pending.items())
        raise CheckFailed("verify-replication", f"timed out after {timeout:.0f}s: {repository}@{digest} "
                                                f"missing in {missing}") from None
    return report
