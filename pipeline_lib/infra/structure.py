"""Required structure of ``infra/``, read from the parsed configuration (python-hcl2).

Rules are data: module-level guarantees (what each module does with its inputs), per-environment
requirements (what prod and event must set), and catalog-derived ones (the platform an
environment runs on, a route for every service, replication to the catalog's replica regions).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from .catalogvars import REGISTRY_OWNER, TFVARS_NAME
from .hcl import Root, load_root
from .terraform import Finding

MODULES = ("network", "ecr", "eks", "rds", "redis", "edge", "ecs-fargate", "dms", "monitoring", "jenkins")
PLATFORM_MODULE = {"eks": "eks", "ecs-fargate": "ecs-fargate", "jenkins": "jenkins"}
CATALOG_VARIABLES = ("aws_account_id", "environment", "registry", "services")
_EXACT_VERSION = re.compile(r"^=?\s*\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Attr:
    """``resource <rtype>`` (or ``module`` from ``source``) in a root must set ``key`` to ``value``."""

    rtype: str
    key: str
    value: Any
    why: str


# What each module guarantees with its inputs (``${var.x}`` means "driven by the caller").
MODULE_RULES: dict[str, list[Attr]] = {
    "rds": [Attr("aws_db_instance", "multi_az", "${var.multi_az}", "Multi-AZ is the caller's choice, never hard-coded off"),
            Attr("aws_db_instance", "storage_encrypted", True, "RDS storage is encrypted"),
            Attr("aws_db_instance", "backup_retention_period", "${var.backup_retention_days}", "RDS keeps backups"),
            Attr("aws_db_instance", "publicly_accessible", False, "RDS is private")],
    "redis": [Attr("aws_elasticache_replication_group", "multi_az_enabled", "${var.multi_az}", "Redis Multi-AZ follows the caller"),
              Attr("aws_elasticache_replication_group", "automatic_failover_enabled", "${var.multi_az}", "Redis fails over automatically"),
              Attr("aws_elasticache_replication_group", "transit_encryption_enabled", True, "Redis encrypts in transit"),
              Attr("aws_elasticache_replication_group", "at_rest_encryption_enabled", True, "Redis encrypts at rest")],
    "ecs-fargate": [Attr("aws_ecs_service", "launch_type", "FARGATE", "services run on Fargate")],
    "dms": [Attr("aws_dms_replication_instance", "publicly_accessible", False, "DMS is private")],
}
# Resource types each module must contain.
MODULE_RESOURCES: dict[str, tuple[str, ...]] = {
    "network": ("aws_vpc", "aws_nat_gateway", "aws_vpc_endpoint", "aws_flow_log"),
    "ecr": ("aws_ecr_repository", "aws_ecr_replication_configuration"),
    "eks": ("aws_eks_cluster", "aws_eks_node_group", "aws_iam_openid_connect_provider", "aws_eks_addon",
            "aws_sqs_queue"),
    "rds": ("aws_db_instance", "aws_db_parameter_group"),
    "redis": ("aws_elasticache_replication_group",),
    "edge": ("aws_cloudfront_distribution", "aws_lb", "aws_wafv2_web_acl", "aws_acm_certificate"),
    "ecs-fargate": ("aws_ecs_service", "aws_appautoscaling_target", "aws_appautoscaling_policy"),
    "dms": ("aws_dms_replication_instance", "aws_dms_replication_task", "aws_vpc_peering_connection"),
    "monitoring": ("aws_cloudwatch_metric_alarm", "aws_sns_topic", "aws_kinesis_firehose_delivery_stream",
                   "aws_s3_bucket"),
    "jenkins": ("aws_instance", "aws_autoscaling_group"),
}
# What each environment's module calls must set.
ENV_RULES: dict[str, list[tuple[str, str, Any, str]]] = {
    "prod": [("rds", "multi_az", True, "prod RDS is Multi-AZ"),
             ("rds", "deletion_protection", True, "prod RDS is deletion-protected"),
             ("redis", "multi_az", True, "prod Redis is Multi-AZ"),
             ("eks", "karpenter_enabled", True, "prod EKS runs workloads on Karpenter"),
             ("ecr", "repositories", "${var.ecr_repositories}", "ECR repositories come from the catalog"),
             ("ecr", "replication_rule", "${var.ecr_replication_rule}", "the replication rule comes from desired_rule()")],
    "event": [("rds", "multi_az", True, "event RDS is Multi-AZ"),
              ("rds", "deletion_protection", False, "the event stack is destroyed after the event"),
              ("redis", "multi_az", True, "event Redis is Multi-AZ"),
              ("edge", "deletion_protection", False, "the event stack is destroyed after the event"),
              ("monitoring", "force_destroy_archive", True, "nothing outlives the event but state and the final snapshot")],
}
ENV_REQUIRED_MODULES = {"prod": ("network", "ecr", "eks", "rds", "redis", "edge", "monitoring"),
                        "event": ("network", "ecs-fargate", "dms", "rds", "redis", "edge", "monitoring"),
                        "dev": ("network", "jenkins", "monitoring")}
ENV_FORBIDDEN_MODULES = {"event": ("ecr", "eks", "jenkins")}


def _module_name(block_source: str) -> str:
    return block_source.rstrip("/").rsplit("/", 1)[-1]


class _Checker:
    def __init__(self, infra_dir: Path, catalog: Catalog | None) -> None:
        self.infra = infra_dir
        self.catalog = catalog
        self.findings: list[Finding] = []
        self._roots: dict[Path, Root | None] = {}

    def add(self, where: Path | str, what: str) -> None:
        self.findings.append(Finding("structure", str(where), what))

    def root(self, path: Path) -> Root | None:
        key = path.resolve()
        if key not in self._roots:
            try:
                self._roots[key] = load_root(path)
            except GantryError as exc:
                self.add(exc.where, exc.what)
                self._roots[key] = None
        return self._roots[key]

    # --- modules ---
    def check_module(self, name: str, path: Path) -> None:
        root = self.root(path)
        if root is None:
            return
        for block in root.of("variable"):
            for key in ("description", "type"):
                if key not in block.body:
                    self.add(block.file, f'variable "{block.labels[0]}" has no {key}')
        for block in root.of("output"):
            if "description" not in block.body:
                self.add(block.file, f'output "{block.labels[0]}" has no description')
        for rtype in MODULE_RESOURCES.get(name, ()):
            if not root.resources(rtype):
                self.add(path, f"module {name} must define a {rtype}")
        for rule in MODULE_RULES.get(name, []):
            for block in root.resources(rule.rtype):
                have = block.get(rule.key, "<unset>")
                if have != rule.value:
                    self.add(block.file, f'{rule.rtype}.{block.labels[1]}: {rule.key} must be '
                                         f'{_show(rule.value)}, is {_show(have)} ({rule.why})')
        if name in ("eks",) and root.resources("aws_eks_node_group"):
            node = root.resources("aws_eks_node_group")[0]
            if node.get("subnet_ids") != "${var.subnet_ids}":
                self.add(node.file, "system node group must span var.subnet_ids (Multi-AZ)")

    def modules_used(self, root: Root) -> list[tuple[str, Path]]:
        used = []
        for block in root.of("module"):
            source = str(block.get("source", ""))
            if not source.startswith(("./", "../")):
                if "version" not in block.body or not _EXACT_VERSION.match(str(block.get("version"))):
                    self.add(block.file, f'module "{block.labels[0]}": registry modules need an exact version')
                continue
            target = Path(os.path.normpath(root.path / source))
            if not target.is_dir():
                self.add(block.file, f'module "{block.labels[0]}": source {source} does not exist')
                continue
            used.append((block.labels[0], target))
        return used

    # --- environments ---
    def check_env(self, env: str, path: Path) -> None:
        root = self.root(path)
        if root is None:
            return
        self._check_terraform_block(root)
        for var in CATALOG_VARIABLES + (("ecr_repositories", "ecr_replication_rule") if env == REGISTRY_OWNER else ()):
            if not root.of("variable", var):
                self.add(path, f'variable "{var}" (from {TFVARS_NAME}) is not declared')
        by_module: dict[str, list] = {}
        for block in root.of("module"):
            by_module.setdefault(_module_name(str(block.get("source", ""))), []).append(block)
        self.modules_used(root)  # reports sources that do not exist
        required = list(ENV_REQUIRED_MODULES.get(env, ("network",)))
        if self.catalog is not None and env in self.catalog.environments:
            platform = self.catalog.environments[env].platform
            required.append(PLATFORM_MODULE[platform])
        for mod in dict.fromkeys(required):
            if mod not in by_module:
                self.add(path, f"{env} must use module {mod} (modules/{mod})")
        for mod in ENV_FORBIDDEN_MODULES.get(env, ()):
            for block in by_module.get(mod, []):
                self.add(block.file, f'{env} must not use module {mod} (module "{block.labels[0]}")')
        for mod, key, want, why in ENV_RULES.get(env, []):
            for block in by_module.get(mod, []):
                have = block.get(key, "<unset>")
                if have != want:
                    self.add(block.file, f'module "{block.labels[0]}": {key} must be {_show(want)}, '
                                         f'is {_show(have)} ({why})')
        if env == "event":
            self._check_nothing_outlives(root)
        self._check_routes(env, root, by_module)
        if env == REGISTRY_OWNER:
            self._check_replication(path)

    def _check_terraform_block(self, root: Root) -> None:
        tblocks = root.of("terraform")
        backends = [b for t in tblocks for b in t.sub("backend")]
        s3 = [b["s3"] for b in backends if isinstance(b, dict) and "s3" in b]
        if not s3:
            self.add(root.path, 'needs backend "s3" (state in S3, lock in DynamoDB)')
        for cfg in s3:
            for key in ("bucket", "key", "region", "dynamodb_table"):
                if not cfg.get(key):
                    self.add(root.path, f'backend "s3" must set {key}')
            if cfg.get("encrypt") is not True:
                self.add(root.path, 'backend "s3" must set encrypt = true')
        if not any(t.get("required_version") for t in tblocks):
            self.add(root.path, "terraform.required_version must be set")
        providers = [p for t in tblocks for rp in t.sub("required_providers") for p in [rp]]
        aws = next((p.get("aws") for p in providers if isinstance(p, dict) and "aws" in p), None)
        version = str((aws or {}).get("version", ""))
        if not _EXACT_VERSION.match(version):
            self.add(root.path, f"the aws provider must be pinned to an exact version, is {version or 'unpinned'!r}")

    def _check_nothing_outlives(self, root: Root) -> None:
        seen: set[Path] = set()
        stack = [root]
        while stack:
            r = stack.pop()
            if r.path in seen:
                continue
            seen.add(r.path)
            for block in r.of("resource"):
                for lc in block.sub("lifecycle"):
                    if isinstance(lc, dict) and lc.get("prevent_destroy") is True:
                        self.add(block.file, f"{block.labels[0]}.{block.labels[1]}: prevent_destroy in the event "
                                             "stack (nothing may outlive the event but state and the final snapshot)")
                if block.labels[0].startswith("aws_ecr_"):
                    self.add(block.file, f"{block.labels[0]}.{block.labels[1]}: images outlive events; ECR belongs to prod")
            for _, target in self.modules_used(r):
                sub = self.root(target)
                if sub is not None:
                    stack.append(sub)

    def _check_routes(self, env: str, root: Root, by_module: dict[str, list]) -> None:
        if self.catalog is None or "edge" not in by_module:
            return
        tfvars = root.path / "terraform.tfvars"
        routes: dict[str, Any] = {}
        if tfvars.is_file():
            try:
                import hcl2  # local: only needed here
                routes = {k.strip('"'): v for k, v in (hcl2.loads(tfvars.read_text(encoding="utf-8")).get("service_routes") or {}).items()}
            except Exception as exc:  # noqa: BLE001 - any parse failure is a finding
                self.add(tfvars, f"cannot parse: {' '.join(str(exc).split())[:200]}")
                return
        for svc in self.catalog.services_in(env):
            if svc.name not in routes:
                self.add(tfvars, f"service_routes has no route for catalog service {svc.name!r}")
        for name in routes:
            if name not in {s.name for s in self.catalog.services_in(env)}:
                self.add(tfvars, f"service_routes names {name!r}, which the catalog does not deploy to {env}")

    def _check_replication(self, path: Path) -> None:
        if self.catalog is None:
            return
        tfvars = path / TFVARS_NAME
        try:
            rule = json.loads(tfvars.read_text(encoding="utf-8")).get("ecr_replication_rule") or {}
        except (OSError, ValueError):
            return  # reported by the drift step
        regions = sorted(d.get("region") for d in rule.get("destinations", []) if isinstance(d, dict))
        want = sorted(self.catalog.replica_regions)
        if not want:
            self.add(tfvars, "the catalog names no replica region (defaults.replica_regions)")
        elif regions != want:
            self.add(tfvars, f"ECR replication goes to {regions}, the catalog says {want}")


def _show(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return json.dumps(value) if not isinstance(value, str) else value


def check_structure(infra_dir: Path, catalog: Catalog | None) -> list[Finding]:
    """Every structure finding for ``infra_dir`` (modules, then environments)."""
    checker = _Checker(infra_dir, catalog)
    modules_dir, envs_dir = infra_dir / "modules", infra_dir / "envs"
    for name in MODULES:
        if not (modules_dir / name).is_dir():
            checker.add(modules_dir, f"module {name} is missing")
    if modules_dir.is_dir():
        for path in sorted(p for p in modules_dir.iterdir() if p.is_dir()):
            checker.check_module(path.name, path)
    envs = list(catalog.environments) if catalog is not None else ["dev", "prod", "event"]
    for env in envs:
        path = envs_dir / env
        if not path.is_dir():
            checker.add(envs_dir, f"environment root {env} is missing")
            continue
        checker.check_env(env, path)
    return checker.findings

