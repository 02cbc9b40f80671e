"""`gantry event deploy` against moto's ECS (server mode) and a real bare GitOps repo."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from gitops.bump import bump
from gitops.layout import init_repo
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from tests.support.catalogs import shipped_evidence_off
from pipeline_lib.event.deploy import DEPLOYMENT_CONFIGURATION, rollout_state

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-2"
REGISTRY = "127.0.0.1:5000"
OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory) -> str:
    """Not about evidence (tests/attest covers event deploy's check): the shipped catalog, opted out."""
    return str(shipped_evidence_off(tmp_path_factory.mktemp("catalog")))


@pytest.fixture()
def catalog(catalog_file):
    return load_catalog(catalog_file)


@pytest.fixture()
def pinned(tmp_path: Path, catalog) -> str:
    """A GitOps repo whose event values pin storefront (and event-api) to NEW."""
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("event"), "event", REGISTRY)
    for svc in catalog.services_in("event"):
        repo = svc.environment("event").ecr_repository
        bump(bare.as_uri(), catalog=catalog, service=svc.name, environment="event",
             image=f"{REGISTRY}/{repo}", digest=NEW, tag="fix1")
    return bare.as_uri()


@pytest.fixture()
def ecs(aws_env):
    """What infra/modules/ecs-fargate leaves: cluster `event`, service `storefront` on OLD."""
    client = boto3.client("ecs", region_name=REGION)
    client.create_cluster(clusterName="event")
    td = client.register_task_definition(
        family="event-storefront", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="512", memory="1024",
        executionRoleArn="arn:aws:iam::123456789012:role/event-storefront-exec",
        taskRoleArn="arn:aws:iam::123456789012:role/event-storefront-task",
        containerDefinitions=[{"name": "storefront", "image": f"{REGISTRY}/event/storefront@{OLD}",
                               "essential": True, "memory": 1024,
                               "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                               "environment": [{"name": "MODE", "value": "event"}]}],
        tags=[{"key": "Environment", "value": "event"}])["taskDefinition"]
    client.create_service(cluster="event", serviceName="storefront", taskDefinition=td["taskDefinitionArn"],
                          desiredCount=2, launchType="FARGATE")
    return client


def _revisions(client) -> list[str]:
    return client.list_task_definitions(familyPrefix="event-storefront")["taskDefinitionArns"]


def test_deploy_rolls_to_the_pinned_digest_then_is_idempotent(ecs, pinned, catalog, capsys) -> None:
    args = ["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", pinned, "--no-wait", "--format", "json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "updated" and result["changed"]
    assert result["image"] == f"{REGISTRY}/event/storefront@{NEW}"
    assert result["previous_image"].endswith(OLD)
    svc = ecs.describe_services(cluster="event", services=["storefront"])["services"][0]
    assert svc["taskDefinition"] == result["task_definition"] != result["previous_task_definition"]
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert svc["deploymentConfiguration"] == DEPLOYMENT_CONFIGURATION
    old = ecs.describe_task_definition(taskDefinition=result["previous_task_definition"], include=["TAGS"])
    new = ecs.describe_task_definition(taskDefinition=result["task_definition"], include=["TAGS"])
    # only the image changed: roles, sizes, ports, environment and tags carried over
    (old_c,), (new_c,) = old["taskDefinition"]["containerDefinitions"], new["taskDefinition"]["containerDefinitions"]
    assert new_c["image"] == result["image"]
    assert {k: v for k, v in new_c.items() if k != "image"} == {k: v for k, v in old_c.items() if k != "image"}
    for key in ("family", "cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn",
                "requiresCompatibilities"):
        assert new["taskDefinition"][key] == old["taskDefinition"][key], key
    assert new["tags"] == old["tags"]
    assert new["taskDefinition"]["revision"] == old["taskDefinition"]["revision"] + 1

    revisions = _revisions(ecs)
    assert main(["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", pinned]) == 0
    assert f"already at {REGISTRY}/event/storefront@{NEW[:19]}, nothing to do" in capsys.readouterr().out
    assert _revisions(ecs) == revisions  # no new revision, no update


def test_same_digest_from_the_failover_registry_is_rolled_out(ecs, pinned, catalog, capsys) -> None:
    """After ``gantry dr failover`` the pin keeps the digest but names Tokyo: the service must move."""
    args = ["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", pinned, "--no-wait", "--format", "json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    tokyo = "127.0.0.1:5001"
    bump(pinned, catalog=catalog, service="storefront", environment="event", image=f"{tokyo}/event/storefront",
         digest=NEW, tag="fix1")
    assert main(args) == 0
    moved = json.loads(capsys.readouterr().out)
    assert moved["status"] == "updated" and moved["changed"]
    assert moved["previous_image"] == first["image"] == f"{REGISTRY}/event/storefront@{NEW}"
    assert moved["image"] == f"{tokyo}/event/storefront@{NEW}"
    (container,) = ecs.describe_task_definition(taskDefinition=moved["task_definition"])["taskDefinition"][
        "containerDefinitions"]
    assert container["image"] == f"{tokyo}/event/storefront@{NEW}"


def test_dry_run_registers_nothing(ecs, pinned, catalog, capsys) -> None:
    before = _revisions(ecs)
    assert main(["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", pinned, "--dry-run"]) == 0
    assert "would register a new revision of event-storefront:1" in capsys.readouterr().out
    assert _revisions(ecs) == before
    svc = ecs.describe_services(cluster="event", services=["storefront"])["services"][0]
    assert svc["taskDefinition"] == before[0]


def test_wait_reports_progress_and_times_out(ecs, pinned, catalog, capsys) -> None:
    # moto registers the update but never runs tasks: the rollout stays unfinished
    code = main(["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", pinned,
                 "--timeout", "1s", "--interval", "0.2s"])
    err = capsys.readouterr().err
    assert code == 1
    assert "event deploy storefront:" in err
    assert err.strip().splitlines()[-1].startswith("gantry: event deploy: storefront: rollout not complete after 1s")


def test_missing_service_and_wrong_platform_are_one_line(ecs, pinned, catalog, capsys) -> None:
    # event-api is pinned in git but has no ECS service: the stack is not up
    assert main(["event", "deploy", "--catalog", catalog.source, "--service", "event-api", "--repo", pinned]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no ECS service 'event-api' in cluster 'event'" in err[0]
    assert main(["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--env", "prod", "--repo", pinned]) == 2
    assert capsys.readouterr().err.strip() == ("gantry: event deploy: --env: Argo CD deploys prod (eks) from the "
                                               "GitOps repo; not ECS Fargate (use gantry gitops bump)")


def test_not_pinned_is_an_error(ecs, tmp_path: Path, catalog, capsys) -> None:
    bare = tmp_path / "empty.git"
    init_repo(bare, catalog, catalog.services_in("event"), "event", REGISTRY)
    assert main(["event", "deploy", "--catalog", catalog.source, "--service", "storefront", "--repo", bare.as_uri()]) == 2
    assert "no digest pinned in event for: storefront" in capsys.readouterr().err


# Shapes of DescribeServices' deployments as the ECS API reference documents them.
ARN1, ARN2 = ("arn:aws:ecs:ap-northeast-2:123456789012:task-definition/event-storefront:1",
              "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/event-storefront:2")


def _dep(arn: str, status: str, rollout: str, running: int = 2, reason: str = "") -> dict:
    return {"id": f"ecs-svc/{arn[-1]}", "status": status, "taskDefinition": arn, "desiredCount": 2,
            "pendingCount": 2 - running, "runningCount": running, "failedTasks": 0,
            "rolloutState": rollout, "rolloutStateReason": reason}


@pytest.mark.parametrize(("service", "done", "failed", "text"), [
    ({"taskDefinition": ARN2, "deployments": [_dep(ARN2, "PRIMARY", "IN_PROGRESS", 1), _dep(ARN1, "ACTIVE", "COMPLETED")]},
     False, False, "running 1/2, pending 1"),
    ({"taskDefinition": ARN2, "deployments": [_dep(ARN2, "PRIMARY", "COMPLETED")]}, True, False, "rollout COMPLETED"),
    ({"taskDefinition": ARN1, "deployments": [
        _dep(ARN1, "PRIMARY", "IN_PROGRESS"),
        _dep(ARN2, "ACTIVE", "FAILED", 0, "ECS deployment circuit breaker: tasks failed to start.")]},
     True, True, "rollout FAILED (circuit breaker rolled back): ECS deployment circuit breaker: tasks failed"),
    ({"taskDefinition": ARN1, "deployments": [_dep(ARN1, "PRIMARY", "COMPLETED")]}, True, True, "rolled back or replaced"),
])
def test_rollout_state(service: dict, done: bool, failed: bool, text: str) -> None:
    state = rollout_state(service, ARN2)
    assert (state.done, state.failed) == (done, failed)
    assert text in state.message
