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

from . import trailers
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


def require_line(where: str, option: str, value: str | None) -> str:
    """``value`` stripped, when it is one non-empty line of printable text; else :class:`BadInput`
    naming ``option`` (a who/why recorded in a hold file, a commit trailer and the refusal line,
    where a newline or control character would break the record and ``hold list``'s table)."""
    text = (value or "").strip()
    if not text:
        raise BadInput(f"{where}: {option}", "must not be empty (it is recorded in the hold and the commit)")
    if any(not ch.isprintable() for ch in text):
        raise BadInput(f"{where}: {option}", "must be one line of printable text (no newline, tab or control character)")
    return text


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


_FIELDS = ("environment", "service", "by", "reason", "at")   # required strings of a hold file


def _parse(path: Path, rel: str) -> Hold:
    where = f"gitops hold {rel}"
    fix = (f"; 'gantry gitops hold release --env {path.parent.name} --service {path.stem}' removes it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(where, f"cannot read the hold file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadInput(where, f"corrupt hold file: not JSON ({exc}){fix}") from None
    if not isinstance(data, dict):
        raise BadInput(where, f"corrupt hold file: expected a JSON object, got {type(data).__name__}{fix}")
    for key in _FIELDS:
        if not isinstance(data.get(key), str):
            raise BadInput(where, f"corrupt hold file: {key!r} " + ("missing" if key not in data else
                                                                      f"is {type(data[key]).__name__}, not a string")
                           + fix)
    digest, action = data.get("digest"), data.get("action", "hold")
    if digest is not None and not isinstance(digest, str) or not isinstance(action, str):
        raise BadInput(where, f"corrupt hold file: 'digest' and 'action' must be strings{fix}")
    return Hold(environment=data["environment"], service=data["service"], by=data["by"], reason=data["reason"],
                at=data["at"], digest=digest, action=action)


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
    pairs = [("Service", hold.service), ("Environment", hold.environment)]
    if hold.digest:
        pairs.append(("Digest", hold.digest))
    pairs += [(trailers.ACTION, action), (trailers.BY, by), (trailers.REASON, reason)]
    return trailers.message(f"{action}({hold.service}): {hold.environment}: {' '.join(reason.split())}", [], pairs)


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
                 writers: Writers | None = None) -> tuple[str, Hold, str | None]:
    """Push one commit removing the hold on ``service`` in ``environment``: ``(commit, the hold,
    None)``. A hold file that cannot be read is removed too (a corrupt hold refuses every write,
    so release is the way out): then the hold returned is a placeholder and the third item the
    reason it was unreadable (for a warning). NotFound (exit 2) when there is none."""
    from .git import git, transact
    released: list[tuple[Hold, str | None]] = []

    def change(wd: Path):
        released.clear()
        rel = hold_rel(environment, service)
        if not (wd / rel).is_file():
            raise NotFound(f"gitops hold release {service} {environment}", "no hold is set")
        try:
            current, corrupt = read_hold(wd, environment, service), None
        except BadInput as exc:
            current, corrupt = Hold(environment, service, "unknown", "unreadable hold file", ""), exc.what
        assert current is not None
        released.append((current, corrupt))
        git(wd, "rm", "-q", "--", rel)
        return hold_message("release", current, by, reason), [rel], None

    tx = transact(repo_url, change, branch=branch, writers=writers)
    if tx.commit is None:  # pragma: no cover - a removal always changes the tree
        raise GantryError(f"gitops hold release {service} {environment}", "nothing was committed")
    return tx.commit, *released[0]


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
