"""`gantry event sweep` and the lifecycle's post-destroy sweep, against moto: leftovers made on
purpose (a tagged log group under no stack prefix, a log group under the stack's prefix, an
untagged image in an event-only ECR repository) are found and priced; the prod runner's log
group and an image in a repository prod also uses are not; the lifecycle fails and alerts."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.event.sweep import Sweeper
from tests.event.test_lifecycle import _handler, _messages, slack, stack, terraform  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
TAGS = {"Environment": "event", "Lifetime": "event", "Project": "flashshop"}


def _manifest(config_size: int) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config_size,
                                  "digest": "sha256:" + "1" * 64},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000,
                                   "digest": "sha256:" + "2" * 64}]})


def _leftovers() -> dict[str, int]:
    """Make the leftovers (and look-alikes that are not); return the priced sizes in bytes."""
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/custom/orphan", tags=TAGS)            # tagged, no stack prefix
    logs.create_log_stream(logGroupName="/custom/orphan", logStreamName="s")
    logs.put_log_events(logGroupName="/custom/orphan", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x" * 5000}])
    logs.create_log_group(logGroupName="/ecs/event/storefront")                # the stack's prefix, untagged
    logs.create_log_group(logGroupName="/codebuild/event-runner", tags={"Environment": "prod"})  # prod's: not ours
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("event/event-api", "shop/storefront"):                       # event-only; shared with prod
        ecr.create_repository(repositoryName=repo)
        ecr.put_image(repositoryName=repo, imageManifest=_manifest(300 * 1024 * 1024))   # untagged
    return {"/custom/orphan": 5000, "event/event-api": 300 * 1024 * 1024}


def test_sweep_finds_prices_and_deletes_leftovers(aws_env, capsys: pytest.CaptureFixture[str]) -> None:
    sizes = _leftovers()
    assert main(["event", "sweep", "--env", "event", "--dry-run", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    by_kind = sorted((r["kind"], r["id"].split("@")[0], r["status"]) for r in found["resources"])
    assert by_kind == [("ecr-image", "ecr:event/event-api", "left"), ("log-group", "log-group:/custom/orphan", "left"),
                       ("log-group", "log-group:/ecs/event/storefront", "left")]
    price = {r["id"].split("@")[0]: r["monthly_usd"] for r in found["resources"]}
    gb = 1024 ** 3
    # hand calculation: ECR 0.10 USD/GB-month, CloudWatch Logs storage 0.0314 USD/GB-month (cost.py, 2026-11-15)
    assert price["ecr:event/event-api"] == pytest.approx(sizes["event/event-api"] / gb * 0.10, rel=0.01)
    assert price["log-group:/custom/orphan"] == pytest.approx(sizes["/custom/orphan"] / gb * 0.0314, rel=0.01, abs=1e-4)
    assert found["monthly_usd"] == pytest.approx(sum(price.values()), abs=1e-3)
    assert [r for r in found["resources"] if "untagged" in r["detail"]], found

    assert main(["event", "sweep", "--env", "event"]) == 0                    # deletes; nothing remains
    out = capsys.readouterr().out
    assert out.count("deleted ") == 3 and out.rstrip().endswith("nothing left behind")
    logs = boto3.client("logs", region_name=REGION)
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/codebuild/event-runner"]
    assert len(boto3.client("ecr", region_name=REGION).describe_images(repositoryName="shop/storefront")[
        "imageDetails"]) == 1


def test_lifecycle_destroy_fails_and_alerts_on_a_leftover(stack, terraform, slack) -> None:  # noqa: F811
    stack["dms"].start_replication_task(ReplicationTaskArn=stack["task_arn"], StartReplicationTaskType="reload-target")
    stack["dms"].stop_replication_task(ReplicationTaskArn=stack["task_arn"])   # the final sync completed
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/custom/orphan", tags=TAGS)
    with pytest.raises(GantryError) as exc:
        _handler(stack, terraform).run("destroy")
    assert exc.value.exit_code == 1
    assert "1 resource(s) left behind" in str(exc.value) and "log-group:/custom/orphan" in str(exc.value)
    assert any("left behind (est. 0.00 USD/month): log-group:/custom/orphan" in m for m in _messages(slack))


def test_deleted_resources_the_tagging_api_still_lists_are_not_leftovers(aws_env) -> None:
    """NAT gateways and peerings stay listed as ``deleted``, ECS clusters, services and task
    definitions as ``INACTIVE``, KMS keys pending deletion (as after the real destroy): they bill nothing."""
    tags = [{"Key": k, "Value": v} for k, v in TAGS.items()]
    ec2, ecs = boto3.client("ec2", region_name=REGION), boto3.client("ecs", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": tags}])["NatGateway"]["NatGatewayId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=other, TagSpecifications=[
        {"ResourceType": "vpc-peering-connection", "Tags": tags}])["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in TAGS.items()])["KeyMetadata"]["KeyId"]
    ecs_tags = [{"key": k, "value": v} for k, v in TAGS.items()]
    ecs.create_cluster(clusterName="event", tags=ecs_tags)
    td = ecs.register_task_definition(family="event-api", tags=ecs_tags, containerDefinitions=[
        {"name": "event-api", "image": "x/y@sha256:" + "3" * 64, "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="event", serviceName="event-api", taskDefinition=td, desiredCount=0, tags=ecs_tags)
    clients: dict = {}
    sweeper = Sweeper(lambda name: clients.setdefault(name, boto3.client(name, region_name=REGION)), load_catalog())
    assert {x.kind for x in sweeper.tagged()} == {          # alive: all found (the VPC: no price, still listed)
        "tagged ec2:natgateway", "tagged ec2:vpc-peering-connection", "tagged ecs:cluster", "tagged ecs:service",
        "tagged ecs:task-definition", "tagged ec2:vpc", "tagged kms:key"}
    ec2.delete_nat_gateway(NatGatewayId=nat)
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ecs.delete_service(cluster="event", service="event-api", force=True)
    ecs.deregister_task_definition(taskDefinition=td)
    ecs.delete_cluster(cluster="event")
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)             # what terraform destroy does
    assert sweeper.tagged() == []


def test_a_secret_pending_deletion_is_found_the_runners_secret_is_not(aws_env) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    for name in ("event/dms-replication", "event/slack-webhook"):             # the stack's; the runner's (prod)
        sm.create_secret(Name=name, SecretString="not-a-secret")
        sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    clients: dict = {}
    found = Sweeper(lambda name: clients.setdefault(name, boto3.client(name, region_name=REGION)), load_catalog()).secrets()
    assert [(x.kind, x.detail.split(" (")[0], x.monthly_usd) for x in found] == [
        ("secret pending deletion", "secret event/dms-replication", 0.40)]
