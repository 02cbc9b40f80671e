"""What the GitOps repo pins for every service of one environment, and the event stack's tfvars.

The event stack runs on ECS Fargate through Terraform, not Argo CD: its runner writes
``images.auto.tfvars.json`` (``image_digests`` and ``image_registry``) from these pins before
``terraform apply``, so the event stack runs exactly the digests the GitOps repo names, pulled
from the registry the environment is active on (:mod:`gitops.drstate`: the Tokyo replica while
failed over, else the primary).
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

from .drstate import RegistryState, read_state
from .effect import running_pins
from .git import checkout
from .manifest import ImagePin

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def read_pins(repo_url: str, catalog: Catalog, environment: str, branch: str | None = None) -> dict[str, ImagePin]:
    """Service name -> what ``environment`` runs (kustomize: the rendered overlay), for every service
    deployed there, read from ``branch`` (default: the catalog's ``gitops_branch``). The overlays
    are rendered together (:func:`gitops.effect.running_pins`)."""
    return read_environment(repo_url, catalog, environment, branch)[0]


def read_environment(repo_url: str, catalog: Catalog, environment: str,
                     branch: str | None = None) -> tuple[dict[str, ImagePin], RegistryState | None]:
    """:func:`read_pins` and the environment's DR state (None: on the primary registry), one checkout."""
    services = catalog.services_in(environment)
    if not services:
        raise GantryError("gitops pins", f"no catalog service is deployed to {environment!r}")
    tmp = Path(tempfile.mkdtemp(prefix="gantry-pins-"))
    try:
        work = checkout(repo_url, branch or catalog.gitops_branch, tmp / "repo")
        found = running_pins(work, [(svc, svc.environment(environment)) for svc in services])
        pins = {svc.name: pin for svc, pin in zip(services, found)}
        return pins, read_state(work, environment)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def active_registry(catalog: Catalog, state: RegistryState | None) -> str:
    """The registry host the environment pulls from: the DR state's active one, else the catalog's."""
    return state.active_registry if state else catalog.registry_host


def image_digests(pins: dict[str, ImagePin], environment: str) -> dict[str, str]:
    """Service -> digest; a service without a valid pinned digest is an error (nothing half-deployed)."""
    missing = sorted(name for name, pin in pins.items() if not (pin.digest and _DIGEST.match(pin.digest)))
    if missing:
        raise GantryError("gitops pins", f"no digest pinned in {environment} for: {', '.join(missing)} "
                                         f"(run 'gantry gitops bump --env {environment}' first)")
    return {name: str(pins[name].digest) for name in sorted(pins)}


def write_tfvars(path: Path, digests: dict[str, str], registry: str | None = None) -> Path:
    """``{"image_digests": {...}, "image_registry": host}`` for Terraform, written atomically
    (``image_registry`` only when given; the event stack defaults it to the catalog's host)."""
    data: dict[str, object] = {"image_digests": digests}
    if registry:
        data["image_registry"] = registry
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
