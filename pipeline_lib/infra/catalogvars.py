"""Catalog -> ``infra/envs/<env>/catalog.auto.tfvars.json``: one derivation, synced and drift-checked.

Terraform never re-derives catalog facts: ECR repositories, the replication rule (from
:func:`pipeline_lib.ecr.replication.desired_rule`, the rule's one definition), environments and
services come from this module, written by ``gantry infra sync`` and compared by ``gantry infra check``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import Catalog
from ..ecr.replication import desired_rule
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

TFVARS_NAME = "catalog.auto.tfvars.json"
# The environment that owns the registry (repositories + replication): it is always on.
REGISTRY_OWNER = "prod"
MAX_TFVARS_BYTES = 1024 * 1024


def env_values(catalog: Catalog, env: str) -> dict[str, Any]:
    """The Terraform variable values of environment ``env`` derived from ``catalog``."""
    if env not in catalog.environments:
        raise GantryError(catalog.source, f"environment {env!r} is not defined under environments")
    e = catalog.environments[env]
    services: dict[str, Any] = {}
    for svc in catalog.services_in(env):
        se = svc.environments[env]
        entry: dict[str, Any] = {"ecr_repository": se.ecr_repository,
                                 "replicas_min": se.replicas_min, "replicas_max": se.replicas_max}
        if se.domain:
            entry["domain"] = se.domain
        services[svc.name] = entry
    values: dict[str, Any] = {
        "aws_account_id": catalog.aws_account_id,
        "environment": {"name": e.name, "platform": e.platform, "aws_region": e.aws_region,
                        "domain": e.domain, "namespace": e.namespace},
        "registry": {"host": catalog.registry_host, "region": catalog.registry_region,
                     "replica_regions": list(catalog.replica_regions)},
        "services": services,
    }
    if env == REGISTRY_OWNER:
        values["ecr_repositories"] = catalog.ecr_repositories()
        values["ecr_replication_rule"] = desired_rule(catalog)
    return values


def render(values: dict[str, Any]) -> str:
    """Stable JSON text (sorted keys, two-space indent, final newline) for committing."""
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Drift:
    """One difference between the committed tfvars and what the catalog gives."""

    path: str
    what: str

    def line(self) -> str:
        return f"{self.path}: {self.what}"


def tfvars_path(infra_dir: Path, env: str) -> Path:
    return infra_dir / "envs" / env / TFVARS_NAME


def sync(catalog: Catalog, infra_dir: Path) -> list[Path]:
    """Write every environment's tfvars file; returns the files whose content changed."""
    changed = []
    for env in catalog.environments:
        root = infra_dir / "envs" / env
        if not root.is_dir():
            raise GantryError(str(root), "no such Terraform root (expected infra/envs/<env>)")
        path = tfvars_path(infra_dir, env)
        text = render(env_values(catalog, env))
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)
            changed.append(path)
    return changed


def _diff(path: str, want: Any, have: Any, out: list[str]) -> None:
    if isinstance(want, dict) and isinstance(have, dict):
        for key in sorted(set(want) | set(have)):
            sub = f"{path}.{key}" if path else key
            if key not in have:
                out.append(f"{sub}: missing (catalog gives {json.dumps(want[key])})")
            elif key not in want:
                out.append(f"{sub}: not in the catalog (file has {json.dumps(have[key])})")
            else:
                _diff(sub, want[key], have[key], out)
    elif want != have:
        out.append(f"{path}: file has {json.dumps(have)}, catalog gives {json.dumps(want)}")


def drift(catalog: Catalog, infra_dir: Path) -> list[Drift]:
    """Differences between committed tfvars files and the catalog, per environment."""
    found: list[Drift] = []
    for env in catalog.environments:
        path = tfvars_path(infra_dir, env)
        shown = str(path)
        if not path.is_file():
            found.append(Drift(shown, "missing (run 'gantry infra sync')"))
            continue
        if path.stat().st_size > MAX_TFVARS_BYTES:
            found.append(Drift(shown, f"over {MAX_TFVARS_BYTES} bytes"))
            continue
        try:
            have = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            found.append(Drift(shown, f"not valid JSON ({exc})"))
            continue
        lines: list[str] = []
        _diff("", env_values(catalog, env), have, lines)
        found.extend(Drift(shown, f"{line} (run 'gantry infra sync')") for line in lines)
    return found
