"""Holds, rollback, freeze and history as a fresh user met them (trial items 6, 7, 8, 11, 13, 16,
20, 25, 28, 34, 35): each through the CLI on a real bare repo, exit code and the one line."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug import Response

from gitops.bump import bump
from gitops.git import first_reason, transact
from gitops.holds import hold_rel
from pipeline_lib.cli import build_parser, main
from tests.conftest import git
from tests.gitops.conftest import REGISTRY, digest
from tests.support.catalogs import shipped_evidence_off

IMAGE = f"{REGISTRY}/shop/storefront"


@pytest.fixture()
def gitops_repo(tmp_path: Path, catalog) -> Path:
    """A bare GitOps repo with the prod layout only."""
    from gitops.layout import init_repo
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("prod"), "prod", REGISTRY)
    return bare


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_holds_and_releases_are_in_the_history_and_a_corrupt_hold_can_be_released(
        gitops_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, cat = gitops_repo.as_uri(), str(shipped_evidence_off(tmp_path / "cat"))
    base = ["--catalog", cat, "--repo", url, "--env", "prod", "--service", "storefront"]
    head = git(gitops_repo, "rev-parse", "main")
    # item 11: an empty reason, or a newline in --by/--reason, is refused before anything is written
    for opts, line in ((["--reason", ""], "gantry: gitops hold set: --reason: must not be empty"),
                       (["--reason", "a\nb"], "gantry: gitops hold set: --reason: must be one line"),
                       (["--reason", "ok", "--by", "eve\nFAKE: x"], "gantry: gitops hold set: --by: must be one line")):
        code, _, err = _run(["gitops", "hold", "set", *base, *opts], capsys)
        assert code == 2 and err.startswith(line) and err.count("\n") == 1, err
    assert git(gitops_repo, "rev-parse", "main") == head

    assert _run(["gitops", "hold", "set", *base, "--reason", "bad 5xx rate", "--by", "alice"], capsys)[0] == 0
    assert _run(["gitops", "hold", "release", *base, "--reason", "fixed", "--by", "bob"], capsys)[0] == 0

    def corrupt(wd: Path):
        (wd / hold_rel("prod", "storefront")).parent.mkdir(parents=True, exist_ok=True)
        (wd / hold_rel("prod", "storefront")).write_text('{"service": "storefront"}')
        return "a hand-edited hold", [hold_rel("prod", "storefront")], None
    transact(url, corrupt, workdir=tmp_path / "w")
    # item 16: the corrupt file is named plainly, and release removes it with a warning
    code, _, err = _run(["gitops", "hold", "list", "--catalog", cat, "--repo", url], capsys)
    assert code == 2 and err == (f"gantry: gitops hold {hold_rel('prod', 'storefront')}: corrupt hold file: "
                                 "'environment' missing; 'gantry gitops hold release --env prod --service "
                                 "storefront' removes it\n")
    code, out, err = _run(["gitops", "hold", "release", *base, "--dry-run"], capsys)
    assert code == 0 and "would release" in out and "release would remove it" in err
    code, out, err = _run(["gitops", "hold", "release", *base, "--by", "bob"], capsys)
    assert code == 0 and out.startswith("released storefront prod (unreadable hold file); commit ")
    assert err.startswith("gantry: warning: gitops hold release storefront prod: the hold file was unreadable")
    assert _run(["gitops", "hold", "list", "--catalog", cat, "--repo", url], capsys)[1] == "no holds\n"

    # item 6: hold and release records are read back
    code, out, _ = _run(["gitops", "history", "--catalog", cat, "--repo", url, "--env", "prod",
                         "--service", "storefront", "--format", "json"], capsys)
    assert code == 0
    assert [(r["action"], r["by"], r["reason"]) for r in json.loads(out)] == [
        ("release", "bob", "released"), ("release", "bob", "fixed"), ("hold", "alice", "bad 5xx rate")]
    # item 28: an unknown service is an error, not an empty history
    code, out, err = _run(["gitops", "history", "--catalog", cat, "--repo", url, "--service", "nosuch"], capsys)
    assert code == 2 and out == "" and "unknown service 'nosuch'" in err and err.count("\n") == 1


def _frozen_catalog(tmp_path: Path) -> str:
    now = datetime.now(timezone.utc)
    path = shipped_evidence_off(tmp_path / "cat")
    path.write_text(path.read_text() + f"""    freeze:
      prod:
        windows:
          - {{name: incident-freeze, start: "{(now - timedelta(hours=1)).isoformat()}", end: "{(now + timedelta(hours=1)).isoformat()}"}}
""")
    return str(path)


def test_rollback_in_a_freeze_window_dry_run_refusal_and_break_glass_announcement(
        gitops_repo: Path, catalog, tmp_path: Path, httpserver, monkeypatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = gitops_repo.as_uri()
    for ch in "ab":
        bump(url, catalog=catalog, service="storefront", environment="prod", image=IMAGE, digest=digest(ch),
             tag=f"v{ch}", verb="promote", workdir=tmp_path / "w")
    cat = _frozen_catalog(tmp_path)
    cli = ["gitops", "rollback", "--catalog", cat, "--repo", url, "--env", "prod", "--service", "storefront",
           "--reason", "5xx", "--by", "alice"]
    head = git(gitops_repo, "rev-parse", "main")
    refusal = "gitops rollback storefront prod: refused: prod is frozen by window 'incident-freeze'"
    # item 7: the dry run meets the freeze window the write would meet
    code, out, err = _run([*cli, "--dry-run"], capsys)
    assert code == 1 and ": would be refused: prod is frozen by window 'incident-freeze'" in out, out
    assert err.startswith(f"gantry: {refusal}") and err.count("\n") == 1, err
    # item 20: the refusal is said once, on each stream
    code, out, err = _run(cli, capsys)
    assert code == 1 and out.count("refused") == 1 and ": refused: prod is frozen" in out, out
    assert err.startswith(f"gantry: {refusal}") and err.count("refused") == 1 and err.count("\n") == 1, err
    assert git(gitops_repo, "rev-parse", "main") == head

    # item 8: a webhook URL that is not one is refused before the write
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "not-a-url")
    code, _, err = _run([*cli, "--break-glass"], capsys)
    assert code == 2 and err == ("gantry: gitops: --break-glass: $SLACK_WEBHOOK_URL is not an http(s) URL "
                                 "(breaking glass is announced on Slack)\n")
    assert git(gitops_repo, "rev-parse", "main") == head
    # a post that fails after the push: the rollback happened (exit 0), the warning says so loudly
    httpserver.expect_request("/services/T0/B0/x", method="POST").respond_with_handler(
        lambda req: Response("no_service", status=404))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/services/T0/B0/x"))
    code, out, err = _run([*cli, "--break-glass", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["results"][0]["break_glass"] == "incident-freeze"
    assert git(gitops_repo, "rev-list", "--count", f"{head}..main") == "1"
    assert err.startswith("gantry: warning: gitops: --break-glass: storefront prod: commit ")
    assert "was written and pushed, but its Slack announcement failed" in err and err.count("\n") == 1


def test_clone_error_gives_gits_reason_and_freeze_at_empty_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = (tmp_path / "nonexistent.git").as_uri()
    for argv in (["gitops", "history"], ["gitops", "hold", "list"],
                 ["gitops", "rollback", "--env", "dev", "--service", "storefront", "--reason", "x", "--dry-run"]):
        code, _, err = _run([*argv, "--repo", missing], capsys)   # item 13
        assert code == 2 and err == (f"gantry: git: cannot clone {missing}: '{tmp_path}/nonexistent.git' does not "
                                     "appear to be a git repository\n"), err
    assert first_reason("Cloning…\nerror: RPC failed\nfatal: early EOF\n") == "RPC failed"
    assert first_reason("hint: something\n") == "hint: something"
    code, _, err = _run(["gitops", "freeze", "status", "--at", ""], capsys)   # item 25
    assert code == 2 and err == ("gantry: gitops freeze status: --at: '' is not an ISO date-time "
                                 "(e.g. 2026-12-24T00:00:00+09:00)\n")


def _help(*path: str) -> dict[str, str]:
    parser = build_parser("gitops")
    for name in ("gitops", *path):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}


def test_help_says_what_is_required_and_where_by_comes_from() -> None:
    assert _help("rollback")["--reason"] == "why (the Reason: trailer; required)"   # item 34
    assert "--break-glass" not in _help("rollback")["--reason"]
    for action in ("set", "release"):   # item 35: the same sources as everywhere else
        assert "$GANTRY_ACTOR, $BUILD_USER_ID, $GIT_AUTHOR_NAME or gantry" in _help("hold", action)["--by"]
