"""``gantry gitops rollback``: pin a service's previous promoted image in an environment, and hold it.

The target (:func:`previous_pin`) comes from the GitOps repo's own records
(:mod:`gitops.history`): the newest record that pinned what runs now, not itself a rollback,
names the digest it replaced — that one is pinned (so a second rollback goes one further back);
its image and tag are those of the newest record that pinned it. ``--to FREIGHT`` pins the
freight's digest for the service instead (``.gantry/freight/<ID>.json``; read tolerantly: the
``items`` list of :mod:`gitops.freight` — ``{"service", "digest", "image", "tag"}`` — or a
``services`` map ``{name: digest}``).

Each service's pin goes through the one write path (:func:`gitops.writeback.write_edits`: effect
check on a real render, guards, commit, push) as verb ``rollback`` with a hold
(:mod:`gitops.holds`: who, why, when, the pinned digest) written in the **same commit**, one
commit per service, all pushed together. A hold does not refuse a rollback; a freeze window
does, unless the rollback breaks glass (:mod:`gitops.freeze`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import BadInput, GantryError, NotFound

from .bump import default_image
from .history import Record, read_history
from .holds import require_line
from .hostlock import Writers
from .manifest import ImagePin
from .writeback import BumpResult, PinEdit, Stamp, run_guards, utcnow, write_edits

FREIGHT_DIR = ".gantry/freight"
_FREIGHT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")   # a file name, never a path
NOT_PINS = ("rollback", "hold", "release")   # records that did not choose what runs (a release names the held digest)


@dataclass(frozen=True)
class Target:
    """What a rollback pins for one service: image repository, tag, digest and where it came from."""

    service: str
    image: str
    tag: str | None
    digest: str
    source: str   # "history <commit12>" or "freight <ID>"


def previous_pin(records: Sequence[Record], service: str, current: ImagePin) -> tuple[str, str | None, str | None, str]:
    """``(digest, image, tag, commit)`` to roll ``service`` back to from ``current``, given its
    records newest first; NotFound when the history names no earlier digest."""
    if not current.digest:
        raise NotFound(f"gitops rollback {service}", "pins no digest; nothing to roll back")
    pinned_now = next((r for r in records if r.digest == current.digest and r.action not in NOT_PINS), None)
    if pinned_now is None or not pinned_now.old_digest:
        raise NotFound(f"gitops rollback {service}",
                       f"no earlier digest in the GitOps history than {current.digest} (use --to FREIGHT)")
    previous = pinned_now.old_digest
    origin = next((r for r in records if r.digest == previous and r.action not in NOT_PINS), None)
    return previous, origin.image if origin else None, origin.tag if origin else None, pinned_now.commit


def freight_pin(checkout: Path, freight: str, service: str) -> tuple[str, str | None, str | None]:
    """``(digest, image, tag)`` of ``service`` in freight ``freight`` read from ``checkout``."""
    if not _FREIGHT_ID.match(freight):
        raise BadInput("gitops rollback: --to", f"{freight!r} is not a freight ID")
    rel = f"{FREIGHT_DIR}/{freight}.json"
    path = checkout / rel
    if not path.is_file():
        raise NotFound(f"gitops rollback --to {freight}", f"no freight record {rel} in the GitOps repo")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"gitops rollback {rel}", f"unreadable freight ({type(exc).__name__})") from None
    items = data.get("items") if isinstance(data, dict) else None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("service") == service and isinstance(item.get("digest"), str):
                return item["digest"], item.get("image"), item.get("tag")
    services = data.get("services") if isinstance(data, dict) else None
    if isinstance(services, dict) and service in services:
        value = services[service]
        if isinstance(value, str):
            return value, None, None
        if isinstance(value, dict) and isinstance(value.get("digest"), str):
            return value["digest"], value.get("image"), value.get("tag")
    raise NotFound(f"gitops rollback --to {freight}", f"freight {freight} holds no digest for {service}")


def plan_rollback(checkout: Path, catalog: Catalog, services: Sequence[str], environment: str,
                  freight: str | None = None) -> list[Target]:
    """The target of each service in ``checkout`` (its running pins read by one batched render)."""
    from .effect import running_pins
    pairs = [(catalog.service(s), catalog.service(s).environment(environment)) for s in services]
    running = running_pins(checkout, pairs)
    history = read_history(checkout, environment=environment) if freight is None else []
    targets = []
    for (svc, _env), current in zip(pairs, running):
        if freight is not None:
            digest, image, tag = freight_pin(checkout, freight, svc.name)
            source = f"freight {freight}"
        else:
            mine = [r for r in history if r.service == svc.name]
            digest, image, tag, commit = previous_pin(mine, svc.name, current)
            source = f"history {commit[:12]}"
        image = image or (str(current.name) if current.name else default_image(catalog, svc.name, environment))
        targets.append(Target(svc.name, image, tag, digest, source))
    return targets


def rollback(repo_url: str, *, catalog: Catalog, services: Sequence[str], environment: str, by: str, reason: str,
             freight: str | None = None, stamp: Stamp | None = None, writers: Writers | None = None,
             now: Callable[[], datetime] | None = None, dry_run: bool = False,
             build_url: str | None = None,
             workdir: Path | None = None) -> tuple[list[Target], list[BumpResult | GantryError]]:
    """Roll ``services`` back in ``environment`` and hold them (see the module docstring): the
    targets and, per service, its result or its own error; with ``dry_run`` nothing is written and
    each is None (would pin) or the guard's refusal (e.g. a freeze window) the write would meet.
    ``stamp``: break-glass and the environment's freeze windows (its ``by``/``reason`` are replaced
    by these). ``workdir``: a checkout directory to reuse (fetched and reset; default: a temporary clone)."""
    if not services:
        raise BadInput("gitops rollback", "name at least one --service")
    if not (reason or "").strip():
        raise BadInput("gitops rollback: --reason", "required (recorded in the hold and the commit)")
    reason, by = require_line("gitops rollback", "--reason", reason), require_line("gitops rollback", "--by", by)
    clock = now or utcnow
    stamp = replace(stamp or Stamp(), by=by, reason=reason)
    tmp = Path(tempfile.mkdtemp(prefix="gantry-rollback-"))
    try:
        from .git import checkout
        wd = checkout(repo_url, catalog.gitops_branch, workdir or tmp / "repo")
        targets = plan_rollback(wd, catalog, services, environment, freight)
        edits = []
        for t in targets:
            env = catalog.service(t.service).environment(environment)
            hold = {"environment": environment, "service": t.service, "by": by, "reason": reason,
                    "at": clock().isoformat(timespec="seconds"), "action": "rollback"}
            edits.append(PinEdit(t.service, environment, env.ecr_repository, env.manifest, env.manifest_format,
                                 env.values_key, t.image, t.digest, t.tag, build_url, "rollback",
                                 per_service=True, hold=hold,
                                 **{**stamp.fields(), "trailers": [*stamp.trailers, f"Rollback-From: {t.source}"]}))
        if dry_run:   # the write path's guards (freeze windows) on this checkout, nothing written
            return targets, [_refusal(wd, edit, clock()) for edit in edits]
        results = write_edits(repo_url, catalog.gitops_branch, edits, workdir=wd, writers=writers, now=clock)
        return targets, results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refusal(checkout: Path, edit: PinEdit, at: datetime) -> GantryError | None:
    """What the write path's guards say of ``edit`` at ``at``: None (it would be written) or the refusal."""
    try:
        run_guards(checkout, edit, at)
    except GantryError as exc:
        return exc
    return None
