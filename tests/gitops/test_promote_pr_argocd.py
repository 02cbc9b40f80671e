"""promote, --mode pr (GitHub REST API on pytest-httpserver), Argo CD apps and wait."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from werkzeug import Response

from gitops.argocd import application_set, applications, wait_synced
from gitops.bump import bump
from gitops.promote import deliver, review_branch
from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError
from tests.conftest import git
from tests.support.catalogs import shipped_evidence_off
from tests.gitops.conftest import REGISTRY, clone, digest

IMAGE = f"{REGISTRY}/shop/storefront"


def test_mode_pr_pushes_branch_and_opens_pull_request(gitops_repo: Path, catalog, httpserver, monkeypatch) -> None:
    calls = []

    def create(request):
        calls.append(request)
        body = request.get_json()
        assert request.headers["Authorization"] == "Bearer t0ken"
        assert body["base"] == "main" and body["head"] == review_branch("storefront", "prod", digest("b"))
        return Response(json.dumps({"number": 7, "html_url": "https://github.com/flashshop/gitops/pull/7"}),
                        status=201, content_type="application/json")

    httpserver.expect_request("/repos/flashshop/gitops/pulls", method="POST").respond_with_handler(create)
    main_before = git(gitops_repo, "rev-parse", "main")
    result = deliver(gitops_repo.as_uri(), catalog=catalog, service="storefront", environment="prod", image=IMAGE,
                     digest=digest("b"), tag="v2", mode="pr", github_api=httpserver.url_for(""),
                     github_repo="flashshop/gitops", build_url="https://ci/5", github_token="t0ken")
    assert result.pull_request == "https://github.com/flashshop/gitops/pull/7" and len(calls) == 1
    assert git(gitops_repo, "rev-parse", "main") == main_before  # main untouched
    branch = review_branch("storefront", "prod", digest("b"))
    assert digest("b") in git(gitops_repo, "show", f"{branch}:apps/storefront/overlays/prod/kustomization.yaml")
    assert "storefront" in calls[0].get_json()["title"] and "https://ci/5" in calls[0].get_json()["body"]


def test_mode_pr_existing_pull_request_is_reused(gitops_repo: Path, catalog, httpserver, monkeypatch) -> None:
    httpserver.expect_request("/repos/flashshop/gitops/pulls", method="POST").respond_with_json(
        {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]}, status=422)
    httpserver.expect_request("/repos/flashshop/gitops/pulls", method="GET").respond_with_json(
        [{"number": 3, "html_url": "https://github.com/flashshop/gitops/pull/3"}])
    result = deliver(gitops_repo.as_uri(), catalog=catalog, service="order-api", environment="prod",
                     image=f"{REGISTRY}/shop/order-api", digest=digest("c"), mode="pr",
                     github_api=httpserver.url_for(""), github_repo="flashshop/gitops", github_token="t")
    assert result.pull_request.endswith("/pull/3")


def test_mode_pr_without_token_is_one_line(gitops_repo: Path, monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    cat = str(shipped_evidence_off(tmp_path / "catalog"))
    code = main(["gitops", "bump", "--catalog", cat, "--repo", gitops_repo.as_uri(), "--env", "prod", "--service", "storefront",
                 "--digest", digest("d"), "--image", IMAGE, "--github-repo", "flashshop/gitops"])
    assert code == 2 and "GITHUB_TOKEN is not set" in capsys.readouterr().err


def test_argocd_applications_from_catalog(catalog, capsys) -> None:
    apps = applications(catalog, "https://github.com/flashshop/gitops.git")
    names = {a["metadata"]["name"] for a in apps}
    # no Application for an environment Argo CD does not deploy to (the event stack is ECS Fargate)
    ecs = {n for n, e in catalog.environments.items() if e.platform == "ecs-fargate"}
    assert ecs, "the shipped catalog has an ECS environment"
    assert names == {f"{s.name}-{e}" for s in catalog.services for e in s.environments if e not in ecs}
    assert not any(a["metadata"]["labels"]["gantry.io/environment"] in ecs for a in apps)
    by = {a["metadata"]["name"]: a["spec"] for a in apps}
    assert by["storefront-prod"]["destination"] == {"server": "https://prod-eks.ap-northeast-2.eks.amazonaws.com",
                                                    "namespace": "shop"}
    assert by["storefront-dev"]["source"]["path"] == "apps/storefront/overlays/dev"
    for spec in by.values():
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert main(["gitops", "apps", "--repo", "https://github.com/flashshop/gitops.git"]) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert len(docs) == len(apps) and all(d["kind"] == "Application" for d in docs)
    assert main(["gitops", "apps", "--appset"]) == 0
    (appset,) = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert appset["kind"] == "ApplicationSet"
    assert len(appset["spec"]["generators"][0]["list"]["elements"]) == len(apps)
    assert application_set(catalog, "r")["spec"]["goTemplate"] is True


def test_argocd_wait(httpserver, capsys) -> None:
    states = iter([("OutOfSync", "Progressing"), ("Synced", "Progressing"), ("Synced", "Healthy")])

    def handler(request):
        sync, health = next(states)
        return Response(json.dumps({"status": {"sync": {"status": sync, "revision": "abc123"},
                                               "health": {"status": health}}}),
                        content_type="application/json")
    httpserver.expect_request("/api/v1/applications/storefront-dev").respond_with_handler(handler)
    assert wait_synced(httpserver.url_for(""), "storefront-dev", timeout=10, interval=0.05) == 0
    assert "sync Synced, health Healthy" in capsys.readouterr().out


def test_argocd_wait_timeout_and_missing_app(httpserver) -> None:
    httpserver.expect_request("/api/v1/applications/slow").respond_with_json(
        {"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"}}})
    with pytest.raises(GantryError) as info:
        wait_synced(httpserver.url_for(""), "slow", timeout=0.5, interval=0.05)
    assert info.value.exit_code == 1 and "Degraded" in info.value.what
    httpserver.expect_request("/api/v1/applications/ghost").respond_with_json({"message": "not found"}, status=404)
    with pytest.raises(GantryError, match="no application 'ghost'") as info:
        wait_synced(httpserver.url_for(""), "ghost", timeout=1)
    assert info.value.exit_code == 2


def test_cli_init_promote_and_apps_out(tmp_path: Path, capsys) -> None:
    bare = tmp_path / "cli.git"
    assert main(["gitops", "init", "--repo", str(bare), "--env", "dev", "--registry", REGISTRY]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["gitops", "init", "--repo", str(bare), "--env", "dev"]) == 0
    assert "up to date: 0 added, 0 updated, 0 merged, 0 kept" in capsys.readouterr().out
    from gitops.git import transact
    from gitops.layout import scaffold
    from pipeline_lib.core.catalog import load_catalog
    catalog = load_catalog("jobs/catalog.yaml")
    transact(bare.as_uri(), lambda wd: ("prod layout", scaffold(wd, catalog, list(catalog.services), ["prod"],
                                                                 REGISTRY), None))
    assert main(["gitops", "bump", "--repo", bare.as_uri(), "--env", "dev", "--service", "order-api",
                 "--digest", digest("9"), "--tag", "o9", "--image", f"{REGISTRY}/shop/order-api"]) == 0
    assert "freight" in capsys.readouterr().out      # the dev bump recorded its freight
    # promotion (tests/gitops/test_promotion*.py) needs the source's Argo CD API to check the soak
    assert main(["gitops", "promote", "--repo", bare.as_uri(), "--from", "dev", "--to", "prod",
                 "--service", "order-api", "--mode", "commit"]) == 2
    assert "ARGOCD_SERVER" in capsys.readouterr().err
    assert main(["gitops", "promote", "--repo", bare.as_uri(), "--from", "dev", "--to", "event",
                 "--service", "order-api", "--argocd-server", "http://127.0.0.1:9"]) == 2
    assert "not deployed to environment 'event'" in capsys.readouterr().err
    out = tmp_path / "apps"
    assert main(["gitops", "apps", "--out", str(out)]) == 0
    assert (out / "storefront-prod.yaml").is_file() and not (out / "event-api-event.yaml").exists()
