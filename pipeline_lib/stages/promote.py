"""Promotion of a freight dev -> prod (``gantry gitops promote``): the conditions that need more
than ``gitops`` may import, and the run.

:data:`CHECKS` (in order, after ``gitops.promotion.not_revoked``): ``dev-soak`` (Argo CD,
:func:`gitops.promotion.dev_soak`), ``evidence`` (each digest's signed evidence verifies for the
*target* environment and its gate verdict passed under the target's policy:
:func:`pipeline_lib.attest.enforce.check_before_write`, or :func:`pipeline_lib.attest.verify.check_evidence`
on exported bundles), ``tokyo`` (every replica region holds the digest — manifest and blobs,
:func:`pipeline_lib.dr.presence.check_presence` — and its evidence verifies there). Every check
runs inside the promotion's write transaction (:func:`gitops.promotion.promote_freight`).
A target whose signing policy is ``off`` fails ``evidence``: a promotion never passes unverified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from gitops.argostatus import ArgoCD
from gitops.freight import Item, utc_now
from gitops.hostlock import Writers
from gitops.promotion import CheckOutcome, Guard, PromotionPlan, PromotionResult, dev_soak, promote_freight
from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import CheckFailed, GantryError

from . import PASSED, StageResult

#: ``(image, digest) -> [(source label, bundle bytes)]``: exported bundles instead of the registry
Bundles = Callable[[str, str], list[tuple[str, bytes]]]


def _repository(image: str) -> tuple[str, str]:
    host, _, repo = image.partition("/")
    return host, repo


def evidence_check(catalog: Catalog, target: str, *, bundles_for: Bundles | None = None,
                   client_for=None) -> Callable[[PromotionPlan], CheckOutcome]:
    """``evidence``: a failure here revokes the freight (a failed re-verification)."""
    policy = catalog.signing_for(target)

    def check(plan: PromotionPlan) -> CheckOutcome:
        from gitops.promotion import target_image
        out = CheckOutcome("evidence")
        if policy.evidence == "off":
            out.problems.append(f"evidence: signing is off for {target} in the catalog: nothing can be verified")
            return out
        for item in plan.freight.items:
            image = target_image(plan.catalog, item, plan.source, target)
            try:
                out.evidence += _verify(catalog, target, image, item, bundles_for, client_for)
            except CheckFailed as exc:
                out.problems += [f"evidence: {item.service}: {p.split(': ', 1)[-1]}" for p in exc.problems or [exc.what]]
                out.revoke = True
        return out
    check.__name__ = "evidence"
    return check


def _verify(catalog: Catalog, target: str, image: str, item: Item, bundles_for: Bundles | None,
            client_for) -> list[str]:
    if bundles_for is None:
        from pipeline_lib.attest.enforce import check_before_write
        decision = check_before_write(catalog, target, image, item.digest, what="gitops promote",
                                      client_for=client_for)
        return [f"{item.service} {s}" for s in decision.sources]
    from pipeline_lib.attest.enforce import trusted_for
    from pipeline_lib.attest.verify import check_evidence
    policy = catalog.signing_for(target)
    ev = check_evidence(item.digest, bundles_for(image, item.digest), trusted_for(catalog, target), policy.require,
                        target)
    if ev.problems:
        raise CheckFailed("gitops promote", f"{len(ev.problems)} evidence problem(s)",
                          problems=[f"{image}@{item.digest[:19]}…: {p}" for p in ev.problems])
    return sorted(f"{item.service} {kind} {a.source}" for kind, atts in ev.verified.items() for a in atts)


def tokyo_check(catalog: Catalog, target: str, replica_hosts: dict[str, str], *,
                client_for=None) -> Callable[[PromotionPlan], CheckOutcome]:
    """``tokyo``: each replica registry (region -> host) holds the digest and its evidence."""

    def check(plan: PromotionPlan) -> CheckOutcome:
        from gitops.promotion import target_image
        from pipeline_lib.attest.enforce import check_before_write
        from pipeline_lib.dr.presence import check_presence
        make = client_for
        if make is None:
            from pipeline_lib.image.registry import registry_for as make
        out = CheckOutcome("tokyo")
        for item in plan.freight.items:
            _, repo = _repository(target_image(plan.catalog, item, plan.source, target))
            for region, host in replica_hosts.items():
                presence = check_presence(make(host), repo, item.digest)
                if not presence.ok:
                    out.problems.append(f"tokyo: {item.service}: {host}/{repo}@{item.digest[:19]}… not in {region}: "
                                        f"missing {presence.missing[0]}")
                    continue
                if catalog.signing_for(target).evidence == "off":
                    continue
                try:
                    check_before_write(catalog, target, f"{host}/{repo}", item.digest, what="gitops promote",
                                       client_for=make)
                except CheckFailed as exc:
                    out.problems.append(f"tokyo: {item.service}: evidence in {region} ({host}): "
                                        f"{(exc.problems or [exc.what])[0].split(': ', 1)[-1]}")
        return out
    check.__name__ = "tokyo"
    return check


@dataclass(frozen=True)
class PromoteOptions:
    """``freight`` or ``services`` names what to promote; ``argocd_server``/``argocd_token``: the
    source environment's Argo CD API; ``soak_seconds`` (None: the catalog's ``promotion.soak``);
    ``replica_hosts``: region -> registry host checked for the digest (None: the catalog's
    replica regions' ECR hosts); ``bundles_for``: exported bundles instead of the registry;
    ``guards``: refusal checks run first (besides ``gitops.promotion.GUARDS``, the holds, and the
    target's freeze windows: ``freeze``, None: the catalog's; ``break_glass`` with ``reason``
    writes inside a window, the commit saying ``Break-Glass: true``); ``clock``: now (UTC)."""

    catalog: Catalog
    source: str
    target: str
    freight: str | None = None
    services: tuple[str, ...] = ()
    repo_url: str | None = None
    argocd_server: str | None = None
    argocd_token: str | None = field(default=None, repr=False)
    argocd_verify: bool = True
    soak_seconds: float | None = None
    replica_hosts: dict[str, str] | None = None
    build_url: str | None = None
    mode: str | None = None
    github_api: str = "https://api.github.com"
    github_repo: str | None = None
    github_token: str | None = field(default=None, repr=False)
    writers: Writers | None = None
    by: str = "gantry"
    dry_run: bool = False
    bundles_for: Bundles | None = field(default=None, repr=False)
    client_for: Callable | None = field(default=None, repr=False)
    guards: Sequence[Guard] = ()
    clock: Callable[[], datetime] = utc_now
    workdir: Path | None = None           # reuse this checkout of the GitOps repo
    #: the target's freeze windows (pipeline_lib.core.freeze.to_json; None: the catalog's)
    freeze: tuple[dict, ...] | None = None
    break_glass: bool = False             # promote even inside a freeze window (needs ``reason``)
    reason: str | None = None


def checks(opts: PromoteOptions, argocd: ArgoCD) -> list:
    """The conditions, in order (see the module docstring)."""
    soak = opts.catalog.promotion.soak_seconds if opts.soak_seconds is None else opts.soak_seconds
    replicas = (opts.replica_hosts if opts.replica_hosts is not None
                else {r: opts.catalog.ecr_host(r) for r in opts.catalog.replica_regions})
    return [dev_soak(argocd, soak),
            evidence_check(opts.catalog, opts.target, bundles_for=opts.bundles_for, client_for=opts.client_for),
            tokyo_check(opts.catalog, opts.target, replicas, client_for=opts.client_for)]


def freeze_guard(opts: PromoteOptions, glass: dict) -> Guard:
    """The target's freeze windows (:func:`gitops.freeze.promotion_guard_for`); breaking glass
    records the window in ``glass`` (the commit then says so) instead of refusing."""
    from gitops.freeze import promotion_guard_for
    from pipeline_lib.core.freeze import to_json
    windows = list(opts.freeze) if opts.freeze is not None else to_json(opts.catalog.freeze_for(opts.target).windows)
    refuse = promotion_guard_for(windows)

    def guard(plan: PromotionPlan) -> list[str]:
        lines = refuse(plan)
        glass.clear()
        if lines and opts.break_glass:
            glass["window"] = lines[0]
            return []
        return lines
    return guard


def run(opts: PromoteOptions) -> StageResult:
    """Promote; ``value`` is the :class:`gitops.promotion.PromotionResult`. CheckFailed (exit 1)
    names every unmet condition; exit 2 when a condition cannot be evaluated (no Argo CD server)."""
    if not opts.argocd_server:
        raise GantryError("gitops promote", "the source environment's Argo CD API is needed to check the soak: "
                                            "set ARGOCD_SERVER (and ARGOCD_AUTH_TOKEN) or pass --argocd-server")
    if opts.break_glass and not (opts.reason or "").strip():
        raise GantryError("gitops promote: --break-glass", "needs --reason TEXT (recorded in the commit)")
    glass: dict = {}
    argocd = ArgoCD(opts.argocd_server, opts.argocd_token, verify=opts.argocd_verify)
    try:
        result: PromotionResult = promote_freight(
            opts.repo_url or opts.catalog.gitops_repo, catalog=opts.catalog, source=opts.source, target=opts.target,
            freight=opts.freight, services=opts.services, checks=checks(opts, argocd),
            guards=[*opts.guards, freeze_guard(opts, glass)], reason=opts.reason,
            extra_trailers=lambda: ["Break-Glass: true"] if glass else [],
            clock=opts.clock, by=opts.by, build_url=opts.build_url, mode=opts.mode, github_api=opts.github_api,
            github_repo=opts.github_repo, github_token=opts.github_token, writers=opts.writers,
            dry_run=opts.dry_run, workdir=opts.workdir)
    finally:
        argocd.close()
    if opts.dry_run:
        detail = f"freight {result.freight}: every condition met ({', '.join(result.checks)}); dry run, nothing written"
    elif result.commit is None:
        detail = f"freight {result.freight}: {opts.target} already pins it; no commit"
    else:
        detail = (f"freight {result.freight} -> {opts.target}: commit {result.commit[:12]} on {result.branch}"
                  + (f"; pull request {result.pull_request}" if result.pull_request else ""))
    if glass and result.commit:
        detail += f"; BREAK-GLASS inside a freeze window ({glass['window']})"
    return StageResult("promote", PASSED, detail, data={**asdict(result), "break_glass": bool(glass and result.commit)},
                       value=result)
