"""EventBridge Scheduler schedules for an event: created, updated and deleted idempotently (moto)."""

from __future__ import annotations

import json

import boto3
import pytest

from pipeline_lib.cli import main

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"


@pytest.fixture()
def runner(aws_env):
    """What infra/modules/event-runner creates: the runner project and the schedule group."""
    cb = boto3.client("codebuild", region_name=REGION)
    cb.create_project(name="event-runner", source={"type": "GITHUB", "location": "https://github.com/flashshop/gantry.git"},
                      artifacts={"type": "NO_ARTIFACTS"},
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"},
                      serviceRole="arn:aws:iam::123456789012:role/event-runner")
    sch = boto3.client("scheduler", region_name=REGION)
    sch.create_schedule_group(Name="event-events")
    return sch


def _schedule(*extra: str) -> int:
    return main(["event", "schedule", "--name", "spring-sale", "--tz", "Asia/Seoul", *extra])


def test_schedules_created_updated_deleted_idempotently(runner, capsys: pytest.CaptureFixture[str]) -> None:
    times = ["--start", "2027-03-05T10:00", "--end", "2027-03-05T22:00"]
    assert _schedule(*times) == 0
    out = capsys.readouterr().out
    assert "spring-sale-create: created" in out and "spring-sale-destroy: created" in out
    assert "create at 2027-03-04T22:00:00+09:00, destroy at 2027-03-05T23:00:00+09:00 (25 h)" in out

    create = runner.get_schedule(GroupName="event-events", Name="spring-sale-create")
    assert create["ScheduleExpression"] == "at(2027-03-04T22:00:00)"       # D-1 22:00 local
    assert create["ScheduleExpressionTimezone"] == "Asia/Seoul"
    assert create["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:codebuild:startBuild"
    build = json.loads(create["Target"]["Input"])
    assert build["ProjectName"] == "event-runner"
    assert {"Name": "EVENT_STEP", "Value": "create", "Type": "PLAINTEXT"} in build["EnvironmentVariablesOverride"]
    destroy = runner.get_schedule(GroupName="event-events", Name="spring-sale-destroy")
    assert destroy["ScheduleExpression"] == "at(2027-03-05T23:00:00)"      # end + 1h

    assert _schedule(*times) == 0                                           # same input: nothing changes
    out = capsys.readouterr().out
    assert "spring-sale-create: unchanged" in out and "spring-sale-destroy: unchanged" in out

    assert _schedule("--start", "2027-03-05T10:00", "--end", "2027-03-06T02:00") == 0  # event extended
    out = capsys.readouterr().out
    assert "spring-sale-create: updated" in out      # its input carries EVENT_END
    assert "spring-sale-destroy: updated" in out
    assert runner.get_schedule(GroupName="event-events", Name="spring-sale-destroy")[
        "ScheduleExpression"] == "at(2027-03-06T03:00:00)"

    assert _schedule("--delete") == 0
    assert "spring-sale-create: deleted" in capsys.readouterr().out
    assert _schedule("--delete") == 0
    out = capsys.readouterr().out
    assert "spring-sale-create: absent" in out and "spring-sale-destroy: absent" in out
    assert runner.list_schedules(GroupName="event-events")["Schedules"] == []


def test_missing_runner_and_bad_input_are_one_line_errors(aws_env, capsys: pytest.CaptureFixture[str]) -> None:
    assert _schedule("--start", "2027-03-05T10:00", "--end", "2027-03-05T22:00") == 2
    assert "gantry: event schedule: --project: CodeBuild project 'event-runner' not found" in capsys.readouterr().err
    assert _schedule("--start", "2027-03-05T22:00", "--end", "2027-03-05T10:00") == 2
    assert "gantry: event schedule: --end: 2027-03-05T10:00 is not after --start" in capsys.readouterr().err
    assert _schedule("--start", "2027-03-05T10:00", "--end", "2027-03-05T22:00", "--tz", "Mars/Base") == 2
    assert "gantry: event schedule: --tz: unknown time zone 'Mars/Base'" in capsys.readouterr().err
    assert _schedule("--start", "2020-03-05T10:00", "--end", "2020-03-05T22:00") == 2
    assert "gantry: event schedule: --end: the event is over" in capsys.readouterr().err
