"""Group commit for concurrent bumps of one GitOps repository from one host.

Each ``gantry gitops bump`` process writes its request (a :class:`~gitops.bump.BumpSpec`) to
a spool directory and queues on the host's writer lock for the repository. The process that
gets the lock applies every pending request on the remote tip, one commit per request (its own
message), pushes once (fetch-rebase-retry if a writer on another host got in first), and writes
each request's result. The others find their result when they get the lock and return.
Requests of processes that have died are dropped, never applied on their behalf.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.retry import retrying

from .bump import BumpResult, BumpSpec
from .git import PushRejected, Writers, _head, checkout, git, lock_path, push, sync, writer_lock

STALE_SECONDS = 3600


def enabled(writers: Writers | None = None) -> bool:
    writers = writers or Writers()
    return writers.lock and writers.batch


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def submit(url: str, branch: str, spec: BumpSpec, writers: Writers | None = None) -> BumpResult:
    writers = writers or Writers()
    spool = lock_path(url, writers.lock_dir).with_suffix(".spool")
    spool.mkdir(parents=True, exist_ok=True)
    rid = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    req, res = spool / f"{rid}.req", spool / f"{rid}.res"
    write_atomic(req, json.dumps({"pid": os.getpid(), "branch": branch, "spec": spec.to_json()}))
    try:
        with writer_lock(url, writers):
            if not res.exists():
                run_batch(url, branch, spool, trace=writers.trace)
        try:
            data = json.loads(res.read_text())
        except FileNotFoundError:
            raise GantryError("git", f"bump of {spec.service} {spec.environment} was not processed") from None
    finally:
        req.unlink(missing_ok=True)
        res.unlink(missing_ok=True)
    if "error" in data:
        e = data["error"]
        raise GantryError(e["where"], e["what"], exit_code=e.get("exit_code", 2))
    spec.rel = data["manifest"]
    from .manifest import ImagePin
    spec.old = ImagePin(data.get("old_name"), data.get("old_tag"), data.get("old_digest"))
    spec.warnings = list(data.get("warnings", []))
    spec.image = data.get("image", spec.image)
    return spec.result(data.get("commit"), data.get("attempts", 1), branch)


def _pending(spool: Path, branch: str) -> list[tuple[Path, BumpSpec]]:
    out = []
    now = time.time()
    for req in sorted(spool.glob("*.req")):
        if req.with_suffix(".res").exists():
            continue
        try:
            data = json.loads(req.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(int(data.get("pid", 0))) or now - req.stat().st_mtime > STALE_SECONDS:
            req.unlink(missing_ok=True)  # its process is gone: never apply a bump nobody waits for
            continue
        if data.get("branch") == branch:
            out.append((req, BumpSpec(**data["spec"])))
    for res in spool.glob("*.res"):  # results whose owner died before reading them
        if not res.with_suffix(".req").exists() and now - res.stat().st_mtime > 60:
            res.unlink(missing_ok=True)
    return out


def run_batch(url: str, branch: str, spool: Path, deadline: float = 300.0, trace: str | None = None) -> None:
    """Apply all pending requests (caller holds the writer lock) and write their results."""
    pending = _pending(spool, branch)
    if not pending:
        return
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-batch-"))
    results: dict[Path, dict] = {}
    done = False  # results are written only once they are true (pushed, unchanged, or an error)
    try:
        wd = checkout(url, branch, tmp / "repo")
        attempt = 0
        try:
            for trial in retrying(PushRejected, deadline=deadline):
                with trial:
                    attempt += 1
                    if attempt > 1:
                        sync(wd, branch, full=False)
                    results = {}
                    committed = False
                    for req, spec in pending:
                        try:
                            outcome = spec.apply(wd)
                        except GantryError as exc:
                            git(wd, "checkout", "-q", "--", ".")
                            results[req] = {"error": {"where": exc.where, "what": exc.what,
                                                      "exit_code": exc.exit_code}}
                            continue
                        commit = None
                        if outcome is not None:
                            message, paths, _ = outcome
                            git(wd, "commit", "-q", "--no-verify", "-F", "-", "--", *paths, input=message)
                            commit = _head(wd, branch)
                            committed = True
                        results[req] = {"commit": commit, "manifest": spec.rel, "old_name": spec.old.name,
                                        "old_tag": spec.old.tag, "old_digest": spec.old.digest,
                                        "attempts": attempt, "batch": len(pending),
                                        "warnings": spec.warnings, "image": spec.image}
                    if committed:
                        push(wd, url, branch)
                    done = True
        except PushRejected:
            raise GantryError("git", f"push to {url} still rejected after {attempt} attempts") from None
    except GantryError as exc:
        results = {req: {"error": {"where": exc.where, "what": exc.what, "exit_code": exc.exit_code}}
                   for req, _ in pending}
        done = True
    finally:
        for req, data in (results.items() if done else ()):
            write_atomic(req.with_suffix(".res"), json.dumps(data))
        shutil.rmtree(tmp, ignore_errors=True)
        if trace:
            with open(trace, "a") as fh:
                fh.write(f"{os.getpid()} batch {len(pending)} in {time.monotonic() - t0:.2f}s\n")

