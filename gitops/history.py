"""``gantry gitops history``: gantry's records (bump, promote, revoke, rollback, hold, release,
break-glass) read back from the GitOps repo's git log.

One ``git log`` (:func:`gitops.git.out`) with ``--format`` fields separated by US/RS control
characters: commit, author date (ISO 8601), subject, the trailers (``%(trailers:unfold)``,
git-interpret-trailers(1): the message's last paragraph of ``Key: value`` lines) and the body.
Trailers are grouped per edit, a group starting at each ``Service:`` key; keys before the first
``Service:`` (``Gantry-Action``, ``Freight``, ``Evidence``, ``Checks``, ``By``, ``Reason``, …)
apply to the whole commit. A commit whose trailers name no service (a promote commit ending with
a commit-level trailer paragraph) takes its services from the body's ``Service:`` blocks. A commit
is a record when it has a ``Gantry-Action`` trailer (commit-level or in a group: a hold or release
names one service, its ``Service:`` comes first, and it pins no ``Digest``), or (commits older than the trailer) a
``Service:`` and ``Digest:`` block (action: its subject's verb, ``deploy`` read as ``bump``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): ?(.*)$")
_VERB = re.compile(r"^([a-z-]+)\(")
FS, RS = "\x1f", "\x1e"
FORMAT = f"%H{FS}%aI{FS}%s{FS}%(trailers:unfold){FS}%b{RS}"


@dataclass
class Record:
    """One edit (or one commit-level action) of one commit, newest first in :func:`read_history`.
    ``digest``/``old_digest``: the ``Digest: old -> new`` trailer (None when absent)."""

    commit: str
    date: str
    subject: str
    action: str
    service: str | None = None
    environment: str | None = None
    digest: str | None = None
    old_digest: str | None = None
    image: str | None = None
    tag: str | None = None
    by: str | None = None
    reason: str | None = None
    break_glass: bool = False
    trailers: dict[str, list[str]] = field(default_factory=dict)


def _pairs(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2).strip()) for line in text.splitlines() if (m := _LINE.match(line.strip()))]


def _groups(pairs: list[tuple[str, str]]) -> tuple[dict[str, list[str]], list[dict[str, list[str]]]]:
    common: dict[str, list[str]] = {}
    groups: list[dict[str, list[str]]] = []
    for key, value in pairs:
        if key == "Service":
            groups.append({})
        (groups[-1] if groups else common).setdefault(key, []).append(value)
    return common, groups


def _split(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    old, arrow, new = value.partition(" -> ")
    if not arrow:
        return None, value.strip() or None
    return (None if old.strip() in ("", "none") else old.strip()), (None if new.strip() in ("", "none") else new.strip())


def parse_commit(commit: str, date: str, subject: str, trailer_text: str, body: str) -> list[Record]:
    """The records of one commit (see the module docstring); [] when it is not a gantry record."""
    common, groups = _groups(_pairs(trailer_text))
    if not groups:
        _, groups = _groups(_pairs(body))
        groups = [g for g in groups if "Digest" in g or "Environment" in g]
    # hold/release trailers put Gantry-Action after Service:, inside the (only) group
    action = next((g["Gantry-Action"][0] for g in (common, *groups) if g.get("Gantry-Action")), None)
    if action is None:
        if not groups or not any("Digest" in g for g in groups):
            return []
        verb = _VERB.match(subject)
        action = verb.group(1) if verb else "bump"
    action = {"deploy": "bump"}.get(action, action)
    records = []
    for group in groups or [{}]:
        merged = {**common, **group}
        first = {k: v[0] for k, v in merged.items()}
        old, new = _split(first.get("Digest"))
        _, tag = _split(first.get("Tag"))
        act = {"deploy": "bump"}.get(first.get("Gantry-Action", action), first.get("Gantry-Action", action))
        records.append(Record(commit, date, subject, act, first.get("Service"), first.get("Environment"), new, old,
                              first.get("Image"), tag, first.get("By"), first.get("Reason"),
                              first.get("Break-Glass", "").lower() == "true", merged))
    return records


def read_history(checkout: Path, *, environment: str | None = None, service: str | None = None,
                 ref: str = "HEAD", limit: int | None = None) -> list[Record]:
    """Every record of ``ref``'s history in ``checkout``, newest first, filtered by environment and
    service (a record naming neither — e.g. a revoke — is kept by the environment filter and
    dropped by the service filter). ``limit``: at most that many commits read."""
    from .git import git
    args = ["log", f"--format={FORMAT}", ref]
    if limit:
        args.insert(1, f"-n{limit}")
    text = git(checkout, *args).stdout
    out: list[Record] = []
    for chunk in text.split(RS):
        parts = chunk.strip("\n").split(FS)
        if len(parts) != 5:
            continue
        for rec in parse_commit(*parts):
            if environment and rec.environment not in (None, environment):
                continue
            if service and rec.service != service:
                continue
            out.append(rec)
    return out
