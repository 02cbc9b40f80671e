"""``gantry notify slack`` against a local HTTP server playing Slack's incoming webhook."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from pipeline_lib.cli import main


def test_posts_one_message_and_never_prints_the_url(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    secret_path = "/services/T000/B000/s3cr3t"
    httpserver.expect_oneshot_request(secret_path, method="POST").respond_with_data("ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for(secret_path))
    code = main(["notify", "slack", "--service", "storefront", "--env", "dev", "--status", "failure",
                 "--build-url", "https://jenkins.example/job/storefront/7/"])
    assert code == 0
    (request, _), = httpserver.log
    assert json.loads(request.data) == {
        "text": ":x: storefront (dev): FAILURE <https://jenkins.example/job/storefront/7/|build>"}
    out = capsys.readouterr()
    assert "s3cr3t" not in out.out + out.err


def test_slack_error_is_one_line_without_the_secret(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request("/services/x/y/s3cr3t").respond_with_data("no_service", status=404)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/services/x/y/s3cr3t"))
    assert main(["notify", "slack", "--service", "s", "--env", "dev", "--status", "SUCCESS"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 404" in err and "s3cr3t" not in err


def test_missing_url_and_bad_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert main(["notify", "slack", "--service", "s", "--env", "dev", "--status", "SUCCESS"]) == 2
    assert "SLACK_WEBHOOK_URL is not set" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["notify", "slack", "--service", "s", "--env", "dev", "--status", "MAYBE"])
    assert info.value.code == 2


def test_dry_run_prints_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notify", "slack", "--service", "s", "--env", "prod", "--status", "success", "--dry-run"]) == 0
    assert capsys.readouterr().out == ":white_check_mark: s (prod): SUCCESS\n"
