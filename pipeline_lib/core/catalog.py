"""The service catalog (``jobs/catalog.yaml``): typed model and validation.

The catalog is the single source of truth for services. Validation collects every
problem with its key path (``jobs/catalog.yaml: services[2].ecr_repository: required``)
and raises one :class:`~pipeline_lib.core.errors.GantryError` carrying all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .environments import DEFAULT_CATALOG, ENVIRONMENT_NAMES
from .errors import GantryError
from .yamlload import load_yaml_file

if TYPE_CHECKING:   # core.freeze (datetime, zoneinfo) is imported when a catalog has freeze windows
    from .freeze import Spec

CATALOG_KEY = "_catalog"
DEPLOY_MODES = ("commit", "pr")
MANIFEST_FORMATS = ("kustomize", "helm")
PLATFORMS = ("jenkins", "eks", "ecs-fargate")
EVIDENCE_MODES = ("required", "warn", "off")
EVIDENCE_KINDS = ("provenance", "sbom", "verdict")   # pipeline_lib.attest.statement.KINDS
#: ``signing:`` defaults when an environment is not listed: evidence required where customers are
DEFAULT_EVIDENCE = {"dev": "warn", "prod": "required", "event": "required"}

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
#: a service (and namespace, cluster) name: what ``services[].name`` must match
SERVICE_NAME = _NAME
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
# ECR repository names: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
_ECR_REPO = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
# A branch name git accepts (git-check-ref-format(1)): no control characters, space, ~ ^ : ? * [ \,
# no "..", "@{", "//", no component starting with "." or ending with ".lock", not ending in "/" or ".".
_BRANCH = re.compile(r"^(?!/|.*(?:\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))(?!\.)[^\x00-\x20\x7f~^:?*\[\\]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d[a-z]$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:certificate/[0-9a-f-]{36}$")
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
# Kubernetes resource quantities: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
_CPU = re.compile(r"^(?:\d+m|\d+(?:\.\d{1,3})?)$")
_MEMORY = re.compile(r"^\d+(?:Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_PERCENT = re.compile(r"^(?:100|[1-9]?\d)%$")


def cpu_millicores(quantity: str) -> int:
    """``"250m"`` -> 250, ``"1.5"`` -> 1500 (a quantity :data:`_CPU` accepted)."""
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


def memory_bytes(quantity: str) -> int:
    """``"256Mi"`` -> 268435456 (a quantity :data:`_MEMORY` accepted)."""
    m = re.match(r"^(\d+)(\D*)$", quantity)
    assert m is not None
    return int(m.group(1)) * _MEMORY_UNITS[m.group(2)]


@dataclass(frozen=True)
class Environment:
    """A deployment environment shared by all services (dev, prod or event)."""

    name: str
    platform: str
    aws_region: str
    domain: str
    argocd_destination: str | None = None
    namespace: str = "shop"
    zones: tuple[str, ...] = ()
    """Availability zones workloads and Karpenter nodes spread over (e.g. ap-northeast-2a)."""
    cluster_name: str | None = None
    """The cluster (and network) name: the value of the ``karpenter.sh/discovery`` tag that
    infra/modules/network puts on the private subnets (``var.name``, e.g. ``shop-prod``)."""
    certificate_arn: str | None = None
    """ACM certificate for the environment's ALB listeners (else the controller discovers one
    by the Ingress's TLS host)."""
    watch: str = "daily"
    """How often the generated ``{env}/watch`` Jenkins job re-scans what the environment runs
    (``gantry watch``): ``hourly``, ``daily``, ``weekly``, ``off`` (no job) or a Jenkins cron
    spec of five fields (``H 6 * * 1-5``)."""

    @property
    def watch_schedule(self) -> str | None:
        """The Jenkins ``timed`` trigger for :attr:`watch` (``H``: Jenkins spreads the minute by
        job name); None when ``off``."""
        return WATCH_SCHEDULES.get(self.watch, self.watch) if self.watch != "off" else None


@dataclass(frozen=True)
class Resources:
    """Container CPU/memory requests and limits as Kubernetes quantities (``250m``, ``256Mi``)."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class HealthPaths:
    """HTTP paths of the container's probes (readiness, liveness, startup) and its metrics."""

    readiness: str = "/healthz"
    liveness: str = "/healthz"
    startup: str = "/healthz"
    metrics: str = "/metrics"


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
    resources: Resources = Resources()
    hpa_cpu_utilization: int = 70
    """HPA target: average CPU utilisation in percent of the CPU request."""
    pdb_min_available: int | str | None = None
    """PodDisruptionBudget ``minAvailable`` (an integer or ``"N%"``); None: see :attr:`min_available`."""
    host: str | None = None
    """Ingress host; None: ``<service>.<domain>`` (the service's, else the environment's domain)."""

    @property
    def min_available(self) -> int | str:
        """``pdb_min_available``, else ``"50%"`` with two or more replicas, else 0 (so a
        single replica never blocks a node drain)."""
        if self.pdb_min_available is not None:
            return self.pdb_min_available
        return "50%" if self.replicas_min >= 2 else 0


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
    health: HealthPaths = HealthPaths()

    def ingress_host(self, env: ServiceEnvironment, environment: Environment) -> str:
        """The host the service answers on in ``environment`` (catalog ``host``, else derived)."""
        return env.host or f"{self.name}.{env.domain or environment.domain}"

    def environment(self, name: str) -> ServiceEnvironment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise GantryError(f"service {self.name}",
                              f"not deployed to environment {name!r} (it has: {known})") from None


@dataclass(frozen=True)
class SigningPolicy:
    """An environment's ``signing:`` entry: whether image evidence is ``required`` (bump, promote,
    failover and event deploy refuse a digest without it), ``warn`` (they say so and go on) or
    ``off``; ``trusted_keys``: PEM public key files (absolute, resolved against the catalog's
    directory); ``key``: what the push stage signs with (a PEM private key path or
    ``awskms:///alias/NAME`` / ``awskms:///arn:…``; None: the push stage does not sign);
    ``require``: the attestation kinds every digest needs."""

    environment: str
    evidence: str
    trusted_keys: tuple[str, ...] = ()
    key: str | None = None
    require: tuple[str, ...] = EVIDENCE_KINDS
    configured: bool = True


_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """``"30m"`` -> 1800: an integer and one unit, s, m, h or d (:data:`_DURATION`); ValueError otherwise."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


@dataclass(frozen=True)
class PromotionPolicy:
    """The ``promotion:`` section: freight is recorded when a bump lands in ``source`` (dev) and
    promoted only once its Argo CD Application there has been Synced and Healthy at the pinning
    commit for ``soak_seconds`` (from ``soak``, e.g. ``30m``)."""

    soak_seconds: int = 1800
    source: str = "dev"


@dataclass(frozen=True)
class LoadStep:
    """One request of the load profile's mix: ``method`` ``path`` on the target, picked with
    probability ``weight`` / (sum of the weights); ``json`` is the request body (POST/PUT/PATCH)."""

    name: str
    path: str
    weight: int
    method: str = "GET"
    json: Any = None


@dataclass(frozen=True)
class LoadThresholds:
    """What the load gate requires: 95th/99th percentile latency (ms) at most ``p95_ms``/``p99_ms``,
    failed requests at most ``error_rate_pct`` % of all, throughput at least ``min_rps`` req/s."""

    p95_ms: float
    p99_ms: float
    error_rate_pct: float
    min_rps: float


@dataclass(frozen=True)
class LoadProfile:
    """``event.load``: the traffic ``gantry event loadtest`` sends (Locust users, spawned
    ``spawn_rate`` per second, for ``duration_s`` seconds, each waiting ``wait_ms`` (min, max) ms
    between requests, picking from ``mix``) and the thresholds it must meet. ``target``: the
    default base URL (``--target`` overrides)."""

    users: int
    spawn_rate: float
    duration_s: float
    wait_ms: tuple[int, int]
    mix: tuple[LoadStep, ...]
    thresholds: LoadThresholds
    target: str | None = None


@dataclass(frozen=True)
class FreezePolicy:
    """An environment's ``freeze:`` entry: its ``windows`` (absolute or recurring, see
    :mod:`pipeline_lib.core.freeze`) and ``event_calendar``: the EventBridge Scheduler group of
    ``gantry event schedule`` whose sale windows also freeze it (None: not read)."""

    environment: str
    windows: tuple[Spec, ...] = ()
    event_calendar: str | None = None


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
    gitops_commits: str = "batch"  # concurrent bumps: one commit per batch, or "per-service"
    gitops_batch_window_ms: int = 200  # bumps arriving within this window share a batch
    signing: dict[str, SigningPolicy] | None = None
    """The ``signing:`` section (None: the catalog has none, see :meth:`signing_for`)."""
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)
    event_load: LoadProfile | None = None
    """``event.load``: the load gate's traffic profile and thresholds (None: not configured)."""
    freeze: dict[str, FreezePolicy] = field(default_factory=dict)
    """The ``freeze:`` section: environment -> its freeze windows (:mod:`pipeline_lib.core.freeze`)."""

    def freeze_for(self, environment: str) -> FreezePolicy:
        """The environment's freeze policy (none set: no windows, no event calendar)."""
        return self.freeze.get(environment) or FreezePolicy(environment)

    def signing_for(self, environment: str) -> SigningPolicy:
        """The environment's evidence policy. With a ``signing:`` section, an environment it does
        not list gets :data:`DEFAULT_EVIDENCE` (required in prod and event, warn in dev) and no
        trusted key — a required environment without keys cannot evaluate (exit 2). A catalog with
        no ``signing:`` section at all gets the same defaults (``configured`` False, so callers can
        say the policy is implicit): a catalog must opt out of evidence explicitly
        (``signing: {prod: {evidence: off}}``), never by omission."""
        if self.signing is None or environment not in self.signing:
            return SigningPolicy(environment, DEFAULT_EVIDENCE.get(environment, "required"),
                                 configured=self.signing is not None)
        return self.signing[environment]

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
        got = "an empty string" if isinstance(value, str) else _kind(value)
        problems.add(where, f"must be a non-empty string, got {got}")
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


WATCH_SCHEDULES = {"hourly": "H * * * *", "daily": "H H * * *", "weekly": "H H * * H"}
#: Jenkins' cron aliases (hudson.scheduler.CronTab: @yearly … @hourly, each spread with H)
_CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
#: the five fields and their ranges (Jenkins' "Build periodically" help: MINUTE HOUR DOM MONTH DOW)
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
                ("day of week", 0, 7))
#: one term of a field, as Jenkins' CrontabParser.g reads it: ``*``, ``H``, ``H(a-b)``, ``n`` or
#: ``a-b``; all but ``n`` may take a ``/step``
_CRON_TERM = re.compile(r"^(?:(?P<star>\*)|H(?:\((?P<hlo>\d+)-(?P<hhi>\d+)\))?|(?P<lo>\d+)(?:-(?P<hi>\d+))?)"
                        r"(?:/(?P<step>\d+))?$")


def cron_problem(spec: str) -> str | None:
    """Why ``spec`` is not a Jenkins cron spec (five fields, or an ``@hourly``-style alias), or
    None when it is one. Each field is a comma list of ``*``, ``H``, ``H(a-b)``, ``n`` or ``a-b``
    (all but ``n`` with an optional ``/step``), numbers within the field's range (minute 0-59,
    hour 0-23, day of month 1-31, month 1-12, day of week 0-7). Source: Jenkins core,
    hudson/scheduler/CrontabParser.g4 and CronTab.java."""
    if spec.startswith("@"):
        return None if spec in _CRON_ALIASES else f"unknown alias {spec!r} (known: {', '.join(_CRON_ALIASES)})"
    fields = spec.split()
    if len(fields) != 5:
        return f"has {len(fields)} fields, a cron spec has five (minute hour day-of-month month day-of-week)"
    for value, (label, lo, hi) in zip(fields, _CRON_FIELDS):
        for term in value.split(","):
            m = _CRON_TERM.match(term)
            if m is None or (m["step"] is not None and m["lo"] is not None and m["hi"] is None):
                return f"{label} field {value!r}: {term!r} is not *, H, H(a-b), a number or a range a-b (/step)"
            bounds = [int(v) for v in (m["hlo"], m["hhi"], m["lo"], m["hi"]) if v is not None]
            if any(not lo <= b <= hi for b in bounds):
                return f"{label} field {value!r}: out of range {lo}-{hi}"
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                return f"{label} field {value!r}: range {bounds[0]}-{bounds[1]} runs backwards"
            if m["step"] is not None and not 1 <= int(m["step"]) <= hi - lo + 1:
                return f"{label} field {value!r}: step {m['step']} must be from 1 to {hi - lo + 1}"
    return None


def _parse_environments(raw: Any, problems: _Problems) -> dict[str, Environment]:
    envs: dict[str, Environment] = {}
    data = _mapping(raw, "environments", problems, set(ENVIRONMENT_NAMES))
    if data is None:
        return envs
    fields = {"platform", "aws_region", "domain", "argocd_destination", "namespace", "zones",
              "cluster_name", "certificate_arn", "watch"}
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
        zones = _string_list(m, "zones", path, problems, _ZONE)
        if region and any(not z.startswith(region) for z in zones):
            problems.add(f"{path}.zones", f"every zone must be in {region}, got {', '.join(zones)}")
        if len(set(zones)) != len(zones):
            problems.add(f"{path}.zones", "lists a zone twice")
        cluster = _string(m, "cluster_name", path, problems, _NAME, "lower-case letters, digits and '-'")
        cert = _string(m, "certificate_arn", path, problems, _ACM_ARN, "an ACM certificate ARN")
        # YAML 1.1 reads a bare `off` as false
        watch = "off" if m.get("watch") is False else _string(m, "watch", path, problems, default="daily")
        if watch is not None and watch not in (*WATCH_SCHEDULES, "off") and (why := cron_problem(watch)):
            problems.add(f"{path}.watch", f"must be hourly, daily, weekly, off or a Jenkins cron spec; "
                                          f"{watch!r} {why}")
            watch = None
        if platform and region and domain and namespace and watch:
            envs[name] = Environment(name, platform, region, domain, dest, namespace, zones, cluster, cert, watch)
    return envs


_SERVICE_KEYS = {"name", "repo", "dockerfile", "context", "ecr_repository", "manifest_path",
                 "environments", "paths", "test_command", "owners", "health"}
_SERVICE_ENV_KEYS = {"manifest", "manifest_format", "values_key", "ecr_repository", "deploy",
                     "branches", "replicas", "domain", "resources", "hpa_cpu_utilization",
                     "pdb_min_available", "host"}


def _parse_resources(raw: Any, path: str, problems: _Problems) -> Resources:
    """``resources: {requests: {cpu, memory}, limits: {cpu, memory}}``; each limit >= its request."""
    default = Resources()
    if raw is None:
        return default
    m = _mapping(raw, path, problems, {"requests", "limits"})
    if m is None:
        return default
    values: dict[str, str] = {}
    for part in ("requests", "limits"):
        sub = _mapping(m.get(part) or {}, f"{path}.{part}", problems, {"cpu", "memory"})
        if sub is None:
            continue
        for key, pattern, hint in (("cpu", _CPU, "a CPU quantity such as 250m or 1.5"),
                                   ("memory", _MEMORY, "a memory quantity such as 256Mi or 1Gi")):
            value = sub.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = sub[key] = str(value)  # `cpu: 1` is a valid quantity in YAML
            v = _string(sub, key, f"{path}.{part}", problems, pattern, hint)
            if v is not None:
                values[f"{key}_{'request' if part == 'requests' else 'limit'}"] = v
    res = Resources(**{**default.__dict__, **values})
    if cpu_millicores(res.cpu_limit) < cpu_millicores(res.cpu_request):
        problems.add(f"{path}.limits.cpu", f"{res.cpu_limit} is below the request {res.cpu_request}")
    if memory_bytes(res.memory_limit) < memory_bytes(res.memory_request):
        problems.add(f"{path}.limits.memory", f"{res.memory_limit} is below the request {res.memory_request}")
    return res


def _parse_health(raw: Any, path: str, problems: _Problems) -> HealthPaths:
    """``health: {readiness, liveness, startup, metrics}``: absolute HTTP paths."""
    if raw is None:
        return HealthPaths()
    m = _mapping(raw, path, problems, {"readiness", "liveness", "startup", "metrics"})
    if m is None:
        return HealthPaths()
    got = {k: _string(m, k, path, problems, _HTTP_PATH, "an absolute HTTP path such as /healthz")
           for k in ("readiness", "liveness", "startup", "metrics")}
    return HealthPaths(**{k: v for k, v in got.items() if v is not None})


def _parse_min_available(m: dict[str, Any], path: str, rmin: int, problems: _Problems) -> int | str | None:
    value = m.get("pdb_min_available")
    where = _join(path, "pdb_min_available")
    if value is None:
        return None
    if isinstance(value, str) and _PERCENT.match(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.add(where, f"must be a non-negative integer or a percentage such as 50%, got {value!r}")
        return None
    if rmin and value >= rmin:
        problems.add(where, f"{value} leaves no pod to evict at the minimum of {rmin} replicas "
                            "(node drains would block); use fewer or a percentage")
        return None
    return value


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
    resources = _parse_resources(m.get("resources"), f"{path}.resources", problems)
    hpa_cpu = _int(m, "hpa_cpu_utilization", path, problems, 70, 1, 100)
    min_available = _parse_min_available(m, path, rmin, problems)
    host = _string(m, "host", path, problems, _DOMAIN, "a lower-case DNS name")
    if manifest is None or repo is None or fmt is None or deploy is None or values_key is None:
        return None
    return ServiceEnvironment(env, manifest, repo, fmt, values_key, deploy, branches,
                              rmin, rmax, domain, resources, hpa_cpu, min_available, host)


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
    health = _parse_health(m.get("health"), f"{path}.health", problems)
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
                   paths, test_command, owners, health)


def _parse_signing(raw: Any, envs: set[str], base: Path | None,
                   problems: _Problems) -> dict[str, SigningPolicy] | None:
    """``signing: {<env>: {evidence, trusted_keys, key, require}}``; key files relative to ``base``;
    each trusted key file (not ``awskms://``) must exist and be a regular file."""
    if raw is None:
        return None
    data = _mapping(raw, "signing", problems, set(ENVIRONMENT_NAMES))
    if data is None:
        return None
    out: dict[str, SigningPolicy] = {}
    for name, value in data.items():
        path = f"signing.{name}"
        if name not in ENVIRONMENT_NAMES:   # already reported as an unknown key
            continue
        if name not in envs:
            problems.add(path, "environment is not defined under environments")
            continue
        m = _mapping({} if value is None else value, path, problems, {"evidence", "trusted_keys", "key", "require"})
        if m is None:
            continue
        if m.get("evidence") is False:     # YAML 1.1 reads an unquoted `off` as false
            m = {**m, "evidence": "off"}
        evidence = _string(m, "evidence", path, problems, choices=EVIDENCE_MODES,
                           default=DEFAULT_EVIDENCE.get(name, "required"))
        keys = _string_list(m, "trusted_keys", path, problems)
        key = _string(m, "key", path, problems)
        require = _string_list(m, "require", path, problems, default=EVIDENCE_KINDS)
        for i, kind in enumerate(require):
            if kind not in EVIDENCE_KINDS:
                problems.add(f"{path}.require[{i}]", f"unknown attestation {kind!r} (known: {', '.join(EVIDENCE_KINDS)})")
        if evidence == "required" and not keys:
            problems.add(f"{path}.trusted_keys", "evidence is required: list at least one trusted public key")

        def resolve(p: str) -> str:
            if p.startswith("awskms://") or Path(p).is_absolute() or base is None:
                return p
            return str(base / p)
        for i, k in enumerate(keys):
            file = Path(resolve(k))
            if k.startswith("awskms://") or not file.is_absolute():
                continue
            if not file.exists():
                problems.add(f"{path}.trusted_keys[{i}]", f"{file}: no such file (a PEM public key file)")
            elif not file.is_file():
                problems.add(f"{path}.trusted_keys[{i}]", f"{file}: not a regular file (a PEM public key file)")
        if evidence is not None:
            out[name] = SigningPolicy(name, evidence, tuple(resolve(k) for k in keys),
                                      resolve(key) if key else None, tuple(dict.fromkeys(require)))
    return out


def _parse_promotion(raw: Any, envs: dict[str, Environment], problems: _Problems) -> PromotionPolicy:
    """``promotion: {soak: 30m, source: dev}``: each key optional (defaults: :class:`PromotionPolicy`)."""
    if raw is None:
        return PromotionPolicy()
    m = _mapping(raw, "promotion", problems, {"soak", "source"})
    if m is None:
        return PromotionPolicy()
    soak = PromotionPolicy.soak_seconds
    value = m.get("soak")
    if value is not None:
        try:
            if not isinstance(value, str):
                raise ValueError(f"must be a string like 30m, got {_kind(value)}")
            soak = duration_seconds(value)
        except ValueError as exc:
            problems.add("promotion.soak", str(exc))
    source = _string(m, "source", "promotion", problems, default="dev") or "dev"
    if envs and source not in envs:
        problems.add("promotion.source", f"environment {source!r} is not defined under environments")
    return PromotionPolicy(soak, source)


_LOAD_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")
MAX_LOAD_SECONDS = 24 * 3600.0   # a load test longer than a day is a typo, not a plan
_LOAD_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_URL = re.compile(r"^https?://[^\s/?#@]+(?:/\S*)?$")   # no user:password@: it goes into reports


def _number(mapping: dict[str, Any], key: str, path: str, problems: _Problems,
            lo: float, hi: float, *, above: bool = False) -> float | None:
    """A number from ``lo`` to ``hi`` (``above``: greater than ``lo``); None when missing (the
    caller's :func:`_mapping` ``required`` reports that) or invalid."""
    value = mapping.get(key)
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and \
        (lo < value if above else lo <= value) and value <= hi
    if not ok:
        low = f"above {lo:g}" if above else f"from {lo:g}"
        problems.add(_join(path, key), f"must be a number {low} up to {hi:g}, got {value!r}")
        return None
    return float(value)


def _json_body(value: Any) -> bool:
    """True when ``value`` is plain JSON data (what YAML gave may hold dates or sets)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_body(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_body(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _parse_load(raw: Any, problems: _Problems) -> LoadProfile | None:
    """``event.load: {target, users, spawn_rate, duration, wait_ms, mix, thresholds}`` (see
    :class:`LoadProfile`); ``duration`` is seconds or ``90s``/``5m``/``1h``."""
    path = "event.load"
    m = _mapping(raw, path, problems, {"target", "users", "spawn_rate", "duration", "wait_ms", "mix", "thresholds"},
                 {"users", "spawn_rate", "duration", "mix", "thresholds"})
    if m is None:
        return None
    target = _string(m, "target", path, problems, _URL, "an http(s) URL without credentials")
    users = _int(m, "users", path, problems, 0, 1, 100_000)
    spawn_rate = _number(m, "spawn_rate", path, problems, 0, 10_000, above=True)
    duration = m.get("duration")
    seconds: float | None = None
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration > 0:
        seconds = float(duration)
    elif isinstance(duration, str) and (d := _LOAD_DURATION.match(duration.strip())):
        seconds = float(d.group(1)) * {"s": 1, "m": 60, "h": 3600}[d.group(2)]
    if duration is not None and not seconds:
        problems.add(f"{path}.duration", f"must be seconds or a duration such as 90s, 5m or 1h, got {duration!r}")
    elif seconds and seconds > MAX_LOAD_SECONDS:
        problems.add(f"{path}.duration", f"must be at most 24h, got {duration!r}")
        seconds = None
    wait = m.get("wait_ms", [0, 0])
    if (not isinstance(wait, list) or len(wait) != 2 or any(isinstance(w, bool) or not isinstance(w, int) for w in wait)
            or not 0 <= wait[0] <= wait[1] <= 600_000):
        problems.add(f"{path}.wait_ms", f"must be [min, max] milliseconds (0 <= min <= max), got {wait!r}")
        wait = [0, 0]
    steps: list[LoadStep] = []
    raw_mix = m.get("mix")
    if not isinstance(raw_mix, list) or not raw_mix:
        if raw_mix is not None:
            problems.add(f"{path}.mix", "must be a non-empty list of requests")
    else:
        seen: set[str] = set()
        for i, item in enumerate(raw_mix):
            ip = f"{path}.mix[{i}]"
            s = _mapping(item, ip, problems, {"name", "path", "weight", "method", "json"}, {"name", "path", "weight"})
            if s is None:
                continue
            name = _string(s, "name", ip, problems, _NAME, "lower-case letters, digits and '-'")
            req_path = _string(s, "path", ip, problems, _HTTP_PATH, "an absolute URL path such as /products")
            weight = _int(s, "weight", ip, problems, 0, 1, 1000)
            method = _string(s, "method", ip, problems, choices=_LOAD_METHODS, default="GET")
            if name in seen:
                problems.add(f"{ip}.name", f"duplicate request name {name!r}")
            elif s.get("json") is not None and (not isinstance(s["json"], (dict, list)) or not _json_body(s["json"])):
                problems.add(f"{ip}.json", "must be a JSON object or array (a mapping or list of plain data), "
                                           f"got {_kind(s['json'])}")
            elif name and req_path and weight and method:
                seen.add(name)
                steps.append(LoadStep(name, req_path, weight, method, s.get("json")))
    t = _mapping(m.get("thresholds"), f"{path}.thresholds", problems,
                 {"p95_ms", "p99_ms", "error_rate_pct", "min_rps"},
                 {"p95_ms", "p99_ms", "error_rate_pct", "min_rps"}) if m.get("thresholds") is not None else None
    limits = None
    if t is not None:
        tp = f"{path}.thresholds"
        vals = (_number(t, "p95_ms", tp, problems, 0, 3_600_000, above=True),
                _number(t, "p99_ms", tp, problems, 0, 3_600_000, above=True),
                _number(t, "error_rate_pct", tp, problems, 0, 100),
                _number(t, "min_rps", tp, problems, 0, 10_000_000))
        if None not in vals:
            limits = LoadThresholds(*vals)  # type: ignore[arg-type]
    if users and spawn_rate and seconds and steps and limits and len(steps) == len(raw_mix or ()):
        return LoadProfile(users, spawn_rate, seconds, (wait[0], wait[1]), tuple(steps), limits, target)
    return None


def _parse_event(raw: Any, envs: set[str], problems: _Problems) -> LoadProfile | None:
    """The ``event:`` section: ``load`` (the load gate's profile, :func:`_parse_load`)."""
    if raw is None:
        return None
    m = _mapping(raw, "event", problems, {"load"})
    if m is None:
        return None
    if "event" not in envs:
        problems.add("event", "the event environment is not defined under environments")
    return _parse_load(m["load"], problems) if m.get("load") is not None else None


def _parse_freeze(raw: Any, envs: dict[str, Environment], problems: _Problems) -> dict[str, FreezePolicy]:
    """``freeze: {<env>: {windows: [...], event_calendar: <schedule group>}}``."""
    if raw is None:
        return {}
    data = _mapping(raw, "freeze", problems, set(ENVIRONMENT_NAMES))
    out: dict[str, FreezePolicy] = {}
    for name, value in (data or {}).items():
        path = f"freeze.{name}"
        if name not in ENVIRONMENT_NAMES:   # already reported as an unknown key
            continue
        if name not in envs:
            problems.add(path, "environment is not defined under environments")
            continue
        m = _mapping({} if value is None else value, path, problems, {"windows", "event_calendar"})
        if m is None:
            continue
        windows: list[Spec] = []
        raw_windows = m.get("windows") or []
        if not isinstance(raw_windows, list):
            problems.add(f"{path}.windows", f"must be a list, got {_kind(raw_windows)}")
            raw_windows = []
        if raw_windows:
            from .freeze import parse_spec as parse_freeze_spec
        for i, item in enumerate(raw_windows):
            try:
                windows.append(parse_freeze_spec(item))
            except ValueError as exc:
                field_name, _, what = str(exc).partition(": ")
                where = f"{path}.windows[{i}]" + (f".{field_name}" if what and " " not in field_name else "")
                problems.add(where, what if what and " " not in field_name else str(exc))
        calendar = _string(m, "event_calendar", path, problems)
        out[name] = FreezePolicy(name, tuple(windows), calendar)
    return out


def unwrap(data: Any) -> Any:
    """The catalog mapping inside ``[{"_catalog": {...}}]``, the form ``jobs/catalog.yaml`` uses.

    jenkins-job-builder reads every ``*.yaml`` in ``jobs/`` and skips top-level entries whose
    key starts with ``_``, so the wrapped form lets ``jenkins-jobs update jobs/`` run unchanged.
    A bare mapping is accepted too (a catalog kept outside ``jobs/``).
    """
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict) and list(data[0]) == [CATALOG_KEY]:
        return data[0][CATALOG_KEY]
    return data


def parse_catalog(data: Any, source: str = str(DEFAULT_CATALOG), *, located: Path | None = None) -> Catalog:
    """Validate parsed YAML ``data``; raise :class:`GantryError` listing every problem. Relative
    key files are resolved against the directory of ``located`` (default: of ``source``)."""
    problems = _Problems(source)
    if isinstance(data, list):
        unwrapped = unwrap(data)
        if unwrapped is data:
            raise GantryError(source, f"must be a mapping or a one-item list holding '{CATALOG_KEY}:'")
        data = unwrapped
    top = _mapping(data, "", problems, {"version", "defaults", "environments", "services", "signing", "event", "freeze",
                                            "promotion"},
                   {"version", "defaults", "environments", "services"})
    if top is None:
        raise GantryError(source, problems.lines[0].split(": ", 1)[1], problems=problems.lines)
    if top.get("version") not in (None, 1):
        problems.add("version", f"unsupported catalog version {top.get('version')!r} (this gantry reads 1)")
    defaults_keys = {"aws_account_id", "registry_region", "replica_regions", "gitops_repo", "gitops_branch",
                     "github_url", "gitops_commits", "gitops_batch_window_ms"}
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
    gitops_commits = _string(d, "gitops_commits", "defaults", problems, choices=("batch", "per-service"),
                             default="batch")
    gitops_window = _int(d, "gitops_batch_window_ms", "defaults", problems, 200, 0, 10_000)
    github_url = _string(d, "github_url", "defaults", problems, re.compile(r"^https?://\S+$"),
                         "an http(s) URL", default="https://github.com")
    envs = _parse_environments(top.get("environments"), problems) if top.get("environments") is not None else {}
    # an environment written under environments counts as defined even when one of its fields is
    # wrong (that field's problem is reported once, not again at every service naming the env)
    raw_envs = top.get("environments")
    defined = set(envs) | ({n for n in raw_envs if n in ENVIRONMENT_NAMES} if isinstance(raw_envs, dict) else set())
    base = (located or Path(source)).resolve().parent if located or (source and not source.startswith("<")) else None
    signing = _parse_signing(top.get("signing"), defined, base, problems)
    event_load = _parse_event(top.get("event"), defined, problems)
    freeze = _parse_freeze(top.get("freeze"), envs, problems)
    promotion = _parse_promotion(top.get("promotion"), envs, problems)

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
            svc = _parse_service(i, raw, defined, problems)
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
                   gitops_branch=gitops_branch or "main", gitops_commits=gitops_commits or "batch",
                   gitops_batch_window_ms=gitops_window, signing=signing, event_load=event_load,
                   freeze=freeze, promotion=promotion)


def load_catalog(path: str | Path = DEFAULT_CATALOG, *, display: str | None = None) -> Catalog:
    """Load and validate the catalog file at ``path``; errors name it ``display`` (default
    ``path``: e.g. the relative path another process was given, read here from its directory)."""
    return parse_catalog(load_yaml_file(path, display), display or str(path), located=Path(path))
