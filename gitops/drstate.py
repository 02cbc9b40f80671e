"""Which registry an environment pulls from: the disaster-recovery state kept in the GitOps repo.

One small file per environment, ``.gantry/dr/<env>.yaml``, written by ``gantry dr failover`` and
``gantry dr failback`` in the same commit as the manifests they rewrite::

    environment: prod
    active_region: ap-northeast-1
    active_registry: 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com
    primary_region: ap-northeast-2
    primary_registry: 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com
    changed_at: "2026-11-30T05:40:00Z"
    reason: failover

No file means the environment pulls from the primary registry (the catalog's registry region).
Readers: ``gitops bump`` (pins to the active registry while failed over), ``gitops pins --tfvars``
(the event stack's ``image_registry``), ``image verify-replication --repo`` (checks the reverse
direction) and ``dr status``. An unreadable file is an error (exit 2), never "primary".
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

STATE_DIR = ".gantry/dr"
_FIELDS = ("environment", "active_region", "active_registry", "primary_region", "primary_registry",
           "changed_at", "reason")


def state_rel(environment: str) -> str:
    """The state file's path inside the GitOps repo."""
    return posixpath.join(STATE_DIR, f"{environment}.yaml")


@dataclass(frozen=True)
class RegistryState:
    """The registry ``environment`` pulls from (``active_*``) and its primary (``primary_*``)."""

    environment: str
    active_region: str
    active_registry: str
    primary_region: str
    primary_registry: str
    changed_at: str = ""
    reason: str = ""

    @property
    def failed_over(self) -> bool:
        return self.active_registry != self.primary_registry

    def follow(self, image: str) -> str:
        """``image`` (``host/repo``) moved to the active registry when it names the primary one."""
        host, sep, repo = image.partition("/")
        if sep and self.failed_over and host == self.primary_registry:
            return f"{self.active_registry}/{repo}"
        return image


def read_state(checkout: Path, environment: str) -> RegistryState | None:
    """The state recorded in ``checkout`` for ``environment``; None when there is none (primary).

    Raises GantryError (exit 2) when the file exists but is not a state mapping.
    """
    rel = state_rel(environment)
    path = Path(checkout) / rel
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise GantryError(rel, f"unreadable DR state ({exc.__class__.__name__}): cannot tell which registry "
                               f"{environment} pulls from") from None
    required = _FIELDS[:5]
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) or not data.get(k) for k in required):
        raise GantryError(rel, f"DR state must be a mapping with {', '.join(required)} (strings)")
    if data["environment"] != environment:
        raise GantryError(rel, f"DR state names environment {data['environment']!r}, not {environment!r}")
    return RegistryState(**{k: str(data.get(k) or "") for k in _FIELDS})


def write_state(checkout: Path, state: RegistryState) -> str:
    """Write the state file (atomically); return its repository-relative path."""
    rel = state_rel(state.environment)
    header = (f"# Written by gantry dr failover/failback: the registry {state.environment} pulls images from.\n"
              "# gantry gitops bump pins to active_registry; do not edit by hand, run gantry dr.\n")
    write_atomic(Path(checkout) / rel, header + yaml.safe_dump(asdict(state), sort_keys=False))
    return rel


def fetch_state(repo_url: str, environment: str, branch: str = "main") -> RegistryState | None:
    """:func:`read_state` on a fresh checkout of ``repo_url``'s ``branch`` (GantryError on git failures)."""
    from .git import checkout   # git, retries, host locks: only for reading a remote (push reads no state by default)

    tmp = Path(tempfile.mkdtemp(prefix="gantry-dr-state-"))
    try:
        return read_state(checkout(repo_url, branch, tmp / "repo"), environment)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
