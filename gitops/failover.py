"""Move every service of one environment to another registry, keeping each pinned digest.

:func:`switch_registry` runs inside one git transaction (:func:`gitops.git.transact`) on the tip
of the GitOps branch: it reads what each service runs (the rendered overlay / Helm values),
plans ``<target registry>/<same repository>[:tag]@<same digest>``, hands the plan to ``verify``
(the caller's presence check in the target registry, which raises to stop), and only then
rewrites every manifest through :func:`gitops.effect.apply_intents` (rendered and checked, all or
nothing) and records the active registry (:mod:`gitops.drstate`) — one commit for the whole
environment. A push rejected by a concurrent writer re-runs plan, check and edit on the new tip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, Service
from pipeline_lib.core.errors import GantryError

from .drstate import RegistryState, read_state, write_state
from .effect import Intent, apply_intents, running_pins
from .git import transact
from .manifest import ImagePin


@dataclass
class Move:
    """One service: the reference it runs (``current``) and the one it will run (``target``)."""

    service: str
    repository: str  # repository path inside the registry (no host)
    digest: str
    tag: str | None
    current: str
    target: str
    manifest: str = ""
    changed: bool = False


@dataclass
class Switch:
    """Outcome of :func:`switch_registry`; ``commit`` is None when nothing was written."""

    environment: str
    state: RegistryState
    moves: list[Move] = field(default_factory=list)
    commit: str | None = None
    attempts: int = 0
    dry_run: bool = False


def plan_moves(checkout: Path, services: Sequence[Service], environment: str, registry: str) -> list[Move]:
    """Each service's running pin moved to ``registry``; GantryError (exit 2) for a pin without a digest."""
    moves = []
    pins = running_pins(checkout, [(svc, svc.environment(environment)) for svc in services])
    for svc, pin in zip(services, pins):
        env = svc.environment(environment)
        if not pin.digest:
            raise GantryError(f"dr {environment}", f"{svc.name} runs {pin.reference or 'no image'}: not pinned by "
                                                   f"digest, so there is no exact image to move (gitops bump it first)")
        name = pin.name or ""
        host, sep, repo = name.partition("/")
        repository = repo if sep and ("." in host or ":" in host or host == "localhost") else env.ecr_repository
        target = ImagePin(f"{registry}/{repository}", pin.tag, pin.digest)
        moves.append(Move(svc.name, repository, pin.digest, pin.tag, pin.reference, target.reference))
    return moves


def _message(state: RegistryState, moves: list[Move], reason: str) -> str:
    lines = [f"dr({state.environment}): {reason} to {state.active_region} ({state.active_registry})", "",
             f"Environment: {state.environment}",
             f"Registry: {state.active_registry} ({state.active_region}); primary {state.primary_registry} "
             f"({state.primary_region})", ""]
    lines += [f"{m.service}: {m.current} -> {m.target}" for m in moves]
    return "\n".join(lines) + "\n"


def switch_registry(repo_url: str, catalog: Catalog, environment: str, *, region: str, registry: str,
                    primary_registry: str, verify: Callable[[list[Move]], None],
                    services: Sequence[str] | None = None, reason: str = "failover",
                    dry_run: bool = False, branch: str | None = None) -> Switch:
    """Point ``environment`` at ``registry`` (in ``region``) keeping every digest, in one commit.

    ``verify(moves)`` must raise :class:`GantryError` when a digest is not usable in ``registry``;
    nothing is written then. ``services`` narrows the services moved (default: every service
    deployed in ``environment``). ``dry_run`` plans and verifies, writes nothing.
    """
    chosen = catalog.services_in(environment)
    if not chosen:
        raise GantryError(f"dr {environment}", f"no catalog service is deployed to {environment!r}")
    if services:
        by_name = {s.name: s for s in chosen}
        unknown = [n for n in services if n not in by_name]
        if unknown:
            raise GantryError(f"dr {environment}", f"not deployed to {environment}: {', '.join(unknown)} "
                                                   f"(deployed: {', '.join(by_name)})")
        chosen = [by_name[n] for n in dict.fromkeys(services)]
    state = RegistryState(environment, region, registry, catalog.registry_region, primary_registry,
                          datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), reason)
    result = Switch(environment, state, dry_run=dry_run)

    def change(wd: Path):
        moves = plan_moves(wd, chosen, environment, registry)
        result.moves = moves
        verify(moves)
        if dry_run:
            return None
        svc_by_name = {s.name: s for s in chosen}
        applied = apply_intents(wd, [Intent(svc_by_name[m.service], svc_by_name[m.service].environment(environment),
                                            m.target) for m in moves])
        for move, outcome in zip(moves, applied):
            move.manifest, move.changed = outcome.manifest, outcome.changed
        before = read_state(wd, environment)
        same = before is not None and (before.active_registry, before.primary_registry) == (registry, primary_registry)
        paths = [a.manifest for a in applied if a.changed]
        if not paths and same:
            return None
        paths.append(write_state(wd, state))
        return _message(state, moves, reason), paths, None

    tx = transact(repo_url, change, branch=branch or catalog.gitops_branch)
    result.commit, result.attempts = tx.commit, tx.attempts
    return result
