"""The lifecycle handler, in-process, against moto (DMS, RDS, Secrets Manager, SNS) with a local
HTTP server playing Slack and a stand-in `terraform` executable that records its arguments."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from pytest_httpserver import HTTPServer

from pipeline_lib.core.errors import GantryError
from pipeline_lib.event.lifecycle import Handler, LifecycleConfig

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
HOOK = "/services/T0FLASH/B0EVENT/not-a-real-secret"


@pytest.fixture()
def slack(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    return httpserver


def _messages(server: HTTPServer) -> list[str]:
    return [json.loads(req.get_data())["text"] for req, _ in server.log]


@pytest.fixture()
def terraform(tmp_path: Path) -> tuple[Path, Path]:
    """A `terraform` stand-in: logs '<args>' per call; fails while <fail-count> file is > 0."""
    log, fails = tmp_path / "tf.log", tmp_path / "tf.fail"
    script = tmp_path / "terraform"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {log}
n=$(cat {fails} 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then echo $((n-1)) > {fails}; echo "Error: stand-in failure" >&2; exit 1; fi
exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


@pytest.fixture()
def stack(aws_env, slack: HTTPServer, tmp_path: Path):
    """What infra/envs/event and the event runner leave in AWS (created here as Terraform would)."""
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="event/slack-webhook", SecretString=slack.url_for(HOOK))
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="event-alarms")["TopicArn"]
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier="event", Engine="postgres", DBInstanceClass="db.r6g.large",
                           MasterUsername="shop_admin", MasterUserPassword="not-a-secret-1", AllocatedStorage=100,
                           MultiAZ=True)
    dms = boto3.client("dms", region_name=REGION)
    inst = dms.create_replication_instance(ReplicationInstanceIdentifier="event",
                                           ReplicationInstanceClass="dms.c6i.large")["ReplicationInstance"]
    src, dst = (dms.create_endpoint(EndpointIdentifier=f"event-{kind}", EndpointType=kind, EngineName="postgres",
                                    ServerName="db.internal", Port=5432, DatabaseName="shop")["Endpoint"]
                for kind in ("source", "target"))
    task = dms.create_replication_task(
        ReplicationTaskIdentifier="event-final-sync", SourceEndpointArn=src["EndpointArn"],
        TargetEndpointArn=dst["EndpointArn"], ReplicationInstanceArn=inst["ReplicationInstanceArn"],
        MigrationType="full-load", TableMappings=json.dumps({"rules": []}))["ReplicationTask"]
    # A rehearsal run during the event: it does not count as the final sync.
    dms.start_replication_task(ReplicationTaskArn=task["ReplicationTaskArn"], StartReplicationTaskType="start-replication")
    dms.stop_replication_task(ReplicationTaskArn=task["ReplicationTaskArn"])
    event_root = tmp_path / "envs" / "event"
    event_root.mkdir(parents=True)
    return {"dms": dms, "rds": rds, "task_arn": task["ReplicationTaskArn"], "topic": topic,
            "event_root": event_root, "event_end": datetime.now(timezone.utc)}


def _handler(stack, terraform, **overrides) -> Handler:
    cfg = LifecycleConfig(event_name="spring-sale", event_end=stack["event_end"], region=REGION,
                          sns_topic_arn=stack["topic"], event_root=stack["event_root"],
                          terraform_cmd=(str(terraform[0]),), window_seconds=1.0, retry_interval=0.2,
                          sync_wait_seconds=0.25, poll_seconds=0.05)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return Handler(cfg, log=lambda _msg: None)


def _task(stack) -> dict:
    return stack["dms"].describe_replication_tasks(
        Filters=[{"Name": "replication-task-id", "Values": ["event-final-sync"]}])["ReplicationTasks"][0]


def _snapshots(stack) -> list[str]:
    return [s["DBSnapshotIdentifier"] for s in stack["rds"].describe_db_snapshots(DBInstanceIdentifier="event", SnapshotType="manual")["DBSnapshots"]]


def test_destroy_refuses_until_final_sync_completes_then_is_idempotent(stack, terraform, slack) -> None:
    handler = _handler(stack, terraform)

    # 1. The final sync is started but has not completed: destroy is refused, Slack hears of
    #    every attempt, and the handler gives up when the retry window closes.
    with pytest.raises(GantryError) as exc:
        handler.run("destroy")
    assert exc.value.exit_code == 1
    assert "has not completed (status running, 100% loaded); refusing to destroy" in str(exc.value)
    assert not terraform[1].exists()                         # terraform never ran
    assert _snapshots(stack) == []
    msgs = _messages(slack)
    assert len(msgs) >= 2
    assert all(m.startswith("[gantry event spring-sale] ") for m in msgs)
    assert "Retrying in 0s" in msgs[0] and "giving up" in msgs[-1]
    started = _task(stack)["ReplicationTaskStartDate"]

    # 2. DMS finishes the full load.
    stack["dms"].stop_replication_task(ReplicationTaskArn=stack["task_arn"])

    # 3. Now: sync completed -> final snapshot -> terraform destroy, in one attempt.
    outcome = handler.run("destroy")
    assert outcome.attempts == 1
    assert outcome.actions == ["final sync: already completed", "snapshot event-spring-sale-final: created",
                               "terraform destroy: ok",
                               "sweep: nothing left behind (1 kept on purpose)"]
    assert _snapshots(stack) == ["event-spring-sale-final"]
    assert terraform[1].read_text().splitlines() == ["init -input=false -no-color", "destroy -auto-approve -input=false -no-color"]

    # 4. A second invocation does nothing harmful: no new sync, no second snapshot.
    again = handler.run("destroy")
    assert again.actions[:2] == ["final sync: already completed", "snapshot event-spring-sale-final: already exists"]
    assert _task(stack)["ReplicationTaskStartDate"] == started
    assert _snapshots(stack) == ["event-spring-sale-final"]


def test_create_retries_a_failed_apply_and_reports_it(stack, terraform, slack, tmp_path: Path) -> None:
    (tmp_path / "tf.fail").write_text("1")                    # the first terraform call fails
    outcome = _handler(stack, terraform, window_seconds=5.0).run("create")
    assert outcome.attempts == 2
    assert terraform[1].read_text().splitlines() == [
        "init -input=false -no-color", "init -input=false -no-color", "apply -auto-approve -input=false -no-color"]
    msgs = _messages(slack)
    assert len(msgs) == 1
    assert "create failed (attempt 1): terraform init exited 1: Error: stand-in failure" in msgs[0]


def test_missing_task_without_snapshot_refuses(stack, terraform, slack) -> None:
    stack["dms"].delete_replication_task(ReplicationTaskArn=stack["task_arn"])
    with pytest.raises(GantryError, match="cannot prove event orders reached prod; refusing to destroy"):
        _handler(stack, terraform, window_seconds=0.1).run("destroy")
    assert not terraform[1].exists()


def test_lifecycle_cli_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline_lib.cli import main

    assert main(["event", "lifecycle", "--name", "s", "--step", "destroy", "--event-end", "2027-03-05T22:00"]) == 2
    assert "gantry: event lifecycle: --event-end: needs a UTC offset" in capsys.readouterr().err
    assert main(["event", "lifecycle", "--name", "s", "--step", "destroy", "--event-end",
                 "2027-03-05T22:00+09:00", "--window", "soon"]) == 2
    assert "gantry: event lifecycle: --window: 'soon' is not a duration" in capsys.readouterr().err
