"""Group commit for concurrent bumps of one GitOps repository and branch from one host.

Each ``gantry gitops bump`` process writes its request (a :class:`~gitops.writeback.PinEdit`)
to a spool directory and queues on the host's writer lock for the repository. The process that
gets the lock waits until the oldest pending request is ``window`` seconds old (default 0.2 s,
``defaults.gitops_batch_window_ms`` in the catalog, ``$GANTRY_GITOPS_BATCH_WINDOW_MS`` read by
the CLI into :class:`~gitops.hostlock.Writers`), so
bumps that arrive together are written together, then hands every pending request of the branch
to :func:`gitops.writeback.write_edits` — one transaction, effect-checked, normally one commit —
and writes each request's typed result (its :class:`~gitops.writeback.BumpResult`, or its own
error: same type, message and exit code as a lone bump). The others find their result when they
get the lock and return; requests that arrived meanwhile form the next batch. Requests of
processes that have died are dropped, never applied on their behalf.

A request can also be *raw* (:func:`submit_request`, what ``gantry gitops bump`` writes): the
command's arguments, not yet checked. The waiting process then loads no catalog, YAML, render or
git machinery (50 bumps at once on 2 cores spend their start-up in CPU, issue 21); the leader
turns every raw request into its edit with the command's ``prepare`` hook (the lone bump's checks,
in its order, the catalog loaded once), or answers it with its own error, or defers it (the
waiting process then runs the bump itself through :func:`submit`).

The checkout a batch writes in is kept beside the lock (``<hash>.work``) and reused by the next
batch (fetched and reset under the lock, so only one batch uses it at a time); kept checkouts
unused for an hour are removed (:func:`prune_workdirs`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_lib.core.errors import GantryError

from . import spool as spools
from .hostlock import Writers, lock_path, writer_lock

if TYPE_CHECKING:
    from .writeback import BumpResult, PinEdit

# gitops.writeback (and through it the catalog model and YAML) is imported by the batch's leader
# only: a process that queues a raw request (submit_request) and waits loads none of it.

STALE_SECONDS = 3600
WORK_IDLE_SECONDS = 3600   # a kept checkout unused this long is removed by the next batch
DEFAULT_WINDOW = 0.2   # seconds
MAX_WINDOWS = 5        # a batch stays open at most this many windows while bumps keep arriving


def enabled(writers: Writers | None = None) -> bool:
    """Bumps are batched: the host lock and batching are both on (``writers``, default on)."""
    writers = writers or Writers()
    return writers.lock and writers.batch


def window_seconds(catalog_ms: int | None = None, window_ms: str | None = None) -> float:
    """The batch window in seconds: ``window_ms`` (``$GANTRY_GITOPS_BATCH_WINDOW_MS`` as given,
    :attr:`Writers.window_ms`), else the catalog's, else 0.2 s. A ``window_ms`` that is not an
    integer is a :class:`GantryError`."""
    raw = (window_ms or "").strip()
    if raw:
        try:
            return max(0.0, int(raw) / 1000)
        except ValueError:
            raise GantryError("GANTRY_GITOPS_BATCH_WINDOW_MS", f"expected milliseconds, got {raw!r}") from None
    return DEFAULT_WINDOW if catalog_ms is None else max(0, catalog_ms) / 1000


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def submit(url: str, branch: str, edit: PinEdit, *, window: float = DEFAULT_WINDOW,
           writers: Writers | None = None) -> BumpResult:
    """Queue ``edit`` and return its result once a batch (maybe run by this process) wrote it.

    Raises the edit's own typed :class:`GantryError` when it was refused or its batch failed.
    """
    from .writeback import result_from_json
    writers = writers or Writers()
    data = spools.submit(url, writers.lock_dir, {"branch": branch, "edit": edit.to_json()},
                         lambda spool: run_batch(url, branch, Path(spool), window=window, writers=writers),
                         f"bump of {edit.service} {edit.environment}")
    outcome = result_from_json(data)
    if isinstance(outcome, GantryError):
        raise outcome
    return outcome


@dataclass
class Ready:
    """A raw request its leader turned into a pin edit: ``edit`` goes to ``branch`` in a batch
    closing after ``window`` seconds without arrivals."""

    branch: str
    edit: PinEdit
    window: float = DEFAULT_WINDOW


@dataclass
class Prepared:
    """What the leader's ``prepare`` made of one raw request: ``outcome`` is :class:`Ready`, the
    request's own :class:`GantryError` (its result, as a lone run would have raised it), or None
    (defer: its process runs the bump itself, through :func:`submit`); ``notes``: lines its
    process prints on stderr before its result (as a lone run would have printed them)."""

    outcome: Ready | GantryError | None
    notes: list[str] = field(default_factory=list)


Prepare = Callable[[Sequence[dict]], Sequence[Prepared]]
"""The leader's hook: raw requests (as given to :func:`submit_request`, with ``pid``: their
waiting process) -> one :class:`Prepared` each."""


def submit_request(url: str, request: dict, prepare: Prepare, *, writers: Writers | None = None) -> dict:
    """Queue a raw (unprepared) bump request and return its result once a batch wrote it.

    The waiting process needs no catalog, render or git machinery: the process that gets the
    writer lock (the leader) turns every raw request in the spool into its edit with
    ``prepare`` (the same checks, in the same order, as a lone bump), then runs the batches. The
    answer is the result's JSON (:func:`gitops.writeback.result_to_json`; a result's
    ``timings.total`` set) with ``notes`` (stderr lines), or ``{"defer": true}``: run the
    bump yourself. ``request`` (what ``prepare`` reads: :mod:`pipeline_lib.commands.bumpqueue`
    sends the command's arguments and directory) must name ``service`` and ``env`` (for the error
    when nothing answers it). :func:`gitops.spool.submit` is the waiting side.
    """
    writers = writers or Writers()
    return spools.submit(url, writers.lock_dir, {"request": request},
                         lambda spool: run_requests(url, Path(spool), prepare, writers=writers),
                         f"bump of {request.get('service')} {request.get('env')}")


def _unanswered(spool: Path) -> Iterator[tuple[Path, dict]]:
    """The spool's requests that have no result yet, oldest first, parsed; one that cannot be
    read (being written, or just removed by its process) is skipped this time."""
    for req in sorted(spool.glob("*.req")):
        if req.with_suffix(".res").exists():
            continue
        try:
            data = json.loads(req.read_text())
        except (OSError, ValueError):
            continue
        yield req, data


def _prepare_raw(spool: Path, prepare: Prepare) -> None:
    """Turn the raw requests of live processes into typed requests (with their branch, batch
    window and notes), or write their results (refused, or deferred)."""
    from .writeback import result_to_json
    raws: list[tuple[Path, dict]] = []
    for req, data in _unanswered(spool):
        if "request" not in data:
            continue
        if not _alive(int(data.get("pid", 0))):
            req.unlink(missing_ok=True)   # nobody waits for it: never applied
            continue
        raws.append((req, data))
    if not raws:
        return
    for (req, data), prepared in zip(raws, prepare([{**d["request"], "pid": d["pid"]} for _, d in raws])):
        ready = prepared.outcome
        if isinstance(ready, Ready):
            spools.put(str(req), {"pid": data["pid"], "branch": ready.branch, "submitted": data["submitted"],
                                  "edit": ready.edit.to_json(), "window": ready.window, "notes": prepared.notes})
        else:
            answer = {"defer": True} if ready is None else result_to_json(ready)
            spools.put(str(req.with_suffix(".res")), {**answer, "notes": prepared.notes})


def _branches(spool: Path) -> dict[str, float]:
    """branch -> batch window of the typed requests still waiting for a result."""
    out: dict[str, float] = {}
    for _, data in _unanswered(spool):
        if "branch" in data:
            out.setdefault(str(data["branch"]), float(data.get("window", DEFAULT_WINDOW)))
    return out


def run_requests(url: str, spool: Path, prepare: Prepare, *, writers: Writers | None = None) -> None:
    """The leader of raw requests (the caller holds the writer lock): prepare them, then run a
    batch (:func:`run_batch`) per branch with requests waiting; requests arriving meanwhile are
    prepared and join."""
    _prepare_raw(spool, prepare)
    done: set[str] = set()
    while True:
        todo = {b: w for b, w in _branches(spool).items() if b not in done}
        if not todo:
            return
        for branch, window in todo.items():
            done.add(branch)
            run_batch(url, branch, spool, window=window, writers=writers,
                      arrivals=lambda: _prepare_raw(spool, prepare))


def _pending(spool: Path, branch: str) -> list[tuple[Path, float, PinEdit]]:
    from .writeback import PinEdit
    out = []
    t = time.time()
    for req, data in _unanswered(spool):
        if not _alive(int(data.get("pid", 0))) or t - req.stat().st_mtime > STALE_SECONDS:
            req.unlink(missing_ok=True)  # its process is gone: never apply a bump nobody waits for
            continue
        if data.get("branch") == branch:
            out.append((req, float(data.get("submitted", t)), PinEdit.from_json(data["edit"])))
    for res in spool.glob("*.res"):  # results whose owner died before reading them
        if not res.with_suffix(".req").exists() and t - res.stat().st_mtime > 60:
            res.unlink(missing_ok=True)
    return out


def _notes(req: Path) -> list[str]:
    try:
        return list(json.loads(req.read_text()).get("notes") or [])
    except (OSError, ValueError):
        return []


def _workdir(url: str, lock_dir: str | None = None) -> Path:
    work = lock_path(url, lock_dir).with_suffix(".work")
    if work.exists() and not (work / ".git").is_dir():
        shutil.rmtree(work, ignore_errors=True)
    if work.exists():
        os.utime(work)  # in use: not pruned
    return work


def prune_workdirs(lock_dir: Path, keep: Path, idle: float = WORK_IDLE_SECONDS) -> None:
    """Remove the kept checkouts of other repositories unused for ``idle`` seconds whose writer
    lock is free (a repository written again later is simply cloned again)."""
    for work in lock_dir.glob("*.work"):
        try:
            if work == keep or time.time() - work.stat().st_mtime < idle:
                continue
            with open(work.with_suffix(".lock"), "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its batch is running
                shutil.rmtree(work, ignore_errors=True)
        except OSError:
            continue


def run_batch(url: str, branch: str, spool: Path, *, window: float = DEFAULT_WINDOW,
              deadline: float = 300.0, writers: Writers | None = None,
              arrivals: Callable[[], object] | None = None) -> None:
    """Apply all pending requests of ``branch`` (the caller holds the writer lock) and write
    their results.

    The batch closes once no request has arrived for ``window`` seconds (at most
    ``MAX_WINDOWS`` windows after it opened); the checkout is fetched meanwhile. ``writers``:
    the lock directory, commit log and trace file (:class:`~gitops.hostlock.Writers`).
    ``arrivals()``: called before each look at the spool (the leader of raw requests prepares
    those that arrived). A request's ``notes`` are copied into its result.
    """
    writers = writers or Writers()
    from .effect import render_targets
    from .git import checkout
    from .kustomize import Prerender
    from .writeback import now, result_to_json, tip, write_edits
    if not _pending(spool, branch):
        return
    opened = now()
    work = _workdir(url, writers.lock_dir)
    failed: GantryError | None = None
    try:
        checkout(url, branch, work)
    except GantryError as exc:
        failed = exc
    ahead = Prerender()
    head = tip(work) if failed is None else ""
    while True:
        if arrivals is not None:
            arrivals()
        pending = _pending(spool, branch)
        if not pending:
            return
        if failed is None:   # render what the batch will edit while it waits (issue 21)
            ahead.start(render_targets(work, [edit.service_environment() for _, _, edit in pending]), head)
        wait = min(max(s for _, s, _ in pending) + window, opened + MAX_WINDOWS * window) - now()
        if wait <= 0:
            break
        time.sleep(min(wait, window))
    started = now()
    results: list = []
    try:
        results = ([failed] * len(pending) if failed is not None else
                   write_edits(url, branch, [edit for _, _, edit in pending], workdir=work, lock=False,
                               synced=True, deadline=deadline, writers=writers, ahead=ahead))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)   # a half-done checkout is not reused
        raise
    for (req, submitted, _), result in zip(pending, results):
        if not isinstance(result, GantryError):
            result.timings["queue_wait"] = round(max(0.0, started - submitted), 3)
        spools.put(str(req.with_suffix(".res")), {**result_to_json(result), "notes": _notes(req)})
    prune_workdirs(work.parent, work)
    trace = writers.trace
    if trace:
        with open(trace, "a") as fh:
            fh.write(f"{os.getpid()} batch {len(pending)} in {now() - started:.2f}s "
                     f"(opened {started - opened:.2f}s before; {ahead.stats.overlays} overlays rendered ahead "
                     f"in {ahead.stats.seconds:.2f}s)\n")
