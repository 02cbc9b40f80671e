"""The settings as one frozen value (:class:`Settings`), argparse defaults taken from it
(:class:`FromSetting`) and the table ``gantry config show`` prints (:func:`settings_table`).

The rows, and the only reads of the environment, are in :mod:`pipeline_lib.core.settings` (kept
free of ``dataclasses``, which this module loads: see its docstring).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .settings import DEFAULT_GITHUB_API_URL, SETTINGS, environment


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
        env = environment() if env is None else env
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
    env = environment() if env is None else env
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
