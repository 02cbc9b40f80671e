"""The environment gantry reads, in one place: the table of every variable (:data:`SETTINGS`) and the reads.

Configuration is read once, at the edge: the CLI (:func:`pipeline_lib.cli.build_parser` puts
``Settings.from_env()`` in ``args.settings``) and the demo read it; stages get the values in their
options, domain code as parameters. Only this module touches ``os.environ``
(tests/core/test_settings_read_once.py checks): :func:`environment` (what
:meth:`Settings.from_env` reads), :func:`value` (one row, for a command that must not load more:
a queued ``gitops bump``), :func:`variable` (a variable the user named on the command line),
:func:`process_environ` (another process's) and :func:`child_env` (a child process's environment).

This module loads nothing but ``os`` and ``collections`` (a queued ``gantry gitops bump`` reads
three rows before anything else loads, issue 21): the settings as one value, :class:`Settings`
(a frozen dataclass), :class:`FromSetting` and :func:`settings_table` are in
:mod:`pipeline_lib.core.settingsmodel`.

:data:`SETTINGS` is the full table of the variables gantry reads (services' secrets, Jenkins build
variables, tool knobs, the platform's variables gantry honours), each with its default and help;
``gantry config show [--format json]`` prints it with secrets masked. Every row is a field of
:class:`Settings` (all optional here; the code that needs one says so when it is missing).
Empty values count as unset.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Mapping

DEFAULT_GITHUB_API_URL = "https://api.github.com"

def environment() -> Mapping[str, str]:
    """This process's environment (``os.environ``), for :meth:`Settings.from_env` and
    :func:`settings_table` when they are given none."""
    return os.environ


def value(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of the :data:`SETTINGS` row ``name`` in ``env`` (default: this process's
    environment), as :meth:`Settings.from_env` would read it (``None`` for a rule default);
    ``KeyError`` for a name not in the table."""
    row = _ROWS[name]
    found, source = row.lookup(os.environ if env is None else env)
    return None if source == "default" and row.is_rule else found


def variable(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The stripped value of the variable ``name`` a user named on the command line (e.g.
    ``gantry notify slack --url-env``), ``None`` when unset or empty. For commands only: the
    variables gantry itself reads are :data:`SETTINGS` rows, read by :meth:`Settings.from_env`."""
    env = os.environ if env is None else env
    return (env.get(name) or "").strip() or None


def process_environ(pid: int) -> dict[str, str] | None:
    """The environment another process of this user started with (``/proc/PID/environ``, Linux),
    for :meth:`Settings.from_env` on its behalf (a GitOps batch leader reads the settings of each
    bump it writes from the bump's own process); ``None`` when it cannot be read (no ``/proc``,
    gone, another user). Values that are not UTF-8 are decoded with replacement characters."""
    try:
        with open(f"/proc/{int(pid)}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            env[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


def child_env(**extra: str) -> dict[str, str]:
    """A copy of this process's environment plus ``extra``: the environment of a child process
    (Terraform, Trivy, git, a scanner) that reads its own variables. The only place besides
    :meth:`Settings.from_env` where gantry touches ``os.environ``
    (tests/core/test_settings_read_once.py checks)."""
    return {**os.environ, **extra}


# ---------------------------------------------------------------------------------------
# The full table: every environment variable gantry reads, with its default and help.
# ``gantry config show`` prints it (secrets masked); tests/pipeline_lib/test_config_show.py
# checks that it covers every Settings field and every variable the code reads by name.
# ---------------------------------------------------------------------------------------

class Setting(namedtuple("Setting", "name variables default help secret group", defaults=(False, "services"))):
    """One setting: ``name`` (str: the :class:`Settings` field), ``variables`` (tuple of str: read
    in order, first non-empty wins), ``default`` (str or None: the value when none is set; None:
    unset; text in angle brackets: a rule, not a value), one-line ``help`` (str), whether it is a
    ``secret`` (bool), its ``group`` (str, one of :data:`GROUPS`).

    A named tuple, not a dataclass: a queued ``gantry gitops bump`` reads this table before
    anything else loads, and ``dataclasses`` alone is ~11 ms of its start-up (issue 21)."""

    __slots__ = ()

    @property
    def is_rule(self) -> bool:
        """The default is a rule the using code applies (``<...>``), not a value."""
        return self.default is not None and self.default.startswith("<")

    def lookup(self, env: Mapping[str, str]) -> tuple[str | None, str | None]:
        """``(value, source)``: the first non-empty variable's value and name, else the default
        (source ``"default"``; ``(None, None)`` when there is none)."""
        for var in self.variables:
            value = (env.get(var) or "").strip()
            if value:
                return value, var
        return (self.default, "default") if self.default is not None else (None, None)


GROUPS = ("services", "jenkins build", "tools", "platform")

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
    Setting("argocd_server", ("ARGOCD_SERVER",), None, "Argo CD API server (gantry gitops wait, promote)"),
    Setting("argocd_token", ("ARGOCD_AUTH_TOKEN", "ARGOCD_TOKEN"), None, "Argo CD API token", secret=True),
    Setting("actor", ("GANTRY_ACTOR", "BUILD_USER_ID", "GIT_AUTHOR_NAME"), None,
            "who promotes or revokes (the By: trailer; default: gantry)"),
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
    Setting("gitops_batch_window_ms", ("GANTRY_GITOPS_BATCH_WINDOW_MS",),
            "<the catalog's defaults.gitops_batch_window_ms, else 200>",
            "how long a GitOps batch waits for concurrent bumps (ms; overrides the catalog's defaults.gitops_batch_window_ms)",
            group="tools"),
    Setting("gitops_log", ("GANTRY_GITOPS_LOG",), "<beside the host lock, .log>",
            "file the GitOps batch logs one line per commit to", group="tools"),
    # other tools' and the platform's variables that change what gantry does
    Setting("xdg_cache_home", ("XDG_CACHE_HOME",), "<~/.cache>",
            "base of the default cache directories (XDG base directory spec)", group="platform"),
    Setting("tf_cli_config_file", ("TF_CLI_CONFIG_FILE",), None,
            "Terraform CLI config of gantry infra check (Terraform's own variable; else .venv/terraform.rc)",
            group="platform"),
    Setting("proxy", ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
                      "no_proxy", "NO_PROXY"), None,
            "proxy settings (requests reads them); any set: Jenkins is called through requests", group="platform"),
    Setting("ca_bundle", ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"), None,
            "CA bundle file or directory for HTTPS (Jenkins, and requests reads it)", group="platform"),
    Setting("python_https_verify", ("PYTHONHTTPSVERIFY",), None,
            "0: Python's own switch; Jenkins is then called through requests", group="platform"),
)

_ROWS = {s.name: s for s in SETTINGS}
