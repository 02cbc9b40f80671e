"""Group commit for concurrent bumps of one GitOps repository and branch from one host.

Each ``gantry gitops bump`` process writes its request (a :class:`~gitops.writeback.PinEdit`)
to a spool directory and queues on the host's writer lock for the repository. The process that
gets the lock waits until the oldest pending request is ``window`` seconds old (default 0.2 s,
``defaults.gitops_batch_window_ms`` in the catalog, ``$GANTRY_GITOPS_BATCH_WINDOW_MS``), so
bumps that arrive together are written together, then hands every pending request of the branch
to :func:`gitops.writeback.write_edits` — one transaction, effect-checked, normally one commit —
and writes each request's typed result (its :class:`~gitops.writeback.BumpResult`, or its own
error: same type, message and exit code as a lone bump). The others find their result when they
get the lock and return; requests that arrived meanwhile form the next batch. Requests of
processes that have died are dropped, never applied on their behalf.

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
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from .hostlock import lock_path, writer_lock
from .writeback import BumpResult, PinEdit, now, result_from_json, result_to_json, write_edits

STALE_SECONDS = 3600
WORK_IDLE_SECONDS = 3600   # a kept checkout unused this long is removed by the next batch
DEFAULT_WINDOW = 0.2   # seconds
MAX_WINDOWS = 5        # a batch stays open at most this many windows while bumps keep arriving


def enabled() -> bool:
    return os.environ.get("GANTRY_GITOPS_NO_LOCK") != "1" and os.environ.get("GANTRY_GITOPS_NO_BATCH") != "1"


def window_seconds(catalog_ms: int | None = None) -> float:
    """The batch window: ``$GANTRY_GITOPS_BATCH_WINDOW_MS``, else the catalog's, else 0.2 s."""
    raw = os.environ.get("GANTRY_GITOPS_BATCH_WINDOW_MS")
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


def submit(url: str, branch: str, edit: PinEdit, *, window: float = DEFAULT_WINDOW) -> BumpResult:
    """Queue ``edit`` and return its result once a batch (maybe run by this process) wrote it.

    Raises the edit's own typed :class:`GantryError` when it was refused or its batch failed.
    """
    spool = lock_path(url).with_suffix(".spool")
    spool.mkdir(parents=True, exist_ok=True)
    rid = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
    req, res = spool / f"{rid}.req", spool / f"{rid}.res"
    submitted = now()
    write_atomic(req, json.dumps({"pid": os.getpid(), "branch": branch, "submitted": submitted,
                                  "edit": edit.to_json()}))
    try:
        with writer_lock(url):
            if not res.exists():
                run_batch(url, branch, spool, window=window)
        try:
            data = json.loads(res.read_text())
        except FileNotFoundError:
            raise GantryError("git", f"bump of {edit.service} {edit.environment} was not processed") from None
    finally:
        req.unlink(missing_ok=True)
        res.unlink(missing_ok=True)
    outcome = result_from_json(data)
    if isinstance(outcome, GantryError):
        raise outcome
    outcome.timings["total"] = round(now() - submitted, 3)
    return outcome


def _pending(spool: Path, branch: str) -> list[tuple[Path, float, PinEdit]]:
    out = []
    t = time.time()
    for req in sorted(spool.glob("*.req")):
        if req.with_suffix(".res").exists():
            continue
        try:
            data = json.loads(req.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(int(data.get("pid", 0))) or t - req.stat().st_mtime > STALE_SECONDS:
            req.unlink(missing_ok=True)  # its process is gone: never apply a bump nobody waits for
            continue
        if data.get("branch") == branch:
            out.append((req, float(data.get("submitted", t)), PinEdit.from_json(data["edit"])))
    for res in spool.glob("*.res"):  # results whose owner died before reading them
        if not res.with_suffix(".req").exists() and t - res.stat().st_mtime > 60:
            res.unlink(missing_ok=True)
    return out


def _workdir(url: str) -> Path:
    work = lock_path(url).with_suffix(".work")
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
              deadline: float = 300.0) -> None:
    """Apply all pending requests of ``branch`` (the caller holds the writer lock) and write
    their results.

    The batch closes once no request has arrived for ``window`` seconds (at most
    ``MAX_WINDOWS`` windows after it opened); the checkout is fetched meanwhile.
    """
    from .git import checkout
    if not _pending(spool, branch):
        return
    opened = now()
    work = _workdir(url)
    failed: GantryError | None = None
    try:
        checkout(url, branch, work)
    except GantryError as exc:
        failed = exc
    while True:
        pending = _pending(spool, branch)
        if not pending:
            return
        wait = min(max(s for _, s, _ in pending) + window, opened + MAX_WINDOWS * window) - now()
        if wait <= 0:
            break
        time.sleep(min(wait, window))
    started = now()
    results: list = []
    try:
        results = ([failed] * len(pending) if failed is not None else
                   write_edits(url, branch, [edit for _, _, edit in pending], workdir=work, lock=False,
                               synced=True, deadline=deadline))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)   # a half-done checkout is not reused
        raise
    for (req, submitted, _), result in zip(pending, results):
        if not isinstance(result, GantryError):
            result.timings["queue_wait"] = round(max(0.0, started - submitted), 3)
        write_atomic(req.with_suffix(".res"), json.dumps(result_to_json(result)))
    prune_workdirs(work.parent, work)
    trace = os.environ.get("GANTRY_GITOPS_TRACE")
    if trace:
        with open(trace, "a") as fh:
            fh.write(f"{os.getpid()} batch {len(pending)} in {now() - started:.2f}s "
                     f"(opened {started - opened:.2f}s before)\n")
