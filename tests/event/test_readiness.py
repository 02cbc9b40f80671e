"""`gantry event readiness`: the go/no-go against real parts — moto (ECS, DMS), the local Seoul and
Tokyo registries with a really signed image, a real GitOps bare repo, real `amtool` on an
Alertmanager configuration gantry generates, a Terraform state file and a load-gate verdict.

The go-world is built once for the module; each injected defect is a variant of the inputs that
points one check at a broken part (a drifted cluster, an unsigned digest, a digest never copied to
Tokyo, a DMS task mid-run, a configuration routing elsewhere, a stale load gate), so exactly that
check must fail and every other must still pass.
"""

from __future__ import annotations

import json
import types
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from pytest_httpserver import HTTPServer

from gitops.bump import bump
from gitops.layout import init_repo
from gitops.monitoring.alertmanager import alertmanager_config, render_alertmanager_config
from pipeline_lib.attest.store import push_bundles
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.event.readiness import FAIL, PASS, Inputs, evaluate
from pipeline_lib.image.copy import RegistrySource, copy_image
from pipeline_lib.image.registry import RegistryClient, registry_for
from pipeline_lib.infra.localaws import write_local_state
from tests.attest.helpers import new_key, signed
from tests.attest.registry_helpers import push_image
from tests.attest.test_deploy_paths import _catalog
from tests.event.test_lifecycle_terraform import _dms_stand_in

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def _ecs_cluster(ecs, cluster: str, image: str) -> None:
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=f"{cluster}-storefront", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512",
        memory="1024", containerDefinitions=[{"name": "storefront", "image": image, "essential": True}])
    ecs.create_service(cluster=cluster, serviceName="storefront", launchType="FARGATE", desiredCount=2,
                       taskDefinition=td["taskDefinition"]["taskDefinitionArn"])


def _gitops(tmp: Path, catalog, host: str, repo: str, digest: str) -> str:
    bare = tmp / f"gitops-{digest[7:15]}.git"
    init_repo(bare, catalog, list(catalog.services), "event", host)
    bump(bare.as_uri(), catalog=catalog, service="storefront", environment="event", image=f"{host}/{repo}",
         digest=digest, tag="v1")
    return bare.as_uri()


def _loadtest(path: Path, finished: datetime) -> Path:
    path.write_text(json.dumps({
        "target": "http://127.0.0.1:8080", "env": "event", "started_at": (finished - timedelta(minutes=5)).isoformat(),
        "finished_at": finished.isoformat(), "passed": True, "requests": 1200, "failures": 0,
        "thresholds": [{"name": "p95_ms", "limit": 500, "measured": 80, "passed": True}]}))
    return path


@pytest.fixture(scope="module")
def world(moto_server, registry, registry_tokyo, tmp_path_factory: pytest.TempPathFactory):
    """Everything holds; plus the broken parts each defect points at."""
    tmp = tmp_path_factory.mktemp("readiness")
    mp = pytest.MonkeyPatch()
    for k, v in {**AWS, "AWS_ENDPOINT_URL": moto_server.url}.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    moto_server.reset()
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo = f"r{uuid.uuid4().hex[:8]}/storefront"
    signer = new_key(tmp / "key")
    catalog_path = _catalog(tmp / "catalog.yaml", types.SimpleNamespace(prod=signer), repo, {"event": "ecs-fargate"})
    catalog = load_catalog(catalog_path)
    digests = {}
    for name, sign, to_tokyo in (("good", True, True), ("unsigned", False, True), ("seoul-only", True, False)):
        _, digests[name] = push_image(seoul, tmp, repository=repo, tag=name)
        if sign:
            push_bundles(seoul, repo, digests[name], signed(signer, digest=digests[name], environment="event",
                                                            image=f"{registry.host}/{repo}"))
        if to_tokyo:
            copy_image(RegistrySource(seoul, repo), digests[name], tokyo, repo, [name])
    ecs = boto3.client("ecs", region_name=REGION)
    image = f"{registry.host}/{repo}@"
    _ecs_cluster(ecs, "event", image + digests["good"])
    _ecs_cluster(ecs, "event-drift", image + digests["unsigned"])      # runs what GitOps does not pin
    _ecs_cluster(ecs, "event-nosig", image + digests["unsigned"])
    _ecs_cluster(ecs, "event-notokyo", image + digests["seoul-only"])
    dms, arn = _dms_stand_in(moto_server.url)                          # ready: a complete rehearsal run
    task = dms.describe_replication_tasks()["ReplicationTasks"][0]
    dms.create_replication_task(ReplicationTaskIdentifier="event-busy", SourceEndpointArn=task["SourceEndpointArn"],
                                TargetEndpointArn=task["TargetEndpointArn"], MigrationType="full-load",
                                ReplicationInstanceArn=task["ReplicationInstanceArn"],
                                TableMappings=json.dumps({"rules": []}))
    busy = dms.describe_replication_tasks(Filters=[{"Name": "replication-task-id", "Values": ["event-busy"]}])
    dms.start_replication_task(ReplicationTaskArn=busy["ReplicationTasks"][0]["ReplicationTaskArn"],
                               StartReplicationTaskType="start-replication")   # mid-run: not ready
    state = write_local_state(tmp / "event.tfstate", {"db_instance_id": "event", "final_sync_task_id": "event-final-sync",
                                                      "cloudfront_domain_name": "d111.cloudfront.net"})
    doc = json.loads(state.read_text())
    doc["resources"] = [{"mode": "managed", "type": "aws_ecs_cluster", "name": "this", "instances": [{}]}]
    state.write_text(json.dumps(doc))
    url_file = tmp / "slack-url"
    url_file.write_text("https://hooks.slack.invalid/services/T0/B0/x\n")
    config = alertmanager_config(load_catalog(), slack_api_url_file=str(url_file))
    good_am = tmp / "alertmanager.yml"
    good_am.write_text(render_alertmanager_config(config))
    broken = json.loads(json.dumps(config))
    broken["route"]["routes"] = [r for r in broken["route"]["routes"] if r["receiver"] != "slack-oncall"]
    broken_am = tmp / "alertmanager-broken.yml"
    broken_am.write_text(yaml.safe_dump(broken, sort_keys=False))
    now = datetime.now(timezone.utc)
    inputs = Inputs(
        catalog=catalog, environment="event", aws=lambda name: boto3.client(name, region_name=REGION),
        registry=registry_for, host_for={"ap-northeast-1": registry_tokyo.host, REGION: registry.host}.__getitem__,
        gitops_repo=_gitops(tmp, catalog, registry.host, repo, digests["good"]), cluster="event",
        tf_state=state, alertmanager_config=good_am, loadtest=_loadtest(tmp / "loadtest.json", now - timedelta(hours=1)),
        now=now)
    variants = {
        "digests-pinned": {"cluster": "event-drift"},
        "evidence-verified": {"cluster": "event-nosig",
                              "gitops_repo": _gitops(tmp, catalog, registry.host, repo, digests["unsigned"])},
        "tokyo-replica": {"cluster": "event-notokyo",
                          "gitops_repo": _gitops(tmp, catalog, registry.host, repo, digests["seoul-only"])},
        "dms-ready": {"final_sync_task_id": "event-busy"},
        "alert-routing": {"alertmanager_config": broken_am},
        "load-gate": {"loadtest": _loadtest(tmp / "stale.json", now - timedelta(hours=8))},
    }
    unpinned = tmp / "gitops-unpinned.git"
    init_repo(unpinned, catalog, list(catalog.services), "event", registry.host)
    yield types.SimpleNamespace(inputs=inputs, variants=variants, catalog_path=catalog_path, tmp=tmp,
                                unpinned=unpinned.as_uri(),
                                seoul=registry.host, tokyo=registry_tokyo.host)
    mp.undo()


def test_go_when_everything_holds(world, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request("/services/T0/B0/ready", method="POST").respond_with_data("ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/services/T0/B0/ready"))
    i = world.inputs
    argv = ["event", "readiness", "--catalog", str(world.catalog_path), "--repo", i.gitops_repo,
            "--tf-state", str(i.tf_state), "--alertmanager-config", str(i.alertmanager_config),
            "--loadtest", str(i.loadtest), "--registry-for", f"ap-northeast-1={world.tokyo}", "--out", str(tmp_path)]
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    report = json.loads((tmp_path / "readiness.json").read_text())
    assert report["verdict"] == "go" and report["go"] is True
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("stack-applied", "pass"), ("digests-pinned", "pass"), ("evidence-verified", "pass"),
        ("tokyo-replica", "pass"), ("dms-ready", "pass"), ("alert-routing", "pass"), ("load-gate", "pass")]
    assert "verified (provenance, sbom, verdict)" in report["checks"][2]["detail"]
    assert "-> slack-oncall" in report["checks"][5]["detail"]
    assert "**GO**" in (tmp_path / "readiness.md").read_text()
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data())["text"].startswith(":white_check_mark: GO: event readiness of event (7/7")


@pytest.mark.parametrize("defect", ["digests-pinned", "evidence-verified", "tokyo-replica", "dms-ready",
                                    "alert-routing", "load-gate"])
def test_each_defect_is_no_go_naming_only_that_item(world, defect: str) -> None:
    report = evaluate(replace(world.inputs, **world.variants[defect]))
    assert report.verdict == "no-go" and report.exit_code == 1
    assert [(r.name, r.status) for r in report.results if r.status != PASS] == [(defect, FAIL)], report.to_json()


def test_no_go_on_the_command_line_names_the_item(world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    i = world.inputs
    rc = main(["event", "readiness", "--catalog", str(world.catalog_path), "--repo", i.gitops_repo,
               "--tf-state", str(i.tf_state), "--alertmanager-config", str(i.alertmanager_config),
               "--loadtest", str(world.variants["load-gate"]["loadtest"]), "--loadtest-max-age", "6h",
               "--registry-for", f"ap-northeast-1={world.tokyo}", "--out", str(tmp_path), "--no-slack"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("gantry: ")]
    assert len(lines) == 1 and lines[0].startswith("gantry: event readiness: no-go: load-gate: stale: passed 8.0 h ago")


def test_a_service_without_a_pinned_digest_is_no_go(world) -> None:
    report = evaluate(replace(world.inputs, gitops_repo=world.unpinned))
    assert report.verdict == "no-go"
    assert [(r.name, r.status, r.detail) for r in report.results if r.status == FAIL] == [
        ("digests-pinned", FAIL, "storefront: no digest pinned in the GitOps repo")]


def test_missing_state_cannot_evaluate(world, tmp_path: Path) -> None:
    report = evaluate(replace(world.inputs, tf_state=tmp_path / "absent.tfstate"), only=["stack-applied"])
    assert report.verdict == "cannot evaluate" and report.exit_code == 2


def test_alert_routing_against_a_running_alertmanager(world, tmp_path: Path) -> None:
    """``--alertmanager-url``: amtool tests the routes of the configuration a real Alertmanager runs."""
    from tests.monitoring.parts import start_alertmanager
    part = start_alertmanager(tmp_path, yaml.safe_load(world.inputs.alertmanager_config.read_text()))
    try:
        report = evaluate(replace(world.inputs, alertmanager_config=None, alertmanager_url=part.url),
                          only=["alert-routing"])
    finally:
        part.stop()
    assert [(r.status, r.detail.split(" (")[-1]) for r in report.results] == [(PASS, f"Alertmanager {part.url})")]
