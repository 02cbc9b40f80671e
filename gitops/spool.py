"""Where the GitOps writers of one host meet: a repository's lock file and its spool of requests.

Layout, under ``<lock_dir>/gantry-gitops-locks/`` (``lock_dir``: ``$GANTRY_LOCK_DIR``, else the
temporary directory), for a repository URL hashed to ``H`` (sha256, 24 hex digits):

- ``H.lock``: the host-wide writer lock (``flock``, exclusive; :func:`locked`);
- ``H.spool/<id>.req``: a waiting writer's request, JSON ``{"pid", "submitted", ...}``;
  ``<id>.res``: its answer, written by whoever ran the batch (:mod:`gitops.batch`).

Standard library only (and :mod:`pipeline_lib.core.errors`), on purpose: a ``gantry gitops bump`` that queues raw and waits
(:mod:`pipeline_lib.commands.bumpqueue`) imports this module and little else, so 50 of them
started at once on 2 cores spend their CPU on the batch, not on start-up (issue 21). Spool files
live for seconds and are rewritten on every retry: they are written temp-then-rename (a reader
never sees half of one) without ``fsync``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline_lib.core.errors import GantryError

LOCKS = "gantry-gitops-locks"


def lock_file(url: str, lock_dir: str | None = None) -> str:
    """The lock file of ``url`` (created by :func:`locked`), under ``lock_dir`` or the temp dir."""
    if not lock_dir:
        import tempfile   # only without $GANTRY_LOCK_DIR: tempfile loads random and shutil
        lock_dir = tempfile.gettempdir()
    return os.path.join(lock_dir, LOCKS, hashlib.sha256(url.encode()).hexdigest()[:24] + ".lock")


def spool_dir(url: str, lock_dir: str | None = None) -> str:
    """The spool directory of ``url`` (beside its lock file)."""
    return lock_file(url, lock_dir)[: -len(".lock")] + ".spool"


@contextmanager
def locked(path: str) -> Iterator[bool]:
    """Hold the exclusive ``flock`` on ``path`` (created, with its directory); yields whether
    another holder had to be waited for."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as fh:
        waited = False
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield waited
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_request(spool: str) -> tuple[str, str]:
    """``(request, answer)`` paths of a new request in ``spool`` (created): ids sort by time."""
    os.makedirs(spool, exist_ok=True)
    rid = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
    return os.path.join(spool, rid + ".req"), os.path.join(spool, rid + ".res")


def put(path: str, data: dict) -> None:
    """Write ``data`` as JSON to ``path``: a temp file beside it (not matched by ``*.req`` or
    ``*.res``), then renamed over it."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(3).hex()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def submit(url: str, lock_dir: str | None, entry: dict, lead: Callable[[str], None], what: str) -> dict:
    """Queue a request for ``url``'s writers and return its answer (parsed JSON).

    Writes ``{"pid", "submitted", **entry}`` to the spool, then waits for the writer lock; the
    holder that finds no answer yet is the leader: ``lead(spool)`` runs the batches (and answers
    this request with the others). An answer's ``result`` gets ``timings.total``: seconds since
    the request was queued. The request and its answer are removed before returning, also on an
    error or a signal. Raises :class:`GantryError` (``git: <what> was not processed``) when
    nobody answered it.
    """
    submitted = time.time()
    spool = spool_dir(url, lock_dir)
    req, res = new_request(spool)
    put(req, {"pid": os.getpid(), "submitted": submitted, **entry})
    try:
        with locked(lock_file(url, lock_dir)):
            if not os.path.exists(res):
                lead(spool)
        try:
            with open(res, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise GantryError("git", f"{what} was not processed") from None
    finally:
        for path in (req, res):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    if "result" in data:
        data["result"].setdefault("timings", {})["total"] = round(time.time() - submitted, 3)
    return data
