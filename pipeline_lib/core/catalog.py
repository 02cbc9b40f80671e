"""The service catalog (``jobs/catalog.yaml``): typed model and validation.

The catalog is the single source of truth for services. Validation collects every
problem with its key path (``jobs/catalog.yaml: services[2].ecr_repository: required``)
and raises one :class:`~pipeline_lib.core.errors.GantryError` carrying all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import GantryError
from .yamlload import load_yaml_file

DEFAULT_CATALOG = Path("jobs/catalog.yaml")
CATALOG_KEY = "_catalog"
ENVIRONMENT_NAMES = ("dev", "prod", "event")
DEPLOY_MODES = ("commit", "pr")
MANIFEST_FORMATS = ("kustomize", "helm")
PLATFORMS = ("jenkins", "eks", "ecs-fargate")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
# ECR repository names: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
_ECR_REPO = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
# A branch name git accepts (git-check-ref-format(1)): no control characters, space, ~ ^ : ? * [ \,
# no "..", "@{", "//", no component starting with "." or ending with ".lock", not ending in "/" or ".".
_BRANCH = re.compile(r"^(?!/|.*(?:\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))(?!\.)[^\x00-\x20\x7f~^:?*\[\\]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Environment:
    """A deployment environment shared by all services (dev, prod or event)."""

    name: str
    platform: str
    aws_region: str
    domain: str
    argocd_destination: str | None = None
    namespace: str = "shop"


@dataclass(frozen=True)
class ServiceEnvironment:
    """One service's settings in one environment."""

    name: str
    manifest: str
    ecr_repository: str
    manifest_format: str = "kustomize"
    values_key: str = "image"
    deploy: str = "commit"
    branches: tuple[str, ...] = ("main",)
    replicas_min: int = 1
    replicas_max: int = 1
    domain: str | None = None


@dataclass(frozen=True)
class Service:
    """A deployable service: where its code lives, how its image is built, where it goes."""

    name: str
    repo: str
    dockerfile: str
    context: str
    ecr_repository: str
    manifest_path: str
    environments: dict[str, ServiceEnvironment]
    paths: tuple[str, ...] = ()
    test_command: str = "pytest"
    owners: tuple[str, ...] = ()

    def environment(self, name: str) -> ServiceEnvironment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise GantryError(f"service {self.name}",
                              f"not deployed to environment {name!r} (it has: {known})") from None


@dataclass(frozen=True)
class Catalog:
    """The whole catalog: registry settings, environments and services."""

    source: str
    aws_account_id: str
    registry_region: str
    replica_regions: tuple[str, ...]
    gitops_repo: str
    github_url: str
    environments: dict[str, Environment]
    services: tuple[Service, ...] = field(default_factory=tuple)
    gitops_branch: str = "main"  # the one branch bump, promote, pins, PR mode and Argo CD use

    @property
    def registry_host(self) -> str:
        return self.ecr_host(self.registry_region)

    def ecr_host(self, region: str) -> str:
        """The ECR registry host of the catalog's account in ``region``
        (``<account>.dkr.ecr.<region>.amazonaws.com``)."""
        return f"{self.aws_account_id}.dkr.ecr.{region}.amazonaws.com"

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services)
        raise GantryError(self.source, f"unknown service {name!r} (known: {known})")

    def services_in(self, environment: str) -> list[Service]:
        return [s for s in self.services if environment in s.environments]

    def ecr_repositories(self) -> list[str]:
        """Every ECR repository any service pushes to, in any environment, sorted."""
        repos = {e.ecr_repository for s in self.services for e in s.environments.values()}
        return sorted(repos | {s.ecr_repository for s in self.services})

    def replication_prefixes(self) -> list[str]:
        """Repository-name prefixes replicated Seoul -> Tokyo: each repository's first segment."""
        return sorted({r.split("/", 1)[0] + ("/" if "/" in r else "") for r in self.ecr_repositories()})

    def services_for_repo(self, repo: str) -> list[Service]:
        """Services built from GitHub repository ``owner/name`` (case-insensitive, as GitHub)."""
        return [s for s in self.services if s.repo.lower() == repo.lower()]


class _Problems:
    """Collects ``<file>: <key path>: <message>`` lines during validation."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")


def _mapping(value: Any, path: str, problems: _Problems, allowed: set[str],
             required: set[str] = frozenset()) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, got {_kind(value)}")
        return None
    for key in value:
        if not isinstance(key, str):
            problems.add(path, f"key {key!r} must be a string")
        elif key not in allowed:
            problems.add(_join(path, key), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if value.get(key) is None:
            problems.add(_join(path, key), "required")
    return value


def _string(mapping: dict[str, Any], key: str, path: str, problems: _Problems,
            pattern: re.Pattern[str] | None = None, hint: str = "",
            choices: tuple[str, ...] = (), default: str | None = None) -> str | None:
    value = mapping.get(key)
    where = _join(path, key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        problems.add(where, f"must be a non-empty string, got {_kind(value)}")
        return None
    if choices and value not in choices:
        problems.add(where, f"must be one of {', '.join(choices)}, got {value!r}")
        return None
    if pattern is not None and not pattern.match(value):
        problems.add(where, f"invalid value {value!r}{': ' + hint if hint else ''}")
        return None
    return value


def _relpath(mapping: dict[str, Any], key: str, path: str, problems: _Problems,
             default: str | None = None) -> str | None:
    value = _string(mapping, key, path, problems, default=default)
    if value is None:
        return None
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or "\\" in value or "\x00" in value:
        problems.add(_join(path, key), f"must be a relative path inside the repository, got {value!r}")
        return None
    return value


def _string_list(mapping: dict[str, Any], key: str, path: str, problems: _Problems,
                 pattern: re.Pattern[str] | None = None, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = mapping.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(_join(path, key), "must be a list of non-empty strings")
        return default
    for i, v in enumerate(value):
        if pattern is not None and not pattern.match(v):
            problems.add(f"{_join(path, key)}[{i}]", f"invalid value {v!r}")
    return tuple(value)


def _int(mapping: dict[str, Any], key: str, path: str, problems: _Problems, default: int,
         lo: int = 0, hi: int = 10_000) -> int:
    value = mapping.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.add(_join(path, key), f"must be an integer from {lo} to {hi}, got {value!r}")
        return default
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {type(None): "nothing", bool: "a boolean", int: "a number", float: "a number",
            str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _parse_environments(raw: Any, problems: _Problems) -> dict[str, Environment]:
    envs: dict[str, Environment] = {}
    data = _mapping(raw, "environments", problems, set(ENVIRONMENT_NAMES))
    if data is None:
        return envs
    fields = {"platform", "aws_region", "domain", "argocd_destination", "namespace"}
    for name in ENVIRONMENT_NAMES:
        if name not in data:
            continue
        path = f"environments.{name}"
        m = _mapping(data[name], path, problems, fields, {"platform", "aws_region", "domain"})
        if m is None:
            continue
        platform = _string(m, "platform", path, problems, choices=PLATFORMS)
        region = _string(m, "aws_region", path, problems, _REGION, "an AWS region such as ap-northeast-2")
        domain = _string(m, "domain", path, problems, _DOMAIN, "a lower-case DNS name")
        dest = _string(m, "argocd_destination", path, problems)
        namespace = _string(m, "namespace", path, problems, _NAME, default="shop")
        if platform and region and domain and namespace:
            envs[name] = Environment(name, platform, region, domain, dest, namespace)
    return envs


_SERVICE_KEYS = {"name", "repo", "dockerfile", "context", "ecr_repository", "manifest_path",
                 "environments", "paths", "test_command", "owners"}
_SERVICE_ENV_KEYS = {"manifest", "manifest_format", "values_key", "ecr_repository", "deploy",
                     "branches", "replicas", "domain"}


def _parse_service_env(svc_path: str, env: str, raw: Any, manifest_path: str | None,
                       ecr_repository: str | None, problems: _Problems) -> ServiceEnvironment | None:
    path = f"{svc_path}.environments.{env}"
    m = _mapping({} if raw is None else raw, path, problems, _SERVICE_ENV_KEYS)
    if m is None:
        return None
    default_manifest = f"{manifest_path}/overlays/{env}" if manifest_path else None
    manifest = _relpath(m, "manifest", path, problems, default=default_manifest)
    repo = _string(m, "ecr_repository", path, problems, _ECR_REPO,
                   "lower-case ECR repository name", default=ecr_repository)
    fmt = _string(m, "manifest_format", path, problems, choices=MANIFEST_FORMATS, default="kustomize")
    values_key = _string(m, "values_key", path, problems,
                         re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"), default="image")
    deploy = _string(m, "deploy", path, problems, choices=DEPLOY_MODES, default="commit")
    branches = _string_list(m, "branches", path, problems, default=("main",))
    domain = _string(m, "domain", path, problems, _DOMAIN, "a lower-case DNS name")
    rmin, rmax = 1, 1
    if m.get("replicas") is not None:
        rm = _mapping(m["replicas"], f"{path}.replicas", problems, {"min", "max"}, {"min", "max"})
        if rm is not None:
            rmin = _int(rm, "min", f"{path}.replicas", problems, 1, 0, 1000)
            rmax = _int(rm, "max", f"{path}.replicas", problems, 1, 1, 1000)
            if rmin > rmax:
                problems.add(f"{path}.replicas", f"min ({rmin}) is greater than max ({rmax})")
    if manifest is None or repo is None or fmt is None or deploy is None or values_key is None:
        return None
    return ServiceEnvironment(env, manifest, repo, fmt, values_key, deploy, branches,
                              rmin, rmax, domain)


def _parse_service(index: int, raw: Any, env_names: set[str],
                   problems: _Problems) -> Service | None:
    path = f"services[{index}]"
    m = _mapping(raw, path, problems, _SERVICE_KEYS,
                 {"name", "repo", "ecr_repository", "manifest_path", "environments"})
    if m is None:
        return None
    name = _string(m, "name", path, problems, _NAME, "lower-case letters, digits and '-'")
    repo = _string(m, "repo", path, problems, _GITHUB_REPO, "a GitHub repository as owner/name")
    dockerfile = _relpath(m, "dockerfile", path, problems, default="Dockerfile")
    context = _relpath(m, "context", path, problems, default=".")
    ecr = _string(m, "ecr_repository", path, problems, _ECR_REPO, "lower-case ECR repository name")
    manifest_path = _relpath(m, "manifest_path", path, problems)
    paths = _string_list(m, "paths", path, problems)
    test_command = _string(m, "test_command", path, problems, default="pytest")
    owners = _string_list(m, "owners", path, problems)
    envs: dict[str, ServiceEnvironment] = {}
    raw_envs = m.get("environments")
    if raw_envs is not None:
        env_map = _mapping(raw_envs, f"{path}.environments", problems, set(ENVIRONMENT_NAMES))
        if env_map is not None:
            if not env_map:
                problems.add(f"{path}.environments", "must name at least one environment")
            for env in env_map:
                if env not in ENVIRONMENT_NAMES:
                    continue
                if env not in env_names:
                    problems.add(f"{path}.environments.{env}", "environment is not defined under environments")
                    continue
                se = _parse_service_env(path, env, env_map[env], manifest_path, ecr, problems)
                if se is not None:
                    envs[env] = se
    if None in (name, repo, dockerfile, context, ecr, manifest_path, test_command):
        return None
    return Service(name, repo, dockerfile, context, ecr, manifest_path, envs,
                   paths, test_command, owners)


def unwrap(data: Any) -> Any:
    """The catalog mapping inside ``[{"_catalog": {...}}]``, the form ``jobs/catalog.yaml`` uses.

    jenkins-job-builder reads every ``*.yaml`` in ``jobs/`` and skips top-level entries whose
    key starts with ``_``, so the wrapped form lets ``jenkins-jobs update jobs/`` run unchanged.
    A bare mapping is accepted too (a catalog kept outside ``jobs/``).
    """
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict) and list(data[0]) == [CATALOG_KEY]:
        return data[0][CATALOG_KEY]
    return data


def parse_catalog(data: Any, source: str = str(DEFAULT_CATALOG)) -> Catalog:
    """Validate parsed YAML ``data``; raise :class:`GantryError` listing every problem."""
    problems = _Problems(source)
    if isinstance(data, list):
        unwrapped = unwrap(data)
        if unwrapped is data:
            raise GantryError(source, f"must be a mapping or a one-item list holding '{CATALOG_KEY}:'")
        data = unwrapped
    top = _mapping(data, "", problems, {"version", "defaults", "environments", "services"},
                   {"version", "defaults", "environments", "services"})
    if top is None:
        raise GantryError(source, problems.lines[0].split(": ", 1)[1], problems=problems.lines)
    if top.get("version") not in (None, 1):
        problems.add("version", f"unsupported catalog version {top.get('version')!r} (this gantry reads 1)")
    defaults_keys = {"aws_account_id", "registry_region", "replica_regions", "gitops_repo", "gitops_branch",
                     "github_url"}
    d = _mapping(top.get("defaults", {}), "defaults", problems, defaults_keys,
                 {"aws_account_id", "registry_region", "gitops_repo"}) or {}
    account = _string(d, "aws_account_id", "defaults", problems, _ACCOUNT, "12 digits (quote it in YAML)")
    region = _string(d, "registry_region", "defaults", problems, _REGION, "an AWS region")
    replicas = _string_list(d, "replica_regions", "defaults", problems, _REGION)
    if region and region in replicas:
        problems.add("defaults.replica_regions", f"must not contain the registry region {region}")
    gitops_repo = _string(d, "gitops_repo", "defaults", problems)
    gitops_branch = _string(d, "gitops_branch", "defaults", problems, _BRANCH,
                            "a git branch name (git check-ref-format)", default="main")
    github_url = _string(d, "github_url", "defaults", problems, re.compile(r"^https?://\S+$"),
                         "an http(s) URL", default="https://github.com")
    envs = _parse_environments(top.get("environments"), problems) if top.get("environments") is not None else {}

    services: list[Service] = []
    raw_services = top.get("services")
    if raw_services is not None and not isinstance(raw_services, list):
        problems.add("services", f"must be a list, got {_kind(raw_services)}")
    elif isinstance(raw_services, list):
        if not raw_services:
            problems.add("services", "must list at least one service")
        seen_names: dict[str, int] = {}
        seen_repos: dict[str, tuple[int, str]] = {}
        for i, raw in enumerate(raw_services):
            svc = _parse_service(i, raw, set(envs), problems)
            if svc is None:
                continue
            if svc.name in seen_names:
                problems.add(f"services[{i}].name", f"duplicate service {svc.name!r} (also services[{seen_names[svc.name]}])")
                continue
            seen_names[svc.name] = i
            for env in svc.environments.values():
                other = seen_repos.get(env.ecr_repository)
                if other is not None and other[1] != svc.name:
                    problems.add(f"services[{i}].environments.{env.name}.ecr_repository",
                                 f"repository {env.ecr_repository!r} is already used by services[{other[0]}]")
                seen_repos.setdefault(env.ecr_repository, (i, svc.name))
            services.append(svc)
    if problems.lines:
        first = problems.lines[0].split(": ", 1)[1]
        raise GantryError(source, first, problems=problems.lines)
    assert account and region and gitops_repo and github_url  # guaranteed by required checks
    return Catalog(source, account, region, replicas, gitops_repo, github_url, envs, tuple(services),
                   gitops_branch=gitops_branch or "main")


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> Catalog:
    """Load and validate the catalog file at ``path``."""
    return parse_catalog(load_yaml_file(path), str(path))
