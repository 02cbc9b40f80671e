"""Freight: the exact digests one build delivered to the source environment (dev), plus the GitOps
commit that pinned them there — what ``gantry gitops promote`` promotes, never "whatever dev
runs now".

Stored in the GitOps repository, one JSON file per freight, ``.gantry/freight/<ID>.json``
(history in git)::

    {"id": "3f1c0a9e2b7d", "environment": "dev", "base": "<40 hex: the tip the pin was made on>",
     "created": "2026-12-06T02:30:00Z", "build_url": "…" | null,
     "items": [{"service": "storefront", "image": "host/repo", "tag": "abc" | null,
                "digest": "sha256:…", "manifest": "apps/storefront/overlays/dev"}],
     "revoked": null | {"by": "…", "reason": "…", "at": "2026-…Z"}}

**Freight ID** (:func:`freight_id`): the first 12 hex digits of SHA-256 over the sorted lines
``<service>@<digest>`` followed by ``base``, the branch tip the pin commit was made on, joined by
``\\n`` — content-derived (the same digests pinned on the same tip always have the same ID) and
short enough to type.

The record is written **in the pin commit itself** (:func:`gitops.writeback.write_edits`, for a
:class:`~gitops.writeback.PinEdit` with ``freight=True``: the bump stage sets it for the catalog's
``promotion.source``; edits of one build — same build URL — committed together are one freight,
:func:`gitops.writeback.record_freights`); the pinning commit is therefore the commit that added the record
(:func:`pinning_commit`), read from git, never stored. :func:`revoke` marks it unusable (``revoked``), one commit
with trailers (:mod:`gitops.trailers`): ``Gantry-Action: revoke``, ``Freight:``, ``By:``, ``Reason:``.
Revocation is final: a revoked freight is never promoted (:mod:`gitops.promotion` reads the
record inside its write transaction).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline_lib.core.answer import optional, parse, require
from pipeline_lib.core.errors import BadInput, NotFound
from pipeline_lib.core.fileio import write_atomic

from . import trailers
from .hostlock import Writers

FREIGHT_DIR = ".gantry/freight"
_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Item:
    """One service's pin in the freight: image repository (``host/name``), tag, digest and the
    source environment's manifest that pinned it."""

    service: str
    image: str
    digest: str
    tag: str | None = None
    manifest: str = ""


@dataclass(frozen=True)
class Revocation:
    by: str
    reason: str
    at: str   # ISO 8601 UTC


@dataclass(frozen=True)
class Freight:
    """``commit``: the pinning commit (the one that added the record; "" until it exists)."""

    id: str
    environment: str
    base: str
    items: tuple[Item, ...]
    created: str
    build_url: str | None = None
    revoked: Revocation | None = None
    commit: str = ""

    @property
    def services(self) -> list[str]:
        return [i.service for i in self.items]

    def item(self, service: str) -> Item:
        for it in self.items:
            if it.service == service:
                return it
        raise NotFound(f"freight {self.id}", f"has no service {service!r} (has: {', '.join(self.services)})")

    def to_json(self) -> dict:
        return {"id": self.id, "environment": self.environment, "base": self.base, "created": self.created,
                "build_url": self.build_url, "items": [asdict(i) for i in self.items],
                "revoked": asdict(self.revoked) if self.revoked else None}


def freight_id(items: list[Item] | tuple[Item, ...], base: str) -> str:
    """First 12 hex of sha256(sorted ``service@digest`` lines + ``base``), see the module docstring."""
    lines = sorted(f"{i.service}@{i.digest}" for i in items)
    return hashlib.sha256("\n".join([*lines, base]).encode()).hexdigest()[:12]


def check_id(value: str) -> str:
    if not _ID.match(value or ""):
        raise BadInput("freight", f"{value!r} is not a freight ID (12 lowercase hex digits)")
    return value


def rel_path(freight: str) -> str:
    return f"{FREIGHT_DIR}/{check_id(freight)}.json"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_json(doc: object, where: str, commit: str = "") -> Freight:
    """A freight record (``commit``: its pinning commit); BadAnswer naming the file and the field
    when it is malformed, BadInput when its ID does not match its content."""
    raw_items = require(doc, "items", kind=list, where=where)
    items = tuple(Item(require(doc, "items", n, "service", kind=str, where=where),
                       require(doc, "items", n, "image", kind=str, where=where),
                       require(doc, "items", n, "digest", kind=str, where=where),
                       optional(doc, "items", n, "tag", kind=str, where=where),
                       optional(doc, "items", n, "manifest", kind=str, default="", where=where))
                  for n in range(len(raw_items)))
    rev = optional(doc, "revoked", kind=dict, where=where)
    revoked = None
    if rev is not None:
        revoked = Revocation(require(rev, "by", kind=str, where=where), require(rev, "reason", kind=str, where=where),
                             require(rev, "at", kind=str, where=where))
    freight = Freight(require(doc, "id", kind=str, where=where), require(doc, "environment", kind=str, where=where),
                      require(doc, "base", kind=str, where=where), items,
                      require(doc, "created", kind=str, where=where),
                      optional(doc, "build_url", kind=str, where=where), revoked, commit)
    if not items:
        raise BadInput(where, "freight lists no items")
    if freight_id(items, freight.base) != freight.id:
        raise BadInput(where, f"id {freight.id} does not match its content ({freight_id(items, freight.base)}): "
                              "the record was edited by hand")
    return freight


#: (repository dir, freight) -> pin commit: a record is added once, so the answer never changes
_PINNED: dict[tuple[str, str], str] = {}


def pinning_commit(git_dir: Path, freight: str, rev: str = "HEAD") -> str:
    """The commit that added the record of ``freight`` (in ``rev``'s history): its pin commit."""
    from .git import out
    key = (str(git_dir), freight)
    if key not in _PINNED:
        found = out(git_dir, "log", "-1", "--diff-filter=A", "--format=%H", rev, "--", rel_path(freight))
        if not found:
            return ""
        if len(_PINNED) > 10_000:
            _PINNED.clear()
        _PINNED[key] = found
    return _PINNED[key]


def read(checkout: Path, freight: str) -> Freight:
    """The record of ``freight`` in a checkout; NotFound when there is none."""
    rel = rel_path(freight)
    path = checkout / rel
    if not path.is_file():
        raise NotFound("freight", f"no freight {freight} in the GitOps repo ({rel})")
    return from_json(parse(path.read_bytes(), rel), rel, pinning_commit(checkout, freight))


def list_all(checkout: Path) -> list[Freight]:
    """Every freight record, oldest first (by ``created``, then ID)."""
    base = checkout / FREIGHT_DIR
    if not base.is_dir():
        return []
    out = [read(checkout, p.stem) for p in base.glob("*.json") if _ID.match(p.stem)]
    return sorted(out, key=lambda f: (f.created, f.id))


def latest_for(checkout: Path, services: list[str], environment: str) -> Freight:
    """The newest freight recorded for ``environment`` that holds every one of ``services``
    (revoked ones included: the promotion refuses them by name). NotFound when none does."""
    found = [f for f in list_all(checkout) if f.environment == environment and set(services) <= set(f.services)]
    if not found:
        raise NotFound("freight", f"no freight recorded in {environment} for {', '.join(services)} "
                                  "(a bump to dev records one; see gantry gitops freight)")
    return found[-1]


def write(checkout: Path, freight: Freight) -> str:
    """Write the record into the checkout (atomically); its path relative to the checkout."""
    rel = rel_path(freight.id)
    write_atomic(checkout / rel, json.dumps(freight.to_json(), indent=2, sort_keys=True) + "\n")
    return rel


def make(environment: str, base: str, items: list[Item], *, build_url: str | None = None,
         now: datetime | None = None) -> Freight:
    """A new record for ``items`` pinned on top of ``base`` (the branch tip, 40 hex)."""
    if not re.match(r"^[0-9a-f]{40}$", base or ""):
        raise BadInput("freight", f"base commit {base!r} is not a full commit id")
    return Freight(freight_id(items, base), environment, base, tuple(items), iso(now or utc_now()), build_url)


def revoked_copy(freight: Freight, by: str, reason: str, now: datetime | None = None) -> Freight:
    from dataclasses import replace
    return replace(freight, revoked=Revocation(by, reason, iso(now or utc_now())))


def revoke_message(freight: Freight, by: str, reason: str) -> str:
    return trailers.message(f"revoke: freight {freight.id} ({', '.join(freight.services)})",
                            [f"{i.service} {i.image}@{i.digest}" for i in freight.items],
                            [(trailers.ACTION, "revoke"), (trailers.FREIGHT, freight.id), (trailers.BY, by),
                             (trailers.REASON, reason)])


@dataclass
class RevokeResult:
    freight: str
    commit: str | None        # None: it was already revoked (nothing written)
    already: Revocation | None = None
    warnings: list[str] = field(default_factory=list)


def revoke(repo_url: str, branch: str, freight: str, *, by: str, reason: str, now: datetime | None = None,
           writers: Writers | None = None, dry_run: bool = False, workdir: Path | None = None) -> RevokeResult:
    """Mark ``freight`` revoked: one commit (see the module docstring). Already revoked: nothing
    written, ``already`` is the first revocation. ``dry_run``: check it exists, write nothing."""
    from .git import transact
    check_id(freight)
    if not reason.strip():
        raise BadInput("gitops revoke", "--reason must say why")
    state: dict[str, Revocation | None] = {"already": None}

    def change(wd: Path):
        current = read(wd, freight)
        if current.revoked is not None:
            state["already"] = current.revoked
            return None
        if dry_run:
            return None
        rel = write(wd, revoked_copy(current, by, reason, now))
        return revoke_message(current, by, reason), [rel], None
    tx = transact(repo_url, change, branch=branch, writers=writers, workdir=workdir)
    return RevokeResult(freight, tx.commit, state["already"])
