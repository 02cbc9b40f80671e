"""Holds: a service whose pin in one environment must not be changed by bump or promote.

A hold is one file in the GitOps repo, ``.gantry/holds/<env>/<service>.json``::

    {"environment": "prod", "service": "storefront", "by": "alice", "reason": "bad 5xx rate",
     "at": "2026-12-06T02:40:00+00:00", "digest": "sha256:…" | null, "action": "rollback" | "hold"}

``gantry gitops rollback`` sets one in the same commit as the rolled-back pin (``digest``: the
pin it set); ``gantry gitops hold set`` sets one alone; ``hold release`` removes it (one commit
each, history in git). The check runs inside the write transaction on the freshly fetched
checkout (:data:`gitops.writeback.GUARDS`), so a bump queued before the hold was pushed is still
refused when it writes. A rollback itself is not refused by a hold: it is what sets one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline_lib.core.errors import BadInput, CheckFailed
from pipeline_lib.core.fileio import write_atomic

HOLDS_DIR = ".gantry/holds"
EXEMPT_VERBS = ("rollback",)   # the verbs a hold does not refuse


@dataclass(frozen=True)
class Hold:
    """One hold: who set it, why, when (ISO 8601 UTC), the digest it pinned (None: hold only)."""

    environment: str
    service: str
    by: str
    reason: str
    at: str
    digest: str | None = None
    action: str = "hold"

    def describe(self) -> str:
        pinned = f", pinned {self.digest}" if self.digest else ""
        return f"held by {self.by} since {self.at} ({self.action}{pinned}): {self.reason}"


def hold_rel(environment: str, service: str) -> str:
    """The hold file's path inside the repository."""
    return f"{HOLDS_DIR}/{environment}/{service}.json"


def read_hold(checkout: Path, environment: str, service: str) -> Hold | None:
    """The hold on ``service`` in ``environment`` in ``checkout``, or None. A hold file that cannot
    be read is :class:`BadInput` (exit 2): an unreadable hold never lets a write through."""
    path = checkout / hold_rel(environment, service)
    if not path.is_file():
        return None
    return _parse(path, hold_rel(environment, service))


def _parse(path: Path, rel: str) -> Hold:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Hold(environment=str(data["environment"]), service=str(data["service"]), by=str(data["by"]),
                    reason=str(data["reason"]), at=str(data["at"]), digest=data.get("digest"),
                    action=str(data.get("action", "hold")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"gitops hold {rel}", f"unreadable hold file ({type(exc).__name__}: {exc})") from None


def list_holds(checkout: Path, environment: str | None = None) -> list[Hold]:
    """Every hold in ``checkout`` (of ``environment`` only, when given), sorted by environment and service."""
    root = checkout / HOLDS_DIR
    pattern = f"{environment}/*.json" if environment else "*/*.json"
    return [_parse(p, p.relative_to(checkout).as_posix()) for p in sorted(root.glob(pattern))]


def write_hold(checkout: Path, hold: Hold) -> str:
    """Write ``hold`` into ``checkout`` (atomically); its relative path."""
    rel = hold_rel(hold.environment, hold.service)
    write_atomic(checkout / rel, json.dumps(asdict(hold), indent=2, sort_keys=True) + "\n")
    return rel


def refuse_if_held(checkout: Path, environment: str, service: str, verb: str) -> None:
    """:class:`CheckFailed` (exit 1) naming the hold, who set it and why, when ``service`` is held
    in ``environment`` and ``verb`` is not a rollback."""
    if verb in EXEMPT_VERBS:
        return
    hold = read_hold(checkout, environment, service)
    if hold is not None:
        raise CheckFailed(f"gitops {verb} {service} {environment}",
                          f"refused: {hold.describe()}; release it with 'gantry gitops hold release "
                          f"--env {environment} --service {service}'")
