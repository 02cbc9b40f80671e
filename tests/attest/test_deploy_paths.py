"""The evidence check before ``gitops promote`` (the *target* environment's policy), ``dr failover``
(in the registry the cluster will pull from: Tokyo) and ``event deploy`` (before ECS is touched)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from gitops.bump import bump
from gitops.layout import init_repo
from pipeline_lib.attest.store import push_bundles
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.image.copy import RegistrySource, copy_image
from pipeline_lib.image.referrers import copy_referrers
from pipeline_lib.image.registry import RegistryClient
from tests.conftest import git

from .helpers import signed
from .registry_helpers import push_image

pytestmark = pytest.mark.integration


def _catalog(path: Path, keyset, repo: str, envs: dict[str, str]) -> Path:
    """A catalog with one service (storefront) in ``envs`` (name → platform) on ``repo``."""
    pub = Path(keyset.prod.source).with_name("gantry.pub")
    lines = ["version: 1", "defaults:", '  aws_account_id: "123456789012"', "  registry_region: ap-northeast-2",
             "  replica_regions: [ap-northeast-1]", "  gitops_repo: https://github.com/example/gitops.git",
             "environments:"]
    for env, platform in envs.items():
        lines += [f"  {env}:", f"    platform: {platform}", "    aws_region: ap-northeast-2",
                  f"    domain: {env}.example.com", f"    namespace: shop-{env}"]
    lines += ["services:", "  - name: storefront", "    repo: example/storefront", f"    ecr_repository: {repo}",
              "    manifest_path: apps/storefront", "    environments:"]
    for env in envs:
        lines += [f"      {env}: {{}}" if env != "event" else
                  "      event: {manifest: event/storefront/values.yaml, manifest_format: helm}"]
    lines += ["signing:"] + [f"  {env}: {{evidence: required, trusted_keys: ['{pub}']}}" for env in envs]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_promote_needs_a_verdict_for_the_target_environment_and_tokyo(registry, registry_tokyo, keyset, httpserver,
                                                                       monkeypatch, tmp_path: Path, capsys) -> None:
    """``gantry gitops promote --freight``: the evidence in the registry (Seoul) and in Tokyo, each
    missing condition one line, exit 1, nothing written; then all met: one commit with trailers."""
    from datetime import datetime, timedelta, timezone

    from gitops import trailers
    from tests.support.argocd import FakeArgoCD
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo, digest = push_image(seoul, tmp_path, repository=f"p{uuid.uuid4().hex[:8]}/storefront")
    catalog_path = _catalog(tmp_path / "catalog.yaml", keyset, repo, {"dev": "jenkins", "prod": "eks"})
    catalog = load_catalog(catalog_path)
    bare = tmp_path / "gitops.git"
    assert init_repo(bare, catalog, list(catalog.services), "dev", registry.host)
    init_repo(bare, catalog, list(catalog.services), "prod", registry.host)
    freight = bump(bare.as_uri(), catalog=catalog, service="storefront", environment="dev",
                   image=f"{registry.host}/{repo}", digest=digest, tag="v1", freight=True).freight
    argocd = FakeArgoCD(httpserver)
    argocd.deploy("storefront-dev", git(bare, "rev-parse", "main"), datetime.now(timezone.utc) - timedelta(hours=1))
    monkeypatch.setenv("ARGOCD_SERVER", argocd.url)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", argocd.token)
    monkeypatch.setenv("GANTRY_ACTOR", "release-bot")
    push_bundles(seoul, repo, digest, signed(keyset.prod, digest=digest, environment="dev"))
    def argv(fid: str) -> list[str]:
        return ["gitops", "promote", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--from", "dev",
                "--to", "prod", "--freight", fid, "--mode", "commit",
                "--registry-for", f"ap-northeast-1={registry_tokyo.host}"]
    before = git(bare, "rev-parse", "main")
    capsys.readouterr()
    assert main(argv(freight)) == 1
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("gantry: ")]
    assert len(err) == 2, err
    assert err[0].startswith("gantry: gitops promote: evidence: storefront: ") and "no gate verdict for prod" in err[0]
    assert err[1].startswith("gantry: gitops promote: tokyo: storefront: ") and "not in ap-northeast-1" in err[1]
    # a failed re-verification revoked the freight: one revoke commit, no pin
    assert dict(trailers.parse(git(bare, "log", "-1", "--format=%B", "main")))[trailers.ACTION] == "revoke"
    assert git(bare, "rev-parse", "main~1") == before
    # a new build of the same image with full evidence, replicated to Tokyo: promoted
    push_bundles(seoul, repo, digest, {"verdict": signed(keyset.prod, digest=digest, environment="prod")["verdict"]})
    copy_image(RegistrySource(seoul, repo), digest, tokyo, repo, ["v1"])
    copy_referrers(seoul, tokyo, repo, digest)
    monkeypatch.setenv("GANTRY_GITOPS_NO_BATCH", "1")
    second = bump(bare.as_uri(), catalog=catalog, service="storefront", environment="dev",
                  image=f"{registry.host}/{repo}", digest=digest, tag="v1b", freight=True).freight
    argocd.deploy("storefront-dev", git(bare, "rev-parse", "main"), datetime.now(timezone.utc) - timedelta(hours=1))
    assert main(argv(freight)) == 1          # revoked stays revoked, evidence or not
    assert "not-revoked: freight" in capsys.readouterr().err
    assert main(argv(second)) == 0
    assert f"freight {second} dev -> prod: commit" in capsys.readouterr().out
    found = trailers.parse(git(bare, "log", "-1", "--format=%B", "main"))
    assert (trailers.BY, "release-bot") in found and (trailers.FREIGHT, second) in found
    assert {v.split()[1] for k, v in found if k == trailers.EVIDENCE} == {"provenance", "sbom", "verdict"}


def test_failover_checks_the_evidence_in_tokyo(registry, registry_tokyo, keyset, tmp_path: Path, capsys) -> None:
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo, digest = push_image(seoul, tmp_path, repository=f"f{uuid.uuid4().hex[:8]}/storefront")
    good = signed(keyset.prod, digest=digest)
    push_bundles(seoul, repo, digest, good)
    copy_image(RegistrySource(seoul, repo), digest, tokyo, repo, ["v1"])
    push_bundles(tokyo, repo, digest, {k: v for k, v in good.items() if k != "sbom"})   # one referrer short
    catalog_path = _catalog(tmp_path / "catalog.yaml", keyset, repo, {"prod": "eks"})
    catalog = load_catalog(catalog_path)
    bare = tmp_path / "gitops.git"
    assert init_repo(bare, catalog, list(catalog.services), "prod", registry.host)
    bump(bare.as_uri(), catalog=catalog, service="storefront", environment="prod", image=f"{registry.host}/{repo}",
         digest=digest, tag="v1")
    argv = ["dr", "failover", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod",
            "--registry-for", f"ap-northeast-2={registry.host}", "--registry-for",
            f"ap-northeast-1={registry_tokyo.host}", "--to", "ap-northeast-1"]
    before = git(bare, "rev-parse", "main")
    capsys.readouterr()
    assert main(argv) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("gantry: ")]
    assert len(err) == 1 and err[0].startswith("gantry: dr failover: ") and "sbom: missing" in err[0]
    assert registry_tokyo.host in err[0]
    assert git(bare, "rev-parse", "main") == before
    assert copy_referrers(seoul, tokyo, repo, digest)              # replication catches up
    assert main(argv) == 0
    assert git(bare, "rev-parse", "main") != before
    # failed over: a bump pins Tokyo's copy, so the evidence must verify in Tokyo
    _, digest2 = push_image(seoul, tmp_path, repository=repo, tag="v2")
    copy_image(RegistrySource(seoul, repo), digest2, tokyo, repo, ["v2"])
    push_bundles(seoul, repo, digest2, signed(keyset.prod, digest=digest2))
    bump_argv = ["gitops", "bump", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod",
                 "--service", "storefront", "--digest", digest2, "--image", f"{registry.host}/{repo}", "--mode", "commit"]
    before = git(bare, "rev-parse", "main")
    capsys.readouterr()
    assert main(bump_argv) == 1
    err = capsys.readouterr().err
    assert f"{registry_tokyo.host}/{repo}@" in err and err.count("missing") == 3
    assert git(bare, "rev-parse", "main") == before
    copy_referrers(seoul, tokyo, repo, digest2)
    assert main(bump_argv) == 0
    assert git(bare, "rev-parse", "main") != before


def test_event_deploy_refuses_before_ecs_is_touched(registry, keyset, aws_env, tmp_path: Path, capsys) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path, repository=f"e{uuid.uuid4().hex[:8]}/storefront")
    catalog_path = _catalog(tmp_path / "catalog.yaml", keyset, repo, {"event": "ecs-fargate"})
    catalog = load_catalog(catalog_path)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, list(catalog.services), "event", registry.host)
    bump(bare.as_uri(), catalog=catalog, service="storefront", environment="event", image=f"{registry.host}/{repo}",
         digest=digest, tag="v1")
    push_bundles(client, repo, digest, signed(keyset.prod, digest=digest, environment="event", passing=False))
    ecs = boto3.client("ecs", region_name="ap-northeast-2")
    ecs.create_cluster(clusterName="event")
    capsys.readouterr()
    assert main(["event", "deploy", "--catalog", str(catalog_path), "--service", "storefront",
                 "--repo", bare.as_uri(), "--no-wait"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "event deploy" in err[0] and "did not pass under event's policy" in err[0]
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []
