"""core.process.wait_exit: Popen.wait(timeout) semantics, woken by the child's exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipeline_lib.core.errors import TimeoutExceeded
from pipeline_lib.core.process import run, wait_exit


def test_returns_the_exit_code() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert wait_exit(proc, 30) == 3 and proc.returncode == 3


def test_times_out_like_popen_wait() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            wait_exit(proc, 0.2)
        assert 0.2 <= time.monotonic() - start < 5
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_an_already_reaped_child_is_no_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert wait_exit(proc, 5) == 0


def test_run_still_reports_a_timeout_and_the_exit_code() -> None:
    assert run(["sh", "-c", "exit 4"], timeout=30).returncode == 4
    with pytest.raises(TimeoutExceeded, match="did not finish within 0.3s"):
        run(["sleep", "30"], timeout=0.3)
