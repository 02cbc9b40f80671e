"""What the GitOps repo pins for every service of one environment, and the event stack's tfvars.

The event stack runs on ECS Fargate through Terraform, not Argo CD: its runner writes
``images.auto.tfvars.json`` (``image_digests``) from these pins before ``terraform apply``, so the
event stack runs exactly the digests the GitOps repo names.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from .effect import running_pin
from .git import checkout
from .manifest import ImagePin

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def read_pins(repo_url: str, catalog: Catalog, environment: str, branch: str | None = None) -> dict[str, ImagePin]:
    """Service name -> what ``environment`` runs (kustomize: the rendered overlay), for every service
    deployed there, read from ``branch`` (default: the catalog's ``gitops_branch``)."""
    services = catalog.services_in(environment)
    if not services:
        raise GantryError("gitops pins", f"no catalog service is deployed to {environment!r}")
    tmp = Path(tempfile.mkdtemp(prefix="gantry-pins-"))
    try:
        work = checkout(repo_url, branch or catalog.gitops_branch, tmp / "repo")
        return {svc.name: running_pin(work, svc, svc.environment(environment)) for svc in services}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def image_digests(pins: dict[str, ImagePin], environment: str) -> dict[str, str]:
    """Service -> digest; a service without a valid pinned digest is an error (nothing half-deployed)."""
    missing = sorted(name for name, pin in pins.items() if not (pin.digest and _DIGEST.match(pin.digest)))
    if missing:
        raise GantryError("gitops pins", f"no digest pinned in {environment} for: {', '.join(missing)} "
                                         f"(run 'gantry gitops bump --env {environment}' first)")
    return {name: str(pins[name].digest) for name in sorted(pins)}


def write_tfvars(path: Path, digests: dict[str, str]) -> Path:
    """``{"image_digests": {...}}`` for Terraform, written atomically."""
    return write_atomic(path, json.dumps({"image_digests": digests}, indent=2, sort_keys=True) + "\n")
