"""``gantry watch`` end to end: a real local registry holding three tiny images with signed SBOM
attestations, a real bare GitOps repo pinning them (dev), the offline Trivy DB built from the
advisory files — then a second DB with one more advisory that hits one running digest — and
fake Slack and GitHub servers answering as their APIs document."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from werkzeug import Response

from gitops.bump import bump
from gitops.hostlock import Writers
from gitops.layout import init_repo
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.watch.issues import LABEL
from pipeline_lib.attest.statement import provenance_predicate
from tests.attest.helpers import build_info, new_key
from tests.attest.registry_helpers import push_image

from .helpers import (SERVICES, FakeGitHub, FakeSlack, advisory, advisory_dir, pin_all, push_attested,
                      signed_catalog, trivy_cache)

pytestmark = pytest.mark.integration

PACKAGES = {"storefront": {"flask": "3.0.0", "requests": "2.32.3"},
            "order-api": {"requests": "2.32.3"},
            "product-api": {"jinja2": "3.1.4"}}
NEW_CVE = "CVE-2099-0001"
NO_BATCH = Writers(batch=False)   # one bump at a time here: no batch window to wait for


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, registry):
    tmp = tmp_path_factory.mktemp("watch")
    signer = new_key(tmp / "key")
    catalog_path = signed_catalog(tmp, Path(signer.source).with_name("gantry.pub"))
    catalog = load_catalog(catalog_path)
    client = RegistryClient(registry.host)
    digests, repos = {}, {}
    for name in SERVICES:
        repo = catalog.service(name).environment("dev").ecr_repository + "-" + tmp.name[-6:].lower()
        repos[name] = repo
        built = provenance_predicate(build_info("dev")) if name == "storefront" else None
        digests[name] = push_attested(client, tmp, repo, "v1", PACKAGES[name], signer, built)
    fixed = push_attested(client, tmp, repos["storefront"], "v2", {"flask": "3.0.3", "requests": "2.32.3"}, signer)
    _, unattested = push_image(client, tmp, repos["product-api"], "v0")   # no SBOM attestation
    stranger = push_attested(client, tmp, repos["order-api"], "v9", PACKAGES["order-api"], new_key(tmp / "stranger"))
    bare = tmp / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("dev"), "dev", registry.host)
    pin_all(bare, catalog, "dev", {n: (f"{registry.host}/{repos[n]}", digests[n], "v1") for n in SERVICES})
    base_db = trivy_cache(tmp)
    stale_db = trivy_cache(tmp, updated_at=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10))
    new_db = trivy_cache(tmp, advisory_dir(tmp, [advisory("GHSA-wtch-0000-0001", NEW_CVE, "flask", "3.0.3")]))
    return {"tmp": tmp, "catalog": catalog_path, "catalog_obj": catalog, "bare": bare, "digests": digests,
            "repos": repos, "fixed": fixed, "unattested": unattested, "stranger": stranger, "base_db": base_db, "stale_db": stale_db, "new_db": new_db, "registry": registry}


def _watch(world, monkeypatch, httpserver, db: Path, ledger: Path, *extra: str,
           pushgateway: bool = False) -> tuple[int, dict]:
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(db))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/slack/T000/B000/XXXX"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_watchtesttoken000000000000000000000")
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/"))
    if not pushgateway:
        monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    out = world["tmp"] / "out.json"
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["watch", "--env", "dev", "--catalog", str(world["catalog"]), "--repo", world["bare"].as_uri(),
                     "--ledger", str(ledger), "--sbom-cache", str(world["tmp"] / "sboms"), "--skip-db-update",
                     "--format", "json", *extra])
    out.write_text(buf.getvalue())
    return code, json.loads(buf.getvalue())


def test_new_advisory_on_a_running_digest_one_message_one_issue_then_fixed(world, monkeypatch, httpserver, tmp_path):
    slack = FakeSlack()
    httpserver.expect_request("/slack/T000/B000/XXXX", method="POST").respond_with_handler(slack.handle)
    github = FakeGitHub(httpserver)
    ledger = tmp_path / "dev.json"

    # today's DB as it was: nothing blocking runs in dev
    code, report = _watch(world, monkeypatch, httpserver, world["base_db"], ledger)
    assert code == 0, report
    assert [s["sbom"] for s in report["services"]] == ["attestation"] * 3
    assert slack.messages == [] and github.all_issues() == []

    # an advisory published today hits storefront's flask 3.0.0
    code, report = _watch(world, monkeypatch, httpserver, world["new_db"], ledger)
    assert code == 1, report
    assert len(slack.messages) == 1 and NEW_CVE in slack.messages[0] and "storefront" in slack.messages[0]
    issues = github.all_issues()
    assert len(issues) == 1
    repo, issue = issues[0]
    assert repo == "flashshop/storefront" and issue["state"] == "open" and LABEL in issue["labels"]
    assert NEW_CVE in issue["title"] and world["digests"]["storefront"] in issue["body"]
    doc = json.loads(ledger.read_text())
    hit = [f for f in doc["findings"] if f["vulnerability"] == NEW_CVE]
    assert len(hit) == 1 and hit[0]["state"] == "open" and hit[0]["blocking"] is True
    assert hit[0]["repository"] == world["repos"]["storefront"] and hit[0]["services"] == ["storefront"]
    assert [s["sbom"] for s in report["services"]] == ["cache"] * 3   # verified once, then cached

    # again: nothing new, no second message, no second issue, the ledger file unchanged
    before = ledger.read_bytes()
    posts = [r for r in github.requests if r[0] in ("POST", "PATCH")]
    code, report = _watch(world, monkeypatch, httpserver, world["new_db"], ledger)
    assert code == 0, report
    assert len(slack.messages) == 1 and len(github.all_issues()) == 1
    assert [r for r in github.requests if r[0] in ("POST", "PATCH")] == posts
    assert report["issues"]["unchanged"] == ["flashshop/storefront#1"]
    assert [f["first_seen"] for f in json.loads(ledger.read_text())["findings"]] == \
        [f["first_seen"] for f in json.loads(before)["findings"]]

    # storefront is bumped to the digest with flask 3.0.3: the issue closes, the ledger says fixed
    catalog = world["catalog_obj"]
    bump(world["bare"].as_uri(), catalog=catalog, service="storefront", environment="dev",
         image=f"{world['registry'].host}/{world['repos']['storefront']}", digest=world["fixed"], tag="v2",
         writers=NO_BATCH)
    code, report = _watch(world, monkeypatch, httpserver, world["new_db"], ledger)
    assert code == 0, report
    assert report["issues"]["closed"] == ["flashshop/storefront#1"]
    assert github.all_issues()[0][1]["state"] == "closed"
    assert any(n == 1 and "no longer has" in body for _, n, body in github.comments)
    hit = [f for f in json.loads(ledger.read_text())["findings"] if f["vulnerability"] == NEW_CVE]
    assert len(hit) == 1 and hit[0]["state"] == "fixed" and hit[0]["fixed_at"]
    assert len(slack.messages) == 1


def test_ledger_in_the_gitops_repo_is_committed_and_dry_run_writes_nothing(world, monkeypatch, httpserver, capsys):
    import subprocess
    httpserver.expect_request("/slack/T000/B000/XXXX", method="POST").respond_with_data("ok")
    FakeGitHub(httpserver)
    bare = world["bare"]

    def log() -> list[str]:
        return subprocess.run(["git", "--git-dir", str(bare), "log", "--format=%s", "main"], capture_output=True,
                              text=True, check=True).stdout.splitlines()

    monkeypatch.setenv("TRIVY_CACHE_DIR", str(world["new_db"]))
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    args = ["watch", "--env", "dev", "--catalog", str(world["catalog"]), "--repo", bare.as_uri(),
            "--sbom-cache", str(world["tmp"] / "sboms"), "--skip-db-update", "--format", "json"]
    # whatever ran before: storefront runs its vulnerable digest again; product-api an image
    # without SBOM attestation (watch pulls and scans it, and caches the SBOM it made)
    host = world["registry"].host
    pin_all(bare, world["catalog_obj"], "dev", {
        "storefront": (f"{host}/{world['repos']['storefront']}", world["digests"]["storefront"], "v1"),
        "product-api": (f"{host}/{world['repos']['product-api']}", world["unattested"], "v0")})
    commits = len(log())
    # a DB older than the policy's max_age (7d) is no scan: cannot evaluate, nothing recorded
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(world["stale_db"]))
    capsys.readouterr()
    assert main(args) == 2
    report = json.loads(capsys.readouterr().out)
    assert {s["service"]: s["sbom"] for s in report["services"]}["product-api"] == "generated"
    assert all("vulnerability DB is 10 days" in " ".join(s["problems"]) for s in report["services"])
    assert (world["tmp"] / "sboms" / (world["unattested"].replace(":", "-") + ".cdx.json")).is_file()
    assert len(log()) == commits
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(world["new_db"]))
    assert main([*args, "--dry-run"]) == 1   # storefront's CVE is new to this ledger
    assert len(log()) == commits
    assert main(args) == 1
    assert log()[0].startswith("watch: dev ledger:")
    shown = subprocess.run(["git", "--git-dir", str(bare), "show", "main:.gantry/ledger/dev.json"],
                           capture_output=True, text=True, check=True).stdout
    assert json.loads(shown)["environment"] == "dev"
    capsys.readouterr()
    assert main(args[:-2]) == 0   # the same digests and findings: nothing new, no commit (text output)
    text = capsys.readouterr().out
    assert "dev: 3 digest(s), 0 new blocking finding(s), 0 fixed" in text and "storefront" in text
    assert len(log()) == commits + 1


def test_code_scanning_reupload_on_the_commit_the_provenance_names(world, monkeypatch, httpserver, tmp_path, capsys):
    github = FakeGitHub(httpserver)
    host = world["registry"].host
    pin_all(world["bare"], world["catalog_obj"], "dev", {
        "storefront": (f"{host}/{world['repos']['storefront']}", world["digests"]["storefront"], "v1")})
    ledger = tmp_path / "dev.json"
    # Slack answers 500: the run cannot say it notified, so the ledger stays as it was (retried next run)
    code, report = _watch(world, monkeypatch, httpserver, world["new_db"], ledger, "--code-scanning")
    assert code == 2 and report["slack"].startswith("failed: slack: ") and not ledger.exists(), report
    github.sarifs.clear()
    slack = FakeSlack()
    httpserver.expect_request("/slack/T000/B000/XXXX", method="POST").respond_with_handler(slack.handle)
    pushed: list[str] = []
    httpserver.expect_request("/metrics/job/gantry-watch/env/dev", method="PUT").respond_with_handler(
        lambda request: (pushed.append(request.get_data(as_text=True)), Response("", 200))[1])
    monkeypatch.setenv("PUSHGATEWAY_URL", httpserver.url_for("/"))
    code, report = _watch(world, monkeypatch, httpserver, world["new_db"], ledger, "--code-scanning", pushgateway=True)
    assert code == 1 and len(slack.messages) == 1 and ledger.exists(), report
    assert report["metrics"] == "pushed" and len(pushed) == 1
    assert 'gantry_watch_blocking_findings_open{service="storefront",severity="HIGH"} 1.0' in pushed[0]
    assert 'gantry_watch_findings_new{service="storefront",severity="HIGH"} 1.0' in pushed[0]
    assert 'gantry_watch_findings_open{service="order-api",severity="HIGH"} 0.0' in pushed[0]
    # the issue the failed run created is edited (its first-seen time), never made twice
    assert len(github.all_issues()) == 1 and report["issues"]["created"] == []
    assert report["code_scanning"]["uploaded"] == [f"storefront: flashshop/storefront@{build_info().commit[:12]} "
                                                   f"refs/heads/main"]
    assert {line.split(":")[0] for line in report["code_scanning"]["skipped"]} == {"order-api", "product-api"}
    ((repo, commit, ref, sarif),) = github.sarifs
    assert (repo, commit, ref) == ("flashshop/storefront", build_info().commit, "refs/heads/main")
    assert [r["ruleId"] for run in sarif["runs"] for r in run["results"]] == [NEW_CVE]
    # the build's category for this service and environment, so this analysis replaces the build's
    assert {run["automationDetails"]["id"] for run in sarif["runs"]} == {"gantry/storefront/dev/"}


def test_an_sbom_signed_by_an_untrusted_key_cannot_be_evaluated(world, monkeypatch, httpserver, tmp_path):
    FakeGitHub(httpserver)
    httpserver.expect_request("/slack/T000/B000/XXXX", method="POST").respond_with_data("ok")
    host = world["registry"].host
    pin_all(world["bare"], world["catalog_obj"], "dev", {
        "order-api": (f"{host}/{world['repos']['order-api']}", world["stranger"], "v9")})
    try:
        code, report = _watch(world, monkeypatch, httpserver, world["new_db"], tmp_path / "dev.json")
    finally:   # the other tests' order-api
        pin_all(world["bare"], world["catalog_obj"], "dev", {
            "order-api": (f"{host}/{world['repos']['order-api']}", world["digests"]["order-api"], "v1")})
    assert code == 2, report
    (order,) = [s for s in report["services"] if s["service"] == "order-api"]
    assert not order["evaluated"] and "not trusted here" in " ".join(order["problems"])
    assert not (world["tmp"] / "sboms" / (world["stranger"].replace(":", "-") + ".cdx.json")).exists()
