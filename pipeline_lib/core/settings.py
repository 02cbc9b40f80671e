"""Settings read from the environment once, as one frozen value; secrets never in its repr.

Variables (all optional here; the code that needs one says so when it is missing):

=====================  ============================================================  =======
field                  environment variable(s)                                        secret
=====================  ============================================================  =======
jenkins_url            ``JENKINS_URL``                                                no
jenkins_user           ``JENKINS_USER``                                               no
jenkins_token          ``JENKINS_API_TOKEN``                                          yes
github_token           ``GITHUB_TOKEN``, else ``GH_TOKEN``                            yes
github_api_url         ``GITHUB_API_URL`` (default ``https://api.github.com``)        no
sonar_host_url         ``SONAR_HOST_URL``                                             no
sonar_token            ``SONAR_TOKEN``                                                yes
slack_webhook_url      ``SLACK_WEBHOOK_URL`` (its path is the secret)                 yes
git_user / git_token   ``GIT_USER`` / ``GIT_TOKEN`` (HTTPS auth to the GitOps remote)  token
argocd_server          ``ARGOCD_SERVER``                                              no
argocd_token           ``ARGOCD_AUTH_TOKEN``, else ``ARGOCD_TOKEN``                   yes
aws_region             ``AWS_REGION``, else ``AWS_DEFAULT_REGION``                    no
aws_endpoint_url       ``AWS_ENDPOINT_URL`` (moto or LocalStack; boto3 reads it too)   no
pushgateway_url        ``PUSHGATEWAY_URL``                                            no
build_url              ``BUILD_URL`` (set by Jenkins for every build)                 no
job_name               ``JOB_NAME`` (set by Jenkins: the job's full name, dev/web-pr)  no
=====================  ============================================================  =======

Empty values count as unset. ``Settings.from_env()`` reads ``os.environ`` (or a given mapping).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

DEFAULT_GITHUB_API_URL = "https://api.github.com"
_SECRETS = frozenset({"jenkins_token", "github_token", "sonar_token", "slack_webhook_url", "git_token",
                      "argocd_token"})


@dataclass(frozen=True)
class Settings:
    jenkins_url: str | None = None
    jenkins_user: str | None = None
    jenkins_token: str | None = None
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    sonar_host_url: str | None = None
    sonar_token: str | None = None
    slack_webhook_url: str | None = None
    git_user: str | None = None
    git_token: str | None = None
    argocd_server: str | None = None
    argocd_token: str | None = None
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    pushgateway_url: str | None = None
    build_url: str | None = None
    job_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``env`` (default: ``os.environ``), read once."""
        env = os.environ if env is None else env

        def get(*names: str) -> str | None:
            return next((env[n].strip() for n in names if (env.get(n) or "").strip()), None)

        return cls(jenkins_url=get("JENKINS_URL"), jenkins_user=get("JENKINS_USER"),
                   jenkins_token=get("JENKINS_API_TOKEN"), github_token=get("GITHUB_TOKEN", "GH_TOKEN"),
                   github_api_url=get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL,
                   sonar_host_url=get("SONAR_HOST_URL"), sonar_token=get("SONAR_TOKEN"),
                   slack_webhook_url=get("SLACK_WEBHOOK_URL"), git_user=get("GIT_USER"), git_token=get("GIT_TOKEN"),
                   argocd_server=get("ARGOCD_SERVER"), argocd_token=get("ARGOCD_AUTH_TOKEN", "ARGOCD_TOKEN"),
                   aws_region=get("AWS_REGION", "AWS_DEFAULT_REGION"), aws_endpoint_url=get("AWS_ENDPOINT_URL"),
                   pushgateway_url=get("PUSHGATEWAY_URL"), build_url=get("BUILD_URL"), job_name=get("JOB_NAME"))

    def secrets(self) -> tuple[str, ...]:
        """The secret values that are set (to mask in any text that might echo them)."""
        return tuple(v for f in fields(self) if f.name in _SECRETS and (v := getattr(self, f.name)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={'***' if f.name in _SECRETS else repr(v)}"
                          for f in fields(self) if (v := getattr(self, f.name)) is not None)
        return f"Settings({shown})"

    __str__ = __repr__
