"""The one write path for pin edits: apply a set of edits to a clone, check their effect, commit,
push, rebase-retry.

``gantry gitops bump`` (alone or group-committed through :mod:`gitops.batch`), ``promote`` and
pull-request mode all end in :func:`write_edits`. ``dr failover`` (one all-or-nothing commit
for an environment plus its DR state) writes through the same effect check
(:func:`gitops.effect.apply_intents`, batched the same way) and the same transaction
(:func:`gitops.git.transact`, the one commit/push/rebase-retry loop); ``pins`` and the failover
plan read what runs through the same batched renders (:func:`gitops.effect.running_pins`).

- Each :class:`PinEdit` (one service, one environment, one image reference) is self-contained
  and JSON-serialisable, so another gantry process can apply it.
- :func:`write_edits` runs one transaction on the tip of the branch: every edit goes through
  :func:`gitops.effect.apply_each` (each affected overlay rendered once before and once after
  the batch's edits; a refused edit leaves its manifest as it was and does not hold back the
  others), then the kept edits are committed — **one commit** for the batch (a summary line,
  one line per service, and each service's block: image, tag and digest old -> new, build URL),
  or one commit per edit when it asks for that (``per_service``, from the catalog's
  ``defaults.gitops_commits: per-service``). A push rejected because another writer got in
  first is retried on the new tip: the edits are applied and effect-checked again from scratch
  (a rebase, never a merge commit).
- Results are typed: each edit gets its :class:`BumpResult` or its own :class:`GantryError`
  (the same type, place, message and exit code as a lone edit); :func:`error_to_json` /
  :func:`error_from_json` carry them between processes.
- Guards (:data:`GUARDS`, a pre-commit check list) run on each edit inside the transaction, on
  the freshly fetched checkout and with the transaction's clock (``now``), at every attempt: a
  hold on the service (:mod:`gitops.holds`) and the environment's freeze windows
  (:mod:`gitops.freeze`). A refused edit gets its own error (exit 1) and never holds back the
  others of its batch; a queued edit is checked when it is written, not when it was queued.
- Every commit records its edits as git trailers (the message's last paragraph, one group per
  edit starting at ``Service:``): ``Service``, ``Environment``, ``Digest: old -> new``,
  ``Gantry-Action`` (bump, promote, rollback, …), ``By`` and, when set, ``Break-Glass``,
  ``Freeze-Window``, ``Reason`` and the edit's own ``trailers`` (e.g. ``Freight:``);
  ``gantry gitops history`` reads them back (:mod:`gitops.history`). A break-glass edit and an
  edit that sets a hold (rollback) get a commit of their own.
- Each commit is logged as one line (commit, branch, number of edits, services, render and push
  seconds) to ``writers.log`` (``$GANTRY_GITOPS_LOG``, read by the CLI) or ``<lock dir>/<repo hash>.log``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from typing import TYPE_CHECKING

from pipeline_lib.core import errors as core_errors
from pipeline_lib.core.catalog import Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError

from .hostlock import Writers, lock_path
from .manifest import ImagePin

if TYPE_CHECKING:
    from pipeline_lib.core.freeze import Window

    from .effect import Applied, Intent
    from .git import Change
    from .kustomize import Prerender

# The render and git machinery (effect, git, kustomize, drstate) is imported where it is used:
# a bump that only queues for a batch (gitops.batch) carries a PinEdit and never loads it.

COMMIT_MODES = ("batch", "per-service")


@dataclass
class BumpResult:
    changed: bool
    commit: str | None
    old_tag: str | None
    new_tag: str | None
    old_digest: str | None
    new_digest: str
    manifest: str
    attempts: int = 1
    branch: str = "main"
    pull_request: str | None = None
    warnings: list[str] = field(default_factory=list)
    image: str = ""  # the repository pinned (the active registry's while failed over)
    # seconds: queued before its batch started (0 alone), the batch's render and push; batch:
    # edits written together, commit_edits: edits in this edit's commit
    timings: dict[str, float] = field(default_factory=dict)
    batch: int = 1
    commit_edits: int = 0
    break_glass: str | None = None   # the freeze window this write broke (its own commit), else None
    freight: str | None = None   # the freight recorded in the pin commit (gitops.freight)


def _short(value: str | None, n: int = 19) -> str:
    return value[:n] if value else "none"


def commit_message(service: str, environment: str, image: str, old: ImagePin, tag: str | None,
                   digest: str, build_url: str | None, verb: str = "deploy",
                   trailers: Sequence[str] = ()) -> str:
    """The message of one edit's commit: a subject line, then its block (see :func:`_block`) and
    ``trailers`` in the same last paragraph (git trailers)."""
    return "\n".join([_subject(verb, service, environment, old, tag, digest), "",
                      *_block(service, environment, image, old, tag, digest, build_url), *trailers, ""])


ACTIONS = {"deploy": "bump"}   # verb -> the Gantry-Action trailer (others: the verb itself)


def one_line(text: str) -> str:
    """``text`` as one trailer value (newlines folded to spaces)."""
    return " ".join(str(text).split())


def _subject(verb: str, service: str, environment: str, old: ImagePin, tag: str | None, digest: str) -> str:
    return (f"{verb}({service}): {environment} {old.tag or 'none'} -> {tag or 'none'} "
            f"({_short(old.digest)} -> {_short(digest)})")


def _block(service: str, environment: str, image: str, old: ImagePin, tag: str | None, digest: str,
           build_url: str | None) -> list[str]:
    return [f"Service: {service}",
            f"Environment: {environment}",
            f"Image: {image}",
            f"Tag: {old.tag or 'none'} -> {tag or 'none'}",
            f"Digest: {old.digest or 'none'} -> {digest}",
            f"Build: {build_url or 'n/a'}"]


@dataclass
class PinEdit:
    """One pin edit, self-contained (JSON-serialisable) so another gantry process can apply it."""

    service: str
    environment: str
    ecr_repository: str
    manifest: str
    manifest_format: str
    values_key: str
    image: str
    digest: str
    tag: str | None = None
    build_url: str | None = None
    verb: str = "deploy"
    per_service: bool = False   # its own commit, even inside a batch
    by: str | None = None       # who asked (the By: trailer)
    reason: str | None = None   # why (the Reason: trailer; required to break glass)
    break_glass: bool = False   # write even inside a freeze window (its own commit, Break-Glass: true)
    freeze: list[dict] = field(default_factory=list)   # the environment's windows (core.freeze.to_json)
    hold: dict | None = None    # a gitops.holds.Hold (as a dict) set in the same commit (rollback)
    trailers: list[str] = field(default_factory=list)  # further "Key: value" trailers (e.g. Freight:)
    freight: bool = False       # record its freight (gitops.freight) in the pin commit

    def __post_init__(self) -> None:
        self.requested = self.image
        self.rel = self.manifest
        self.old = ImagePin(None, None, None)
        self.warnings: list[str] = []
        self.freight_id: str | None = None
        self.glass: Window | None = None   # set by the freeze guard when this edit breaks glass

    @property
    def alone(self) -> bool:
        """Written in a commit of its own (per-service mode, break-glass, or setting a hold)."""
        return self.per_service or self.glass is not None or self.hold is not None

    def record(self) -> list[str]:
        """This edit's record trailers (after its block's Service…Build lines)."""
        lines = [f"Gantry-Action: {ACTIONS.get(self.verb, self.verb)}"]
        if self.by:
            lines.append(f"By: {one_line(self.by)}")
        if self.glass is not None:
            lines += ["Break-Glass: true", f"Freeze-Window: {one_line(self.glass.name)}"]
        if self.reason:
            lines.append(f"Reason: {one_line(self.reason)}")
        lines += [one_line(t) for t in self.trailers]
        return lines + ([f"Freight: {self.freight_id}"] if self.freight_id else [])

    def record_freight(self, checkout: Path, base: str) -> list[str]:
        """When ``freight``: write its record into ``checkout`` (see :func:`record_freights`)."""
        return record_freights(checkout, [self], base)

    def service_environment(self) -> ServiceEnvironment:
        """The catalog entry of this service in its environment (what locates its manifest)."""
        return self._objects()[1]

    def _objects(self) -> tuple[Service, ServiceEnvironment]:
        env = ServiceEnvironment(self.environment, self.manifest, self.ecr_repository, self.manifest_format,
                                 self.values_key)
        svc = Service(self.service, "", "", ".", self.ecr_repository, "", {self.environment: env})
        return svc, env

    @property
    def reference(self) -> str:
        """The full reference the service must run: ``image[:tag]@digest``."""
        return ImagePin(self.image, self.tag, self.digest).reference

    def intent(self, checkout: Path) -> Intent:
        """The effect to check in ``checkout``. While the environment is failed over
        (:mod:`gitops.drstate`), an image on the primary registry is pinned on the active one
        instead (same repository), with a warning."""
        from .drstate import read_state, state_rel
        from .effect import Intent
        svc, env = self._objects()
        state = read_state(checkout, self.environment)
        self.image = state.follow(self.requested) if state else self.requested
        self.warnings = []
        if self.image != self.requested and state is not None:
            self.warnings.append(f"{self.environment} is failed over to {state.active_region} "
                                 f"({state_rel(self.environment)}): pinning {self.image} instead of {self.requested}")
        return Intent(svc, env, self.reference)

    def took(self, applied: Applied) -> None:
        self.rel, self.old = applied.manifest, applied.running
        self.warnings += applied.warnings

    def message(self) -> str:
        return commit_message(self.service, self.environment, self.image, self.old, self.tag, self.digest,
                              self.build_url, self.verb, self.record())

    def apply(self, checkout: Path) -> tuple[str, list[str], None] | None:
        """This edit alone in ``checkout``, effect-checked: ``(message, [manifest], None)``, or None
        when it already pins this image. Raises its GantryError when refused."""
        from .effect import apply_each
        outcome = apply_each(checkout, [self.intent(checkout)])[0]
        if isinstance(outcome, GantryError):
            raise outcome
        self.took(outcome)
        return (self.message(), [self.rel], None) if outcome.changed else None

    def result(self, commit: str | None, attempts: int = 1, branch: str = "main") -> BumpResult:
        return BumpResult(commit is not None, commit, self.old.tag, self.tag, self.old.digest, self.digest,
                          self.rel, attempts, branch, warnings=list(self.warnings), image=self.image,
                          break_glass=self.glass.name if self.glass is not None and commit else None)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> PinEdit:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Stamp:
    """Who writes and under which exception, carried into each :class:`PinEdit`: ``by`` (By:),
    ``reason`` (Reason:), ``break_glass`` (write inside a freeze window, needs ``reason``),
    ``freeze``: the environment's windows (:func:`pipeline_lib.core.freeze.to_json`), ``trailers``:
    further ``Key: value`` lines."""

    by: str | None = None
    reason: str | None = None
    break_glass: bool = False
    freeze: tuple[dict, ...] = ()
    trailers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.break_glass and not (self.reason or "").strip():
            raise core_errors.BadInput("gitops: --break-glass", "needs --reason TEXT (recorded in the commit)")

    def fields(self) -> dict:
        """Keyword arguments of :class:`PinEdit`."""
        return {"by": self.by, "reason": self.reason, "break_glass": self.break_glass,
                "freeze": [dict(w) for w in self.freeze], "trailers": list(self.trailers)}


# -- typed errors between processes ---------------------------------------------------------------
def _error_types() -> dict[str, type[GantryError]]:
    from .git import GitError, PushRejected
    return {cls.__name__: cls for cls in (GantryError, core_errors.BadInput, core_errors.NotFound,
                                          core_errors.Conflict, core_errors.Unauthorized, core_errors.Unavailable,
                                          core_errors.TimeoutExceeded, core_errors.CheckFailed, GitError,
                                          PushRejected)}


def error_to_json(exc: GantryError) -> dict:
    """``{"type", "where", "what", "exit_code", "problems"}``: the type is the nearest known class."""
    known = _error_types()
    name = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in known), "GantryError")
    return {"type": name, "where": exc.where, "what": exc.what, "exit_code": exc.exit_code,
            "problems": list(exc.problems)}


def error_from_json(data: dict) -> GantryError:
    """The error :func:`error_to_json` described: same type, place, message, exit code."""
    from .git import GitError
    cls = _error_types().get(str(data.get("type")), GantryError)
    exc = cls.__new__(cls)
    GantryError.__init__(exc, str(data.get("where", "")), str(data.get("what", "")),
                         exit_code=int(data.get("exit_code", 2)), problems=list(data.get("problems") or []))
    if isinstance(exc, GitError):
        exc.stderr = ""
    return exc


# -- the transaction ------------------------------------------------------------------------------
def batch_message(edits: Sequence[PinEdit]) -> str:
    """One commit for several edits: a summary subject, one line per service, then each block."""
    if len(edits) == 1:
        return edits[0].message()
    verbs = sorted({e.verb for e in edits})
    envs = sorted({e.environment for e in edits})
    subject = f"{'/'.join(verbs)}: {len(edits)} services in {', '.join(envs)}"
    lines = [subject, ""]
    lines += [_subject(e.verb, e.service, e.environment, e.old, e.tag, e.digest) for e in edits]
    for e in edits:
        lines += ["", *_block(e.service, e.environment, e.image, e.old, e.tag, e.digest, e.build_url)]
    lines.append("")   # the trailers: one group per edit, read back by gitops.history
    for e in edits:
        lines += [f"Service: {e.service}", f"Environment: {e.environment}",
                  f"Digest: {e.old.digest or 'none'} -> {e.digest}", *e.record()]
    return "\n".join(lines) + "\n"


# -- guards: the pre-commit check list ------------------------------------------------------------
Guard = Callable[[Path, PinEdit, datetime], None]


def hold_guard(checkout: Path, edit: PinEdit, at: datetime) -> None:
    """Refuse an edit of a held service (:func:`gitops.holds.refuse_if_held`)."""
    from .holds import refuse_if_held
    refuse_if_held(checkout, edit.environment, edit.service, edit.verb)


def freeze_guard(checkout: Path, edit: PinEdit, at: datetime) -> None:
    """Refuse an edit inside one of its environment's freeze windows unless it breaks glass
    (:func:`gitops.freeze.check_freeze`); a break-glass edit inside a window is marked (``glass``)."""
    from .freeze import check_freeze
    edit.glass = check_freeze(edit.environment, edit.service, edit.verb, edit.freeze, at,
                              edit.reason if edit.break_glass else None)
    if edit.break_glass and edit.glass is None:
        edit.warnings.append(f"{edit.environment} is not frozen now: --break-glass not needed, written as usual")


GUARDS: list[Guard] = [hold_guard, freeze_guard]
"""Run in order on every edit inside the transaction; each raises the edit's GantryError to refuse it."""


def guard_problems(checkout: Path, edits: Sequence[PinEdit], at: datetime,
                   guards: Sequence[Guard] | None = None) -> list[str]:
    """One line per edit the guards refuse (``"<where>: <what>"``), for a writer that collects
    problems instead of raising (a promotion's check list); break-glass marks are set as usual."""
    problems = []
    for edit in edits:
        try:
            run_guards(checkout, edit, at, guards)
        except GantryError as exc:
            problems.append(f"{exc.where}: {exc.what}")
    return problems


def utcnow() -> datetime:
    """The write path's default clock (aware, UTC)."""
    return datetime.now(timezone.utc)


def run_guards(checkout: Path, edit: PinEdit, at: datetime, guards: Sequence[Guard] | None = None) -> None:
    """Every guard of ``guards`` (default :data:`GUARDS`) on ``edit``; raises the first refusal."""
    for guard in GUARDS if guards is None else guards:
        guard(checkout, edit, at)


def _log_path(url: str, writers: Writers | None = None) -> Path:
    writers = writers or Writers()
    return Path(writers.log or lock_path(url, writers.lock_dir).with_suffix(".log"))


def log_commit(url: str, branch: str, commit: str, edits: Sequence[PinEdit], render: float, push: float,
               attempts: int, writers: Writers | None = None) -> str:
    """Append the one line describing a pushed commit to the batch log; returns the line."""
    names = ", ".join(e.service for e in edits[:8]) + (f", … (+{len(edits) - 8})" if len(edits) > 8 else "")
    line = (f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {commit[:12]} {branch}: "
            f"{len(edits)} edit(s) in 1 commit ({names}); render {render:.2f}s, push {push:.2f}s, "
            f"attempt {attempts}\n")
    try:
        path = _log_path(url, writers)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError:
        pass  # the log is a convenience; the results carry the same figures
    return line


def write_edits(url: str, branch: str, edits: Sequence[PinEdit], *, push_branch: str | None = None,
                workdir: Path | None = None, lock: bool = True, stale: bool = False,
                synced: bool = False, deadline: float = 300.0,
                writers: Writers | None = None, now: Callable[[], datetime] | None = None,
                guards: Sequence[Guard] | None = None, ahead: Prerender | None = None) -> list[BumpResult | GantryError]:
    """Apply ``edits`` on the tip of ``branch``, check their effect, commit and push (see the
    module docstring); in ``edits`` order, each edit's result or its own error.

    An error of the transaction itself (clone, push refused by a hook, still rejected after
    ``deadline`` s) is every edit's error. ``push_branch`` pushes to another branch
    (pull-request mode, force-pushed: gantry's own review branch). ``lock``/``stale``/``synced``:
    see :func:`gitops.git.transact`. ``writers``: the host's lock directory, lock switch and
    commit log (:class:`gitops.hostlock.Writers`; default: the temp dir, locked, beside the lock).
    ``now``: the clock the freeze guard reads at each attempt (default :func:`utcnow`);
    ``guards``: the pre-commit checks (default :data:`GUARDS`). ``ahead``: overlays the batch
    rendered while it waited (:class:`gitops.kustomize.Prerender`, at the checkout's HEAD); the
    bumps' ``render`` timing counts them too.
    """
    from .effect import apply_each
    from .git import Change, transact
    from .kustomize import RenderStats
    outcomes: list[BumpResult | GantryError | None] = [None] * len(edits)
    plan: list[tuple[str, list[str], list[int]]] = []
    stats = RenderStats()

    def change(wd: Path) -> Change | None:
        nonlocal stats
        stats = RenderStats()
        plan.clear()
        intents: list[Intent] = []
        todo: list[int] = []
        at = (now or utcnow)()
        for i, edit in enumerate(edits):
            try:
                run_guards(wd, edit, at, guards)   # on this attempt's fresh checkout
                intents.append(edit.intent(wd))
                todo.append(i)
            except GantryError as exc:  # e.g. an unreadable DR state: this edit's error only
                outcomes[i] = exc
        head = tip(wd) if ahead is not None else None   # no commit yet on this attempt: also the freights' base
        applied = apply_each(wd, intents, stats=stats, ahead=ahead, key=head)
        kept: list[int] = []
        for i, outcome in zip(todo, applied):
            edit = edits[i]
            if isinstance(outcome, GantryError):
                outcomes[i] = outcome
                continue
            edit.took(outcome)
            outcomes[i] = None
            if outcome.changed or edit.hold is not None:
                kept.append(i)
        together = [i for i in kept if not edits[i].alone]
        base = (head or tip(wd)) if any(edits[i].freight for i in kept) else ""
        if together:   # records first: the messages name their freight (Freight: trailer)
            records = record_freights(wd, [edits[i] for i in together], base)
            plan.append((batch_message([edits[i] for i in together]),
                         list(dict.fromkeys(edits[i].rel for i in together)) + records, together))
        for i in kept:
            if edits[i].alone:
                extra = [*_write_hold(wd, edits[i]), *edits[i].record_freight(wd, base)]
                plan.append((edits[i].message(), [edits[i].rel, *extra], [i]))
        if not plan:
            return None
        return Change([(message, paths) for message, paths, _ in plan])

    try:
        tx = transact(url, change, branch=branch, push_branch=push_branch, workdir=workdir, deadline=deadline,
                      lock=lock, stale=stale, synced=synced, writers=writers)
    except GantryError as exc:
        return [exc] * len(edits)
    target = push_branch or branch
    commit_of: dict[int, tuple[str, int]] = {}
    for (_, _, members), sha in zip(plan, tx.commits):
        if sha is None:
            continue
        for i in members:
            commit_of[i] = (sha, len(members))
        log_commit(url, target, sha, [edits[i] for i in members], stats.seconds, tx.push_seconds, tx.attempts,
                   writers)
    results: list[BumpResult | GantryError] = []
    for i, edit in enumerate(edits):
        outcome = outcomes[i]
        if isinstance(outcome, GantryError):
            results.append(outcome)
            continue
        sha, size = commit_of.get(i, (None, 0))
        result = edit.result(sha, tx.attempts, target)
        rendered = stats.seconds + (ahead.stats.seconds if ahead is not None else 0.0)
        result.timings = {"render": round(rendered, 3), "push": round(tx.push_seconds, 3) if sha else 0.0}
        result.batch, result.commit_edits = len(edits), size
        result.freight = edit.freight_id if sha else None
        results.append(result)
    return results


def record_freights(checkout: Path, edits: Sequence[PinEdit], base: str) -> list[str]:
    """Write the freight records of the ``edits`` that ask for one (``freight``) into ``checkout``,
    pinned on top of ``base``: one freight per build — edits of one environment with the same
    build URL (one build's services, committed together) share a record; an edit without a build
    URL is a freight of its own. Sets each edit's ``freight_id``; the paths to commit with the pins."""
    from .freight import Item, make, write
    groups: dict[tuple[str, object], list[PinEdit]] = {}
    for e in edits:
        if e.freight:
            groups.setdefault((e.environment, e.build_url or id(e)), []).append(e)
    paths = []
    for members in groups.values():
        record = make(members[0].environment, base,
                      [Item(e.service, e.image, e.digest, e.tag, e.rel) for e in members],
                      build_url=members[0].build_url)
        for e in members:
            e.freight_id = record.id
        paths.append(write(checkout, record))
    return paths


def tip(wd: Path) -> str:
    """The commit checked out in ``wd`` (its HEAD, 40 hex digits)."""
    from .git import out
    return out(wd, "rev-parse", "HEAD")


def _write_hold(checkout: Path, edit: PinEdit) -> list[str]:
    """Write the hold an edit sets (rollback) beside its pin; the paths to commit with it."""
    if edit.hold is None:
        return []
    from .holds import Hold, write_hold
    return [write_hold(checkout, Hold(**{**edit.hold, "digest": edit.digest}))]


def result_to_json(result: BumpResult | GantryError) -> dict:
    return {"error": error_to_json(result)} if isinstance(result, GantryError) else {"result": asdict(result)}


def result_from_json(data: dict) -> BumpResult | GantryError:
    if "error" in data:
        return error_from_json(data["error"])
    return BumpResult(**data["result"])


def now() -> float:
    """Wall-clock seconds (shared between processes, unlike ``time.monotonic``)."""
    return time.time()
