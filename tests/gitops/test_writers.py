"""How the GitOps writers of one host coordinate (:class:`gitops.hostlock.Writers`), from the
settings the CLI read: the lock directory, the lock and batch switches, the batch window, the
commit log and the trace file (issue 22 item 2: no module below the CLI reads the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import batch, writeback
from gitops.hostlock import Writers, lock_path, writer_lock
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings


def test_writers_come_from_the_settings_table() -> None:
    env = {"GANTRY_LOCK_DIR": "/l", "GANTRY_GITOPS_NO_LOCK": "1", "GANTRY_GITOPS_NO_BATCH": "1",
           "GANTRY_GITOPS_TRACE": "/t", "GANTRY_GITOPS_BATCH_WINDOW_MS": "750", "GANTRY_GITOPS_LOG": "/g.log"}
    assert Writers.from_settings(Settings.from_env(env)) == Writers("/l", False, False, "/t", "750", "/g.log")
    assert Writers.from_settings(Settings.from_env({})) == Writers()   # nothing set: locked, batched, no trace


def test_the_window_is_the_variable_else_the_catalogs_else_200_ms() -> None:
    assert batch.window_seconds(500, "750") == 0.75            # the variable overrides the catalog
    assert batch.window_seconds(500, None) == 0.5
    assert batch.window_seconds(None, None) == batch.DEFAULT_WINDOW == 0.2
    with pytest.raises(GantryError) as err:
        batch.window_seconds(500, "soon")
    assert (err.value.where, err.value.what) == ("GANTRY_GITOPS_BATCH_WINDOW_MS", "expected milliseconds, got 'soon'")


def test_lock_and_log_go_where_the_writers_say(tmp_path: Path) -> None:
    writers = Writers(lock_dir=str(tmp_path / "locks"))
    url = "file:///srv/gitops.git"
    with writer_lock(url, writers) as waited:
        assert waited is False
        assert lock_path(url, writers.lock_dir).is_file()
        assert lock_path(url, writers.lock_dir).parent == tmp_path / "locks" / "gantry-gitops-locks"
    assert writeback._log_path(url, writers) == lock_path(url, writers.lock_dir).with_suffix(".log")
    assert writeback._log_path(url, Writers(log=str(tmp_path / "c.log"))) == tmp_path / "c.log"
    off = Writers(lock_dir=str(tmp_path / "off"), lock=False)
    with writer_lock(url, off) as waited:
        assert waited is True                       # no lock: the checkout may be stale
    assert not (tmp_path / "off").exists()
    assert not batch.enabled(off) and not batch.enabled(Writers(batch=False)) and batch.enabled(Writers())
