"""Settings read from the environment once, as one frozen value; secrets never in its repr.

Configuration is read once, at the edge: the CLI (:func:`pipeline_lib.cli.build_parser` puts
``Settings.from_env()`` in ``args.settings``) and the demo read it; stages get the values in their
options, domain code as parameters. Only this module touches ``os.environ``
(tests/core/test_settings_read_once.py checks): :meth:`Settings.from_env`, :func:`variable` (a
variable the user named on the command line) and :func:`child_env` (a child process's environment).

:data:`SETTINGS` is the full table of the variables gantry reads (services' secrets, Jenkins build
variables, tool knobs, the platform's variables gantry honours), each with its default and help;
``gantry config show [--format json]`` prints it with secrets masked. Every row is a field of
:class:`Settings` (all optional here; the code that needs one says so when it is missing).
Empty values count as unset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class Settings:
    """Every row of :data:`SETTINGS` as a field of the same name (a rule default in angle brackets
    is ``None`` here: the code that uses the setting applies the rule)."""

    jenkins_url: str | None = None
    jenkins_user: str | None = None
    jenkins_token: str | None = None
    jenkins_api_extra_headers: str | None = None
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_webhook_secret: str | None = None
    sonar_host_url: str | None = None
    sonar_token: str | None = None
    slack_webhook_url: str | None = None
    slack_webhook_secret_id: str = "event/slack-webhook"
    git_user: str | None = None
    git_token: str | None = None
    argocd_server: str | None = None
    argocd_token: str | None = None
    actor: str | None = None
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    pushgateway_url: str | None = None
    pushgateway_username: str | None = None
    pushgateway_password: str | None = None
    nvd_api_key: str | None = None
    docker_host: str = "unix:///var/run/docker.sock"
    key_password: str | None = None
    build_url: str | None = None
    git_commit: str | None = None
    job_name: str | None = None
    job_url: str | None = None
    git_url: str | None = None
    git_branch: str | None = None
    tag_name: str | None = None
    service: str = "unknown"
    target_env: str = "unknown"
    trivy_bin: str | None = None
    trivy_cache_dir: str | None = None
    dependency_check_home: str | None = None
    checkov: str | None = None
    terraform: str = "terraform"
    tf_provider_mirror: str | None = None
    cache_dir: str | None = None
    lock_dir: str | None = None
    gitops_no_lock: str | None = None
    gitops_no_batch: str | None = None
    gitops_trace: str | None = None
    gitops_batch_window_ms: str | None = None
    gitops_log: str | None = None
    xdg_cache_home: str | None = None
    tf_cli_config_file: str | None = None
    proxy: str | None = None
    ca_bundle: str | None = None
    python_https_verify: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``env`` (default: ``os.environ``), read once: each :data:`SETTINGS` row's
        first non-empty variable (stripped), else its default (``None`` for a rule default)."""
        env = os.environ if env is None else env
        values = {}
        for s in SETTINGS:
            value, source = s.lookup(env)
            values[s.name] = None if source == "default" and s.is_rule else value
        return cls(**values)

    def secrets(self) -> tuple[str, ...]:
        """The secret values that are set (to mask in any text that might echo them)."""
        return tuple(v for f in fields(self) if f.name in _SECRETS and (v := getattr(self, f.name)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={'***' if f.name in _SECRETS else repr(_unpassworded(v))}"
                          for f in fields(self) if (v := getattr(self, f.name)) is not None)
        return f"Settings({shown})"

    __str__ = __repr__

    def cache_home(self) -> Path:
        """The base of cache directories: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
        return Path(self.xdg_cache_home) if self.xdg_cache_home else Path.home() / ".cache"


@dataclass(frozen=True)
class FromSetting:
    """An argparse default taken from the settings the CLI read (``args.settings``): the field
    ``name``, else ``fallback`` when it is unset. ``gantry``'s parser replaces it after parsing
    (:func:`pipeline_lib.cli.build_parser`), so a handler sees a plain value; ``str()`` is the
    variable for help texts (``%(default)s``)."""

    name: str
    fallback: str | None = None

    def resolve(self, settings: Settings) -> str | None:
        value = getattr(settings, self.name)
        return value if value is not None else self.fallback

    def __str__(self) -> str:
        row = next(s for s in SETTINGS if s.name == self.name)
        return "$" + row.variables[0] + (f" or {self.fallback}" if self.fallback is not None else "")


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

_SECRETS = frozenset(s.name for s in SETTINGS if s.secret)


_USERINFO = re.compile(r"(://[^/@:\s]*:)[^/@\s]*@")


def _unpassworded(value: str) -> str:
    """``value`` with a URL's password (``scheme://user:PASSWORD@``) masked."""
    return _USERINFO.sub(r"\1***@", value)


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
