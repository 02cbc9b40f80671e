"""The demo's promotion dev -> prod, after the story's two builds.

The main build's bump recorded its freight in the GitOps repo (:mod:`gitops.freight`). Here:
the gate runs again on the same scan outcomes under **prod**'s policy and its verdict is signed
and pushed beside the others (and replicated to Tokyo, as ECR does referrers); a local Argo CD
API stand-in (:class:`pipeline_lib.localparts.argocd.LocalArgoCD`) reports dev Synced and
Healthy at the tip; after a shortened soak (:data:`SOAK_SECONDS` instead of the catalog's
``promotion.soak``) ``gantry gitops promote --freight`` runs (:mod:`pipeline_lib.stages.promote`,
direct commit: no GitHub here) and must pin the freight in prod. Then the PR build's digest —
blocked by the gate, never pushed or signed — is pinned in dev (dev's evidence policy only warns),
Argo CD reports it Degraded (the image cannot be pulled) and its promotion must be refused, each
failed condition named (the failed re-verification revokes that freight); dev is then pinned back
to the main build.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from gitops.hostlock import Writers
from gitops.layout import init_repo
from pipeline_lib.attest.publish import EvidenceFiles, predicates, sign_image
from pipeline_lib.core.catalog import Catalog, SigningPolicy
from pipeline_lib.core.errors import CheckFailed
from pipeline_lib.localparts.argocd import LocalArgoCD
from pipeline_lib.localparts.stack import LocalStack

from ..stages import FAILED, PASSED, StageResult
from ..stages import bump as bump_stage
from ..stages import gate
from ..stages.promote import PromoteOptions, run

SOAK_SECONDS = 1.0


def archive_digest(archive: Path, scratch: Path) -> str:
    """The manifest digest of the image in an OCI archive (what a push would name it)."""
    from pipeline_lib.image.copy import extract_archive
    body, _ = extract_archive(archive, scratch).manifest("")
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class PromotionDemo:
    catalog: Catalog
    service: str
    workdir: Path
    parts: LocalStack
    signing_key: Path
    writers: Writers
    out: TextIO | None = None

    def say(self, line: str) -> None:
        print(f"gantry demo: {line}", file=self.out or sys.stdout, flush=True)

    def prod_catalog(self) -> Catalog:
        """Prod trusts the demo's key, like dev (the demo has one signer)."""
        dev = self.catalog.signing_for("dev")
        prod = SigningPolicy("prod", "required", dev.trusted_keys, dev.key, dev.require)
        return replace(self.catalog, signing={**(self.catalog.signing or {}), "prod": prod})

    def gate_for_prod(self, reports: Path, policy: Path | None, repository: str, digest: str) -> StageResult:
        """The gate under prod's policy on the main build's outcomes; its verdict signed and pushed."""
        result = gate.run(gate.GateOptions("prod", outcomes_dir=reports / "scans", policy=policy,
                                           report_dir=reports / "gate-prod"))
        if not result.ok:
            return result
        preds = predicates(EvidenceFiles(verdict=reports / "gate-prod" / "verdict.json", policy=policy,
                                         outcomes=reports / "scans"))
        sign_image(f"{self.parts.primary}/{repository}", digest, str(self.signing_key), preds)
        from pipeline_lib.image.referrers import copy_referrers
        from pipeline_lib.image.registry import RegistryClient
        copy_referrers(RegistryClient(self.parts.primary), RegistryClient(self.parts.replica), repository, digest)
        return result

    def run(self, *, bare: Path, main_reports: Path, policy: Path | None, repository: str, digest: str,
            freight: str, pr_digest: str | None, tag: str | None = None) -> list[StageResult]:
        catalog = self.prod_catalog()
        svc = catalog.service(self.service)
        results: list[StageResult] = []
        gated = self.gate_for_prod(main_reports, policy, repository, digest)
        self.say(f"gate under prod's policy for {digest[:19]}…: {gated.status}; verdict signed and replicated")
        init_repo(bare, catalog, [svc], "prod", self.parts.primary, writers=self.writers)
        url = bare.as_uri()
        dev_path = svc.environment("dev").manifest
        with LocalArgoCD(url) as argocd:
            tip = _tip(bare)
            argocd.deploy(f"{svc.name}-dev", dev_path, tip)
            self.say(f"Argo CD stand-in {argocd.url}: {svc.name}-dev Synced and Healthy at {tip[:12]}; "
                     f"soaking {SOAK_SECONDS:g}s (the catalog says {catalog.promotion.soak_seconds}s)")
            time.sleep(SOAK_SECONDS + 0.05)
            options = PromoteOptions(catalog, "dev", "prod", freight=freight, repo_url=url, argocd_server=argocd.url,
                                     soak_seconds=SOAK_SECONDS, replica_hosts=self.parts.replicas, mode="commit",
                                     writers=self.writers, by="gantry-demo")
            results.append(self._promote(options, expect_refusal=False))
            if pr_digest:
                results.append(self._refuse_pr_build(catalog, bare, argocd, repository, pr_digest, options))
                restored = bump_stage.run(bump_stage.BumpOptions(
                    catalog, svc.name, "dev", digest, tag, url, image=f"{self.parts.primary}/{repository}",
                    mode="commit", writers=self.writers))
                self.say(f"dev restored to the main build {digest[:19]}… (freight {restored.data.get('freight')})")
        return results

    def _promote(self, options: PromoteOptions, *, expect_refusal: bool) -> StageResult:
        started = time.monotonic()
        try:
            result = run(options)
        except CheckFailed as exc:
            lines = exc.problems or [exc.what]
            for line in lines:
                self.say(f"  refused: {line}")
            status = PASSED if expect_refusal else FAILED
            return StageResult("promote", status, f"freight {options.freight}: refused ({exc.what})",
                               time.monotonic() - started, {"refused": lines, "freight": options.freight})
        result.duration = time.monotonic() - started
        self.say(f"promote: {result.detail}; checks passed: {', '.join(result.data['checks'])}")
        if expect_refusal:
            return replace(result, status=FAILED, detail="promoted, but must have been refused: " + result.detail)
        return result

    def _refuse_pr_build(self, catalog: Catalog, bare: Path, argocd: LocalArgoCD, repository: str, pr_digest: str,
                         options: PromoteOptions) -> StageResult:
        """Pin the PR build's digest in dev (never pushed: Argo CD shows it Degraded) and promote it."""
        url = bare.as_uri()
        svc = catalog.service(self.service)
        image = f"{self.parts.primary}/{repository}"
        dev = replace(catalog.signing_for("dev"), evidence="warn")     # the catalog's default for dev
        warn = replace(catalog, signing={**(catalog.signing or {}), "dev": dev})
        pinned = bump_stage.run(bump_stage.BumpOptions(warn, svc.name, "dev", pr_digest, "pr-build", url, image=image,
                                                       mode="commit", writers=self.writers))
        fid = pinned.data.get("freight")
        if not fid:
            return StageResult("promote", FAILED, f"the PR build's bump recorded no freight ({pinned.detail})")
        argocd.deploy(f"{svc.name}-dev", svc.environment("dev").manifest, _tip(bare), health="Degraded")
        self.say(f"the PR build's digest {pr_digest[:19]}… pinned in dev (freight {fid}); Argo CD: Degraded "
                 "(the image was never pushed)")
        time.sleep(SOAK_SECONDS + 0.05)
        return self._promote(replace(options, freight=fid), expect_refusal=True)


def _tip(bare: Path) -> str:
    from gitops.git import out
    return out(bare, "rev-parse", "main")
