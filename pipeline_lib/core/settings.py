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
:data:`SETTINGS` is the full table of the variables gantry reads (these and the tool knobs), each
with its default and help; ``gantry config show [--format json]`` prints it with secrets masked.
"""

from __future__ import annotations

import os
import re
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


# ---------------------------------------------------------------------------------------
# The full table: every environment variable gantry reads, with its default and help.
# ``gantry config show`` prints it (secrets masked); tests/pipeline_lib/test_config_show.py
# checks that it covers every Settings field and every variable the code reads by name.
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One setting: ``name`` (a :class:`Settings` field when it has one), the variables read in
    order (first non-empty wins), the default when none is set (``None``: unset; text in angle
    brackets: a rule, not a value), one-line ``help``, whether it is a ``secret``, its ``group``."""

    name: str
    variables: tuple[str, ...]
    default: str | None
    help: str
    secret: bool = False
    group: str = "services"

    def lookup(self, env: Mapping[str, str]) -> tuple[str | None, str | None]:
        """``(value, source)``: the first non-empty variable's value and name, else the default
        (source ``"default"``; ``(None, None)`` when there is none)."""
        for var in self.variables:
            value = (env.get(var) or "").strip()
            if value:
                return value, var
        return (self.default, "default") if self.default is not None else (None, None)


GROUPS = ("services", "jenkins build", "tools")

SETTINGS: tuple[Setting, ...] = (
    Setting("jenkins_url", ("JENKINS_URL",), None, "Jenkins base URL (jobs diff/update, gate baselines, webhook builds)"),
    Setting("jenkins_user", ("JENKINS_USER",), None, "Jenkins user for API calls"),
    Setting("jenkins_token", ("JENKINS_API_TOKEN",), None, "Jenkins API token of JENKINS_USER", secret=True),
    Setting("jenkins_api_extra_headers", ("JENKINS_API_EXTRA_HEADERS",), None,
            "extra HTTP headers for Jenkins API calls (python-jenkins reads it; may carry credentials)", secret=True),
    Setting("github_token", ("GITHUB_TOKEN", "GH_TOKEN"), None,
            "GitHub token: PR comments, commit statuses, code scanning uploads", secret=True),
    Setting("github_api_url", ("GITHUB_API_URL",), DEFAULT_GITHUB_API_URL,
            "GitHub API base URL (GitHub Enterprise: https://HOST/api/v3)"),
    Setting("github_webhook_secret", ("GITHUB_WEBHOOK_SECRET",), None,
            "HMAC secret of GitHub webhook deliveries (gantry webhook serve refuses to run without it)", secret=True),
    Setting("sonar_host_url", ("SONAR_HOST_URL",), None, "SonarQube server URL"),
    Setting("sonar_token", ("SONAR_TOKEN",), None, "SonarQube token", secret=True),
    Setting("slack_webhook_url", ("SLACK_WEBHOOK_URL",), None, "Slack incoming webhook URL (its path is the secret)",
            secret=True),
    Setting("slack_webhook_secret_id", ("SLACK_WEBHOOK_SECRET_ID",), "event/slack-webhook",
            "Secrets Manager id of the Slack webhook URL (event lifecycle notifications)"),
    Setting("git_user", ("GIT_USER",), None, "user for HTTPS auth to the GitOps remote"),
    Setting("git_token", ("GIT_TOKEN",), None, "token for HTTPS auth to the GitOps remote", secret=True),
    Setting("argocd_server", ("ARGOCD_SERVER",), None, "Argo CD API server (gantry gitops wait)"),
    Setting("argocd_token", ("ARGOCD_AUTH_TOKEN", "ARGOCD_TOKEN"), None, "Argo CD API token", secret=True),
    Setting("aws_region", ("AWS_REGION", "AWS_DEFAULT_REGION"), None, "AWS region of API calls (boto3 reads it too)"),
    Setting("aws_endpoint_url", ("AWS_ENDPOINT_URL",), None, "AWS API endpoint (moto or LocalStack; boto3 reads it too)"),
    Setting("pushgateway_url", ("PUSHGATEWAY_URL",), None, "Prometheus Pushgateway for stage metrics (unset: nothing pushed)"),
    Setting("pushgateway_username", ("PUSHGATEWAY_USERNAME",), None, "Pushgateway basic-auth user"),
    Setting("pushgateway_password", ("PUSHGATEWAY_PASSWORD",), None, "Pushgateway basic-auth password", secret=True),
    Setting("nvd_api_key", ("NVD_API_KEY",), None, "NVD API key for Dependency-Check data updates", secret=True),
    Setting("docker_host", ("DOCKER_HOST",), "unix:///var/run/docker.sock",
            "Docker API of gantry image build (the Docker SDK reads it)"),
    Setting("key_password", ("GANTRY_KEY_PASSWORD",), None,
            "password of an encrypted PEM signing key (gantry image sign, image push --evidence)", secret=True),
    # set by Jenkins for every build
    Setting("build_url", ("BUILD_URL",), None, "this build's URL (links in reports and statuses)", group="jenkins build"),
    Setting("git_commit", ("GIT_COMMIT",), None, "commit built; its first 12 characters are the default image tag",
            group="jenkins build"),
    Setting("job_name", ("JOB_NAME",), None, "this build's Jenkins job (gate --baseline-from-jenkins auto)",
            group="jenkins build"),
    Setting("job_url", ("JOB_URL",), None, "this build's Jenkins job URL: the builder id of signed provenance "
            "(image push --evidence)", group="jenkins build"),
    Setting("git_url", ("GIT_URL",), None, "repository built (signed provenance)", group="jenkins build"),
    Setting("git_branch", ("GIT_BRANCH",), None, "branch built (signed provenance's ref unless TAG_NAME is set)",
            group="jenkins build"),
    Setting("tag_name", ("TAG_NAME",), None, "tag built; a semver tag is also an image tag", group="jenkins build"),
    Setting("service", ("SERVICE",), "unknown", "service label of pushed stage metrics", group="jenkins build"),
    Setting("target_env", ("TARGET_ENV",), "unknown", "environment label of pushed stage metrics",
            group="jenkins build"),
    # tool knobs
    Setting("trivy_bin", ("TRIVY_BIN",), "<trivy on PATH, else beside this Python>", "trivy executable without --trivy",
            group="tools"),
    Setting("trivy_cache_dir", ("TRIVY_CACHE_DIR",), "<$XDG_CACHE_HOME/trivy or ~/.cache/trivy>",
            "Trivy cache (its DB) without --cache-dir", group="tools"),
    Setting("dependency_check_home", ("DEPENDENCY_CHECK_HOME",), "<dependency-check.sh on PATH>",
            "Dependency-Check install directory (bin/dependency-check.sh)", group="tools"),
    Setting("checkov", ("GANTRY_CHECKOV",), "<.venv-checkov/bin/checkov, else PATH>", "checkov executable",
            group="tools"),
    Setting("terraform", ("GANTRY_TERRAFORM",), "terraform", "terraform executable", group="tools"),
    Setting("tf_provider_mirror", ("GANTRY_TF_PROVIDER_MIRROR",), "<searched in the usual mirror directories>",
            "Terraform provider mirror directory (gantry infra cli-config)", group="tools"),
    Setting("cache_dir", ("GANTRY_CACHE_DIR",), "<$XDG_CACHE_HOME/gantry or ~/.cache/gantry>",
            "cache of rendered Jenkins jobs", group="tools"),
    Setting("lock_dir", ("GANTRY_LOCK_DIR",), "<the temporary directory>", "host-wide GitOps writer locks",
            group="tools"),
    Setting("gitops_no_lock", ("GANTRY_GITOPS_NO_LOCK",), None,
            "1: no host-wide GitOps writer lock (and no batching)", group="tools"),
    Setting("gitops_no_batch", ("GANTRY_GITOPS_NO_BATCH",), None,
            "1: each GitOps change pushed alone, concurrent writers not batched", group="tools"),
    Setting("gitops_trace", ("GANTRY_GITOPS_TRACE",), None, "file to append GitOps batch timings to", group="tools"),
    Setting("gitops_batch_window_ms", ("GANTRY_GITOPS_BATCH_WINDOW_MS",), "200",
            "how long a GitOps batch waits for concurrent bumps (ms; overrides the catalog's defaults.gitops_batch_window_ms)",
            group="tools"),
    Setting("gitops_log", ("GANTRY_GITOPS_LOG",), "<beside the host lock, .log>",
            "file the GitOps batch logs one line per commit to", group="tools"),
)


_USERINFO = re.compile(r"(://[^/@:\s]*:)[^/@\s]*@")


def settings_table(env: Mapping[str, str] | None = None) -> list[dict[str, object]]:
    """Each :data:`SETTINGS` row with its value in ``env`` (default ``os.environ``), secrets masked.

    Row: ``name``, ``variables``, ``value`` (a secret's is ``"***"`` when set), ``source`` (the
    variable it came from, ``"default"``, or ``None`` when unset), ``default``, ``secret``,
    ``group``, ``help``. No secret value is ever in a row.
    """
    env = os.environ if env is None else env
    looked = [(s, *s.lookup(env)) for s in SETTINGS]
    secrets = [v for s, v, src in looked if s.secret and v and src != "default"]
    rows = []
    for s, value, source in looked:
        if s.secret and value is not None:
            value = "***"
        elif value is not None:   # a URL's password, or a secret pasted into another variable
            value = _USERINFO.sub(r"\1***@", value)
            for secret in secrets:
                value = value.replace(secret, "***")
        rows.append({"name": s.name, "variables": list(s.variables), "value": value, "source": source,
                     "default": s.default, "secret": s.secret, "group": s.group, "help": s.help})
    return rows
