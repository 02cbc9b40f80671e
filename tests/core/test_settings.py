"""Settings from the environment: read once, secrets never shown."""

from __future__ import annotations

import pytest

from pipeline_lib.core.settings import DEFAULT_GITHUB_API_URL, Settings


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
