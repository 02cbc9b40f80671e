"""The subprocess edge: run a scanner CLI with a timeout and keep only the tail of its output."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TAIL = 2000


@dataclass
class ToolRun:
    returncode: int | None      # None: timed out (the process group was killed)
    stderr_tail: str
    stdout_tail: str
    duration: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_error_line(self, secrets: tuple[str, ...] = ()) -> str:
        """The most telling stderr line (FATAL/ERROR first), with any secret values masked."""
        lines = [ln.strip() for ln in (self.stderr_tail or self.stdout_tail).splitlines() if ln.strip()]
        pick = next((ln for ln in reversed(lines) if "FATAL" in ln or "ERROR" in ln), lines[-1] if lines else "")
        for s in secrets:
            if s:
                pick = pick.replace(s, "***")
        return pick[-300:]


def run_tool(cmd: list[str], *, timeout: float, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> ToolRun:
    """Run ``cmd`` in its own process group; on timeout kill the whole group."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        rc = None
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    return ToolRun(rc, (err or "")[-TAIL:], (out or "")[-TAIL:], time.monotonic() - start)
