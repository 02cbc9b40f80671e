"""Freeze windows (issue 24 item 4): 1 000 bumps at random times across a month with two windows
(an injected clock) -> 0 prod writes inside them; break-glass is exactly one commit with its
reason and a Slack post; the event calendar's sale window freezes prod."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from werkzeug import Response

from gitops.git import checkout
from gitops.writeback import GUARDS, PinEdit, Stamp, freeze_guard, run_guards, write_edits
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import CheckFailed, GantryError
from pipeline_lib.core.freeze import Recurring, Window, parse_spec, to_json
from tests.conftest import git
from tests.gitops.conftest import REGISTRY, digest
from tests.support.catalogs import shipped_evidence_off


@pytest.fixture()
def gitops_repo(tmp_path: Path, catalog) -> Path:
    """A bare GitOps repo with the prod layout only (what these tests write)."""
    from gitops.layout import init_repo
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("prod"), "prod", REGISTRY)
    return bare

UTC = timezone.utc
KST = timezone(timedelta(hours=9))
YEAR_END = {"name": "year-end", "start": "2026-12-24T00:00:00+09:00", "end": "2026-12-26T00:00:00+09:00"}
SATURDAYS = {"name": "saturday-sale", "every": ["sat"], "at": "10:00", "for": "6h", "tz": "Asia/Seoul"}
# the truth, written out by hand: year-end, and Saturdays 10:00-16:00 KST in December 2026
INSIDE = [(datetime(2026, 12, 24, tzinfo=KST), datetime(2026, 12, 26, tzinfo=KST))] + [
    (datetime(2026, 12, d, 10, tzinfo=KST), datetime(2026, 12, d, 16, tzinfo=KST)) for d in (5, 12, 19, 26)]


def _inside(t: datetime) -> bool:
    return any(a <= t < b for a, b in INSIDE)


def _edit(catalog, stamp: Stamp, i: int) -> PinEdit:
    env = catalog.service("storefront").environment("prod")
    return PinEdit("storefront", "prod", env.ecr_repository, env.manifest, env.manifest_format, env.values_key,
                   f"{REGISTRY}/shop/storefront", digest("0123456789abcdef"[i % 16]), f"b{i}", f"https://ci/{i}",
                   **stamp.fields())


def test_1000_bumps_across_a_month_never_write_inside_a_window(gitops_repo: Path, catalog, tmp_path: Path) -> None:
    specs = [parse_spec(YEAR_END), parse_spec(SATURDAYS)]
    assert isinstance(specs[1], Recurring) and isinstance(specs[0], Window)
    plain, glass = Stamp(freeze=tuple(to_json(specs))), Stamp(by="oncall", reason="checkout 500s", break_glass=True,
                                                                freeze=tuple(to_json(specs)))
    rng = random.Random(24)
    month = datetime(2026, 12, 1, tzinfo=UTC)
    times = [month + timedelta(seconds=rng.uniform(0, 31 * 86400)) for _ in range(1000 - 2 * len(INSIDE))]
    times += [a for a, _ in INSIDE] + [b for _, b in INSIDE]          # both edges of every window
    wd = checkout(gitops_repo.as_uri(), "main", tmp_path / "look")
    assert freeze_guard in GUARDS   # the guard evaluated below is the one write_edits runs
    refused = allowed = 0
    for i, t in enumerate(times):   # 1 000 bumps: the write path's guards at the injected time
        try:
            run_guards(wd, _edit(catalog, plain, i), t)
            allowed += 1
            assert not _inside(t), t
        except CheckFailed as exc:
            refused += 1
            assert _inside(t) and "frozen by window" in exc.what
    assert refused == sum(map(_inside, times)) > 50 and allowed + refused == 1000

    # a sample really written through write_edits with the injected clock
    url, work = gitops_repo.as_uri(), tmp_path / "work"
    base = git(gitops_repo, "rev-parse", "main")
    outside = [t for t in times if not _inside(t)][:2]
    inside = [t for t in times if _inside(t)][:3]
    written = 0
    for i, t in enumerate(outside + inside):
        (r,) = write_edits(url, "main", [_edit(catalog, plain, 100 + i)], workdir=work, now=lambda t=t: t)
        if _inside(t):
            assert isinstance(r, CheckFailed) and r.exit_code == 1 and ("year-end" in r.what or "saturday" in r.what)
        else:
            assert not isinstance(r, GantryError) and r.commit and r.break_glass is None
            written += 1
    # break glass inside a window, batched with a normal edit of another service outside freeze
    env = catalog.service("order-api").environment("prod")
    other = PinEdit("order-api", "prod", env.ecr_repository, env.manifest, env.manifest_format, env.values_key,
                    f"{REGISTRY}/shop/order-api", digest("e"), "o1")
    for j, t in enumerate(inside[:2]):
        res = write_edits(url, "main", [_edit(catalog, glass, 200 + j), other] if j == 0
                          else [_edit(catalog, glass, 200 + j)], workdir=work, now=lambda t=t: t)
        assert res[0].break_glass in ("year-end", "saturday-sale") and res[0].commit
        message = git(gitops_repo, "log", "-1", "--format=%B", res[0].commit)
        trailers = git(gitops_repo, "log", "-1", "--format=%(trailers:only,unfold)", res[0].commit)
        assert "Break-Glass: true" in trailers and "Reason: checkout 500s" in trailers and "By: oncall" in trailers
        assert message.count("Service: ") == 1           # its own commit: nothing else rides on the glass
    commits = git(gitops_repo, "rev-list", f"{base}..main").split()
    assert len(commits) == written + 3                   # 2 outside, order-api once, 2 break-glass
    glass_commits = [c for c in commits if "Break-Glass: true" in git(gitops_repo, "log", "-1", "--format=%B", c)]
    assert len(glass_commits) == 2


def _catalog_with_freeze(tmp_path: Path, block: str) -> Path:
    path = shipped_evidence_off(tmp_path / "cat")
    path.write_text(path.read_text() + block)
    load_catalog(path)
    return path


def test_break_glass_cli_posts_to_slack_once(gitops_repo: Path, tmp_path: Path, httpserver, monkeypatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    cat = _catalog_with_freeze(tmp_path, f"""    freeze:
      prod:
        windows:
          - {{name: incident-freeze, start: "{(now - timedelta(hours=1)).isoformat()}", end: "{(now + timedelta(hours=1)).isoformat()}"}}
""")
    posts = []
    httpserver.expect_request("/services/T0/B0/x", method="POST").respond_with_handler(
        lambda req: posts.append(req.get_json()) or Response("ok"))
    url = gitops_repo.as_uri()
    cli = ["gitops", "bump", "--catalog", str(cat), "--repo", url, "--env", "prod", "--service", "storefront",
           "--image", f"{REGISTRY}/shop/storefront", "--mode", "commit", "--digest", digest("a")]
    head = git(gitops_repo, "rev-parse", "main")
    assert main(cli) == 1
    assert "incident-freeze" in capsys.readouterr().err
    assert main([*cli, "--break-glass", "--reason", "x"]) == 2          # no Slack webhook: refused up front
    assert "SLACK_WEBHOOK_URL" in capsys.readouterr().err
    assert git(gitops_repo, "rev-parse", "main") == head
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/services/T0/B0/x"))
    assert main([*cli, "--break-glass", "--reason", "payments down", "--by", "dana"]) == 0
    assert git(gitops_repo, "rev-list", "--count", f"{head}..main") == "1"
    trailers = git(gitops_repo, "log", "-1", "--format=%(trailers:only,unfold)", "main")
    assert "Break-Glass: true" in trailers and "Reason: payments down" in trailers and "Freeze-Window: incident-freeze" in trailers
    assert len(posts) == 1 and "payments down" in posts[0]["text"] and "incident-freeze" in posts[0]["text"]
    capsys.readouterr()
    assert main(["gitops", "freeze", "status", "--catalog", str(cat), "--env", "prod", "--format", "json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["frozen"] and status["active"][0]["name"] == "incident-freeze"
    assert main(["gitops", "freeze", "status", "--catalog", str(cat), "--env", "prod", "--check"]) == 1
    assert main(["gitops", "freeze", "status", "--catalog", str(cat), "--env", "dev", "--check"]) == 0
    assert "frozen by window 'incident-freeze'" in capsys.readouterr().err
    assert main(["gitops", "history", "--catalog", str(cat), "--repo", url, "--env", "prod", "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)[0]
    assert (first["action"], first["break_glass"], first["reason"], first["by"]) == ("bump", True, "payments down", "dana")


def test_event_calendar_sale_window_freezes_prod(aws_env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cb = boto3.client("codebuild", region_name="ap-northeast-2")
    cb.create_project(name="event-runner", source={"type": "GITHUB", "location": "https://github.com/x/y.git"},
                      artifacts={"type": "NO_ARTIFACTS"},
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"},
                      serviceRole="arn:aws:iam::123456789012:role/event-runner")
    scheduler = boto3.client("scheduler", region_name="ap-northeast-2")
    scheduler.create_schedule_group(Name="event-events")
    for step, at in (("create", "2027-09-09T22:00:00"), ("destroy", "2027-09-10T21:00:00")):
        # an event scheduled before EVENT_START was recorded: its window starts at the create time
        variables = [{"Name": "EVENT_NAME", "Value": "autumn-sale", "Type": "PLAINTEXT"},
                     {"Name": "EVENT_END", "Value": "2027-09-10T20:00:00+09:00", "Type": "PLAINTEXT"}]
        scheduler.create_schedule(
            Name=f"autumn-sale-{step}", GroupName="event-events", ScheduleExpression=f"at({at})",
            ScheduleExpressionTimezone="Asia/Seoul", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:scheduler:::aws-sdk:codebuild:startBuild",
                    "RoleArn": "arn:aws:iam::123456789012:role/event-scheduler",
                    "Input": json.dumps({"ProjectName": "event-runner", "EnvironmentVariablesOverride": variables})})
    assert main(["event", "schedule", "--name", "spring-sale", "--tz", "Asia/Seoul", "--start", "2027-03-05T10:00",
                 "--end", "2027-03-05T22:00"]) == 0
    cat = _catalog_with_freeze(tmp_path, "    freeze:\n      prod:\n        event_calendar: event-events\n")
    capsys.readouterr()
    status = []
    for at in ("2027-03-05T09:59:59+09:00", "2027-03-05T10:00:00+09:00", "2027-03-05T22:00:00+09:00",
               "2027-09-09T21:59:59+09:00", "2027-09-09T22:00:00+09:00", "2027-09-10T20:00:00+09:00"):
        assert main(["gitops", "freeze", "status", "--catalog", str(cat), "--env", "prod", "--at", at,
                     "--format", "json"]) == 0
        status.append(json.loads(capsys.readouterr().out)[0])
    assert [s["frozen"] for s in status] == [False, True, False, False, True, False]
    assert status[4]["active"][0]["name"] == "event autumn-sale"
    assert status[1]["active"][0]["name"] == "event spring-sale"
    assert status[1]["active"][0]["source"] == "event calendar"
    assert status[0]["next"][0]["start"] == "2027-03-05T10:00:00+09:00"
