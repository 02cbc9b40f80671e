"""The host-wide writer lock of a GitOps repository (``flock`` on a file named by the URL), and
:class:`Writers`, how the GitOps writers of one host coordinate.

Kept apart from :mod:`gitops.git` so a bump that only queues (:mod:`gitops.batch`) starts
without loading the git, retry and render machinery it leaves to the batch's leader.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .spool import lock_file, locked

if TYPE_CHECKING:
    from pipeline_lib.core.settingsmodel import Settings


@dataclass(frozen=True)
class Writers:
    """How the GitOps writers of one host coordinate: ``lock_dir`` of the host-wide locks (None:
    the temp dir; ``GANTRY_LOCK_DIR``), ``lock`` (``GANTRY_GITOPS_NO_LOCK=1``: False), ``batch``
    concurrent bumps into one push (``GANTRY_GITOPS_NO_BATCH=1``: False), ``trace`` file of batch
    timings (``GANTRY_GITOPS_TRACE``), ``window_ms`` the batch window in milliseconds as given
    (``GANTRY_GITOPS_BATCH_WINDOW_MS``; None: the catalog's, else 200), ``log`` the file a batch
    logs one line per commit to (``GANTRY_GITOPS_LOG``; None: beside the lock, ``.log``)."""

    lock_dir: str | None = None
    lock: bool = True
    batch: bool = True
    trace: str | None = None
    window_ms: str | None = None
    log: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Writers:
        return cls(settings.lock_dir, settings.gitops_no_lock != "1", settings.gitops_no_batch != "1",
                   settings.gitops_trace, settings.gitops_batch_window_ms, settings.gitops_log)


def lock_path(url: str, lock_dir: str | None = None) -> Path:
    """The host-wide lock file for writers of ``url`` (under ``lock_dir``, default the temp dir;
    :func:`gitops.spool.lock_file`)."""
    return Path(lock_file(url, lock_dir))


@contextlib.contextmanager
def writer_lock(url: str, writers: Writers | None = None):
    """Queue the gantry writers of ``url`` on this host (``flock``), so they do not race each other.

    Writers on other hosts still race; fetch-rebase-retry handles them. Without this, N local
    writers waste O(N^2) rejected pushes. Disabled by ``writers.lock`` False (``GANTRY_GITOPS_NO_LOCK=1``).
    """
    writers = writers or Writers()
    if not writers.lock:
        yield True
        return
    with locked(lock_file(url, writers.lock_dir)) as waited:
        yield waited
