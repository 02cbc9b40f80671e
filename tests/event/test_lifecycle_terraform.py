"""`gantry event lifecycle --step create` then `--step destroy` with REAL Terraform on the real
infra/envs/event (a temp copy), against moto in server mode, with the image digests pinned in a
real (bare git) GitOps repo.

What moto 5 cannot run is switched off by the test-only overrides in tests/event/moto_overrides/
(one line of reason each); the provider and backend point at moto through generated override
files (pipeline_lib.infra.localaws). The DMS final sync keeps a boto3-made stand-in task (moto
cannot run DMS tasks): destroy is refused until it has completed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from gitops.bump import bump, default_image
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.event.readiness import Inputs, evaluate
from pipeline_lib.infra.check import resolve_cli_config
from pipeline_lib.infra.localaws import write_local_state, write_overrides
from pipeline_lib.localparts.moto_server import MotoServer
from tests.gitops.conftest import digest, gitops_repo  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INFRA = PROJECT_ROOT / "infra"
CATALOG = PROJECT_ROOT / "jobs" / "catalog.yaml"
OVERRIDES = Path(__file__).parent / "moto_overrides"
REGION = "ap-northeast-2"
PROD_CIDR = "10.20.0.0/16"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


def _ours(tmp: Path, port: int) -> list[str]:
    """Processes still running from this test: cwd or command line in ``tmp``, or moto on ``port``."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(tmp) in cmd or cwd.startswith(str(tmp)) or (port and f"moto.server -H 127.0.0.1 -p {port}" in cmd):
            found.append(f"{pid}: {cmd[:120]}")
    return found


@pytest.fixture()
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server of its own (managed IAM policies loaded); afterwards no process of the test is left."""
    server = MotoServer(tmp_path / "moto", settings={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    try:
        server.start()
        for k, v in {"AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "testing",
                     "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield server
    finally:
        port = server.port
        server.stop()
        left = _ours(tmp_path, port)
        assert not left, f"processes left running: {left}"


def _fake_prod(url: str) -> dict:
    """What the prod stack's outputs point at: a VPC, its private route tables, the DMS user's secret and key."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock=PROD_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "prod"}]}])["Vpc"]["VpcId"]
    tables = [ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(2)]
    key = boto3.client("kms", region_name=REGION, endpoint_url=url).create_key()["KeyMetadata"]["Arn"]
    secret = boto3.client("secretsmanager", region_name=REGION, endpoint_url=url).create_secret(
        Name="prod/dms-replication", KmsKeyId=key, SecretString=json.dumps(
            {"username": "dms_replication", "password": "not-a-secret-1", "host": "prod.db.internal", "port": 5432}))["ARN"]
    return {"vpc_id": vpc, "vpc_cidr_block": PROD_CIDR, "private_route_table_ids": tables,
            "db": {"address": "prod.db.internal", "port": 5432, "secret_arn": secret, "kms_key_arn": key}}


def _event_copy(tmp: Path, url: str, prod_outputs: dict) -> Path:
    copy = tmp / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "images.auto.tfvars.json"))
    for src in OVERRIDES.rglob("*.tf"):
        shutil.copy(src, copy / src.relative_to(OVERRIDES))
    root = copy / "envs" / "event"
    prod_state = write_local_state(tmp / "prod.tfstate", prod_outputs)
    write_overrides(root, url, tmp / "event.tfstate", {"prod": prod_state})
    return root


def _pin(catalog: Catalog, bare: Path) -> dict[str, str]:
    pinned = {}
    for i, svc in enumerate(catalog.services_in("event")):
        pinned[svc.name] = digest("0123456789abcdef"[i])
        bump(bare.as_uri(), catalog=catalog, service=svc.name, environment="event",
             image=default_image(catalog, svc.name, "event"), digest=pinned[svc.name], tag=f"v2.{i}")
    return pinned


def _dms_stand_in(url: str) -> tuple[object, str]:
    """The final-sync task Terraform would create (moto cannot run DMS tasks), with a rehearsal run."""
    dms = boto3.client("dms", region_name=REGION, endpoint_url=url)
    inst = dms.create_replication_instance(ReplicationInstanceIdentifier="stand-in",
                                           ReplicationInstanceClass="dms.c6i.large")["ReplicationInstance"]
    src, dst = (dms.create_endpoint(EndpointIdentifier=f"stand-in-{kind}", EndpointType=kind, EngineName="postgres",
                                    ServerName="db.internal", Port=5432, DatabaseName="shop")["Endpoint"]
                for kind in ("source", "target"))
    arn = dms.create_replication_task(
        ReplicationTaskIdentifier="event-final-sync", SourceEndpointArn=src["EndpointArn"],
        TargetEndpointArn=dst["EndpointArn"], ReplicationInstanceArn=inst["ReplicationInstanceArn"],
        MigrationType="full-load", TableMappings=json.dumps({"rules": []}))["ReplicationTask"]["ReplicationTaskArn"]
    dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    dms.stop_replication_task(ReplicationTaskArn=arn)
    return dms, arn


def _lifecycle(step: str, root: Path, end: datetime, *extra: str) -> int:
    return main(["event", "lifecycle", "--name", "spring-sale", "--step", step, "--event-end", end.isoformat(),
                 "--region", REGION, "--event-root", str(root), "--catalog", str(CATALOG),
                 "--ledger", str(root.parent.parent.parent / "ledger.json"),
                 "--window", "1s", "--retry-interval", "1s", *extra])


def _readiness_inputs(catalog: Catalog, repo: Path, tmp: Path) -> Inputs:
    def unused(_: str) -> object:
        raise AssertionError("not used by the stack and digest checks")
    return Inputs(catalog=catalog, environment="event", aws=lambda name: boto3.client(name, region_name=REGION),
                  registry=unused, host_for=unused, gitops_repo=repo.as_uri(), cluster="event",
                  tf_state=tmp / "event.tfstate")


def _event_vpcs(ec2) -> list[dict]:
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["event"]}])["Vpcs"]


def test_create_then_destroy_with_real_terraform(moto: MotoServer, catalog: Catalog, gitops_repo: Path,  # noqa: F811
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(resolve_cli_config(None, tmp_path)))
    monkeypatch.setenv("TF_VAR_redis_auth_token", "not-a-secret-token-0123456789")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    prod = _fake_prod(moto.url)
    root = _event_copy(tmp_path, moto.url, prod)
    pinned = _pin(catalog, gitops_repo)
    aws = {name: boto3.client(name, region_name=REGION, endpoint_url=moto.url)
           for name in ("ec2", "ecs", "rds", "elbv2", "cloudfront")}

    # --- create: pin the images from the GitOps repo, terraform apply ---
    t0 = time.monotonic()
    rc = _lifecycle("create", root, datetime.now(timezone.utc), "--gitops-repo", gitops_repo.as_uri())
    apply_s = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]
    assert json.loads((root / "images.auto.tfvars.json").read_text()) == {"image_digests": pinned,
                                                                         "image_registry": catalog.registry_host}

    vpcs = _event_vpcs(aws["ec2"])
    assert [v["CidrBlock"] for v in vpcs] == ["10.30.0.0/16"]
    peerings = [p for p in aws["ec2"].describe_vpc_peering_connections()["VpcPeeringConnections"]
                if p["Status"]["Code"] == "active"]
    assert [(p["RequesterVpcInfo"]["VpcId"], p["AccepterVpcInfo"]["VpcId"]) for p in peerings] == \
        [(vpcs[0]["VpcId"], prod["vpc_id"])]
    back = [r for t in aws["ec2"].describe_route_tables(RouteTableIds=prod["private_route_table_ids"])["RouteTables"]
            for r in t["Routes"] if r.get("VpcPeeringConnectionId") == peerings[0]["VpcPeeringConnectionId"]]
    assert [r["DestinationCidrBlock"] for r in back] == ["10.30.0.0/16"] * 2

    arns = aws["ecs"].list_services(cluster="event")["serviceArns"]
    services = aws["ecs"].describe_services(cluster="event", services=arns)["services"]
    wanted = json.loads((root / "catalog.auto.tfvars.json").read_text())["services"]
    images = {}
    for svc in services:
        assert svc["status"] == "ACTIVE" and svc["launchType"] == "FARGATE"
        assert svc["desiredCount"] == wanted[svc["serviceName"]]["replicas_min"]
        td = aws["ecs"].describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        images[svc["serviceName"]] = td["containerDefinitions"][0]["image"]
    repos = {s.name: s.environment("event").ecr_repository for s in catalog.services_in("event")}
    assert sorted(images.values()) == sorted(f"{catalog.registry_host}/{repos[name]}@{d}" for name, d in pinned.items())

    # the go/no-go's stack and digest checks agree with what Terraform really created
    ready = evaluate(_readiness_inputs(catalog, gitops_repo, tmp_path), only=["stack-applied", "digests-pinned"])
    assert [(r.name, r.status) for r in ready.results] == [("stack-applied", "pass"), ("digests-pinned", "pass")], \
        ready.to_json()

    db = aws["rds"].describe_db_instances(DBInstanceIdentifier="event")["DBInstances"][0]
    assert db["MultiAZ"] and db["StorageEncrypted"] and not db["DeletionProtection"]
    assert [lb["LoadBalancerName"] for lb in aws["elbv2"].describe_load_balancers()["LoadBalancers"]] == ["event-alb"]
    dists = aws["cloudfront"].list_distributions()["DistributionList"].get("Items", [])
    assert [d["Comment"] for d in dists] == ["event"]

    # --- destroy: refused while the final DMS sync has not completed ---
    dms, task_arn = _dms_stand_in(moto.url)
    end = datetime.now(timezone.utc)
    assert _lifecycle("destroy", root, end, "--sync-wait", "1s") == 1
    assert "refusing to destroy" in capsys.readouterr().err
    assert len(_event_vpcs(aws["ec2"])) == 1                       # terraform destroy never ran
    assert aws["rds"].describe_db_snapshots(DBInstanceIdentifier="event", SnapshotType="manual")["DBSnapshots"] == []

    # --- the sync completes: final snapshot, terraform destroy ---
    dms.stop_replication_task(ReplicationTaskArn=task_arn)
    t0 = time.monotonic()
    rc = _lifecycle("destroy", root, end, "--sync-wait", "1s")
    destroy_s = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]

    assert _event_vpcs(aws["ec2"]) == []
    assert [p for p in aws["ec2"].describe_vpc_peering_connections()["VpcPeeringConnections"]
            if p["Status"]["Code"] not in ("deleted", "rejected")] == []
    assert aws["rds"].describe_db_instances()["DBInstances"] == []
    assert [s["DBSnapshotIdentifier"] for s in aws["rds"].describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]] \
        == ["event-spring-sale-final"]
    assert [c for c in aws["ecs"].describe_clusters(clusters=["event"])["clusters"] if c["status"] == "ACTIVE"] == []
    assert aws["elbv2"].describe_load_balancers()["LoadBalancers"] == []
    assert aws["cloudfront"].list_distributions()["DistributionList"].get("Items", []) == []
    state = json.loads((tmp_path / "event.tfstate").read_text())
    assert state["resources"] == []
    # and nothing named for the event stack elsewhere (S3, IAM, Secrets Manager, logs, security groups)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto.url)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("event-")] == []
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto.url)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("event-")] == []
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto.url)
    assert [x["Name"] for x in sm.list_secrets()["SecretList"] if x["Name"].startswith("event")] == []
    logs = boto3.client("logs", region_name=REGION, endpoint_url=moto.url)
    assert logs.describe_log_groups(logGroupNamePrefix="/ecs/event")["logGroups"] == []
    assert aws["ec2"].describe_security_groups(Filters=[{"Name": "tag:Environment", "Values": ["event"]}])[
        "SecurityGroups"] == []
    after = evaluate(_readiness_inputs(catalog, gitops_repo, tmp_path), only=["stack-applied"])
    assert after.results[0].status == "fail" and "not applied" in after.results[0].detail
    # the sweep (the lifecycle ran it: destroy succeeded) finds 0 tagged leftovers; the final snapshot is kept
    assert "sweep: nothing left behind (1 kept on purpose)" in err
    assert main(["event", "sweep", "--env", "event", "--catalog", str(CATALOG), "--region", REGION,
                 "--dry-run", "--format", "json"]) == 0
    swept = json.loads(capsys.readouterr().out)
    assert swept["remaining"] == 0
    assert [(r["kind"], r["status"]) for r in swept["resources"]] == [("rds-snapshot", "kept")]
    # and the ledger has the event, costed from create to destroy
    ledger = json.loads((tmp_path / "ledger.json").read_text())["events"]
    assert [(e["event"], e["status"]) for e in ledger] == [("spring-sale", "destroyed")]
    assert ledger[0]["hours"] > 0 and ledger[0]["event_usd"] > ledger[0]["snapshot_usd"]
    print(f"\nevent stack on moto: apply {apply_s:.0f}s, destroy {destroy_s:.0f}s")
