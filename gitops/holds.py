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

from pipeline_lib.core.errors import BadInput, CheckFailed, GantryError, NotFound
from pipeline_lib.core.fileio import write_atomic

from .hostlock import Writers

HOLDS_DIR = ".gantry/holds"
EXEMPT_VERBS = ("rollback",)   # the verbs a hold does not refuse
VERB_COMMANDS = {"deploy": "bump"}   # a pin edit's verb -> the command named in a refusal


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
        raise CheckFailed(f"gitops {VERB_COMMANDS.get(verb, verb)} {service} {environment}",
                          f"refused: {hold.describe()}; release it with 'gantry gitops hold release "
                          f"--env {environment} --service {service}'")


def hold_message(action: str, hold: Hold, by: str, reason: str) -> str:
    """The commit message of a hold or release: subject, then its trailers (``Gantry-Action``)."""
    lines = [f"{action}({hold.service}): {hold.environment}: {' '.join(reason.split())}", "",
             f"Service: {hold.service}", f"Environment: {hold.environment}"]
    if hold.digest:
        lines.append(f"Digest: {hold.digest}")
    lines += [f"Gantry-Action: {action}", f"By: {' '.join(by.split())}", f"Reason: {' '.join(reason.split())}"]
    return "\n".join(lines) + "\n"


def set_hold(repo_url: str, branch: str, hold: Hold, *, writers: Writers | None = None) -> str | None:
    """Push one commit that sets (or replaces) ``hold``; its commit, None when it was already set
    exactly so. Holds are not frozen: they change no running pin."""
    from .git import transact

    def change(wd: Path):
        current = read_hold(wd, hold.environment, hold.service)
        if current is not None and (current.by, current.reason, current.digest) == (hold.by, hold.reason, hold.digest):
            return None
        rel = write_hold(wd, hold)
        return hold_message("hold", hold, hold.by, hold.reason), [rel], None

    return transact(repo_url, change, branch=branch, writers=writers).commit


def release_hold(repo_url: str, branch: str, environment: str, service: str, *, by: str, reason: str,
                 writers: Writers | None = None) -> tuple[str, Hold]:
    """Push one commit removing the hold on ``service`` in ``environment``: ``(commit, the hold)``.
    NotFound (exit 2) when there is none."""
    from .git import git, transact
    released: list[Hold] = []

    def change(wd: Path):
        released.clear()
        current = read_hold(wd, environment, service)
        if current is None:
            raise NotFound(f"gitops hold release {service} {environment}", "no hold is set")
        released.append(current)
        rel = hold_rel(environment, service)
        git(wd, "rm", "-q", "--", rel)
        return hold_message("release", current, by, reason), [rel], None

    tx = transact(repo_url, change, branch=branch, writers=writers)
    if tx.commit is None:  # pragma: no cover - a removal always changes the tree
        raise GantryError(f"gitops hold release {service} {environment}", "nothing was committed")
    return tx.commit, released[0]


def promotion_guard(plan) -> list[str]:
    """A freight promotion's guard (``gitops.promotion.GUARDS`` entry ``gitops.holds:promotion_guard``):
    one refusal line per service of ``plan.freight`` held in ``plan.target`` (read from
    ``plan.checkout``, the tip the commit will sit on)."""
    lines = []
    for item in plan.freight.items:
        try:
            refuse_if_held(plan.checkout, plan.target, item.service, "promote")
        except GantryError as exc:
            lines.append(f"not-held: {exc.where}: {exc.what}")
    return lines
