"""The host-wide writer lock of a GitOps repository (``flock`` on a file named by the URL).

Kept apart from :mod:`gitops.git` so a bump that only queues (:mod:`gitops.batch`) starts
without loading the git, retry and render machinery it leaves to the batch's leader.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path


def lock_path(url: str) -> Path:
    """The host-wide lock file for writers of ``url`` (``$GANTRY_LOCK_DIR`` or the temp dir)."""
    lock_dir = Path(os.environ.get("GANTRY_LOCK_DIR") or tempfile.gettempdir()) / "gantry-gitops-locks"
    return lock_dir / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".lock")


@contextlib.contextmanager
def writer_lock(url: str):
    """Queue the gantry writers of ``url`` on this host (``flock``), so they do not race each other.

    Writers on other hosts still race; fetch-rebase-retry handles them. Without this, N local
    writers waste O(N^2) rejected pushes. Disabled by ``GANTRY_GITOPS_NO_LOCK=1``.
    """
    if os.environ.get("GANTRY_GITOPS_NO_LOCK") == "1":
        yield True
        return
    path = lock_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
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
