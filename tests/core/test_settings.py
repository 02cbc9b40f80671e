"""Settings from the environment: read once, secrets never shown."""

from __future__ import annotations

import pytest

from pipeline_lib.core.settings import DEFAULT_GITHUB_API_URL
from pipeline_lib.core.settingsmodel import Settings


def test_from_env_reads_every_variable_and_hides_secrets() -> None:
    env = {"JENKINS_URL": "http://jenkins:8080/", "JENKINS_USER": "bot", "JENKINS_API_TOKEN": "jt-s3cr3t",
           "GH_TOKEN": "gh-s3cr3t", "SONAR_HOST_URL": "http://sonar", "SONAR_TOKEN": "sq-s3cr3t",
           "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/sl-s3cr3t", "GIT_TOKEN": "git-s3cr3t",
           "ARGOCD_TOKEN": "ad-s3cr3t", "AWS_DEFAULT_REGION": "ap-northeast-2", "PUSHGATEWAY_URL": "http://pg:9091"}
    s = Settings.from_env(env)
    assert (s.jenkins_url, s.jenkins_user, s.github_token, s.argocd_token) == \
        ("http://jenkins:8080/", "bot", "gh-s3cr3t", "ad-s3cr3t")
    assert s.github_api_url == DEFAULT_GITHUB_API_URL and s.aws_region == "ap-northeast-2"
    assert s.pushgateway_url == "http://pg:9091" and s.git_user is None
    for text in (repr(s), str(s), f"{s}"):
        assert "s3cr3t" not in text and "jenkins_token=***" in text and "http://jenkins:8080/" in text
    assert sorted(s.secrets()) == sorted(v for v in env.values() if "s3cr3t" in v)
    with pytest.raises(AttributeError):
        s.github_token = "x"  # type: ignore[misc]


def test_empty_values_are_unset_and_first_name_wins() -> None:
    s = Settings.from_env({"GITHUB_TOKEN": "  ", "GH_TOKEN": "b", "GITHUB_API_URL": "",
                           "ARGOCD_AUTH_TOKEN": "a", "ARGOCD_TOKEN": "z"})
    assert s.github_token == "b" and s.github_api_url == DEFAULT_GITHUB_API_URL and s.argocd_token == "a"
    assert Settings.from_env({}).secrets() == ()


def test_every_row_is_a_field_and_urls_keep_no_password_in_the_repr() -> None:
    s = Settings.from_env({"https_proxy": "http://bob:pr0xy-pw@proxy:3128", "GANTRY_TERRAFORM": "/opt/tf",
                           "TRIVY_CACHE_DIR": "/c"})
    assert (s.proxy, s.terraform, s.trivy_cache_dir, s.trivy_bin) == ("http://bob:pr0xy-pw@proxy:3128", "/opt/tf",
                                                                      "/c", None)   # a rule default is None
    assert "pr0xy-pw" not in repr(s) and "http://bob:***@proxy:3128" in repr(s)
    assert Settings.from_env({}).terraform == "terraform" and Settings.from_env({}).service == "unknown"


def test_child_env_is_this_process_environment_plus_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_lib.core.settings import child_env

    monkeypatch.setenv("GANTRY_TEST_INHERITED", "yes")
    env = child_env(TF_INPUT="0")
    assert env["GANTRY_TEST_INHERITED"] == "yes" and env["TF_INPUT"] == "0"
    env["X"] = "1"   # a copy: the process environment is untouched
    assert "X" not in child_env()


@pytest.mark.parametrize("region, expected", [(None, "ap-northeast-2"), ("eu-west-1", "eu-west-1")])
def test_argument_defaults_come_from_the_settings_the_cli_read(region, expected, monkeypatch) -> None:
    from pipeline_lib.cli import build_parser

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    if region is None:
        monkeypatch.delenv("AWS_REGION", raising=False)
    else:
        monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("GANTRY_TERRAFORM", "tf-1.11")
    args = build_parser("event").parse_args(["event", "lifecycle", "--name", "e", "--step", "create",
                                             "--event-end", "2026-01-01T00:00:00+09:00"])
    assert (args.region, args.terraform, args.slack_secret) == (expected, "tf-1.11", "event/slack-webhook")
    assert args.settings.terraform == "tf-1.11"
    given = build_parser("event").parse_args(["event", "lifecycle", "--name", "e", "--step", "create",
                                              "--event-end", "2026-01-01T00:00:00+09:00", "--region", "us-east-1"])
    assert given.region == "us-east-1"    # an option given wins
