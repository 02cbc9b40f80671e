"""Signal dispositions for the children tests signal, and a /proc view of process groups.

Jenkins runs ``sh`` steps under ``nohup`` in the background, where SIGINT is ignored, and an
ignored signal is inherited through fork and exec: a child that should react to a SIGINT the
test sends must set SIGINT back to its default itself (:func:`sigint_default`, a ``preexec_fn``).
:func:`sigint_ignored` makes the opposite explicit: the child starts as under Jenkins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def sigint_default() -> None:
    """``preexec_fn``: SIGINT back to its default, so Python in the child raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_ignored() -> None:
    """``preexec_fn``: SIGINT ignored, as in a Jenkins ``sh`` step (``nohup``, background)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def group_members(pgid: int) -> list[int]:
    """Non-zombie processes whose process group is ``pgid`` (read from /proc, independent of gantry)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            found.append(int(name))
    return found


def left_in_group(pgid: int, settle: float = 0.0) -> dict[int, str]:
    """Processes still in group ``pgid`` (pid -> command line), after waiting up to ``settle``
    seconds for the group to empty (a helper that exits on its own once its parent is gone,
    such as multiprocessing's resource tracker, gets that long)."""
    deadline = time.monotonic() + settle
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    out = {}
    for pid in members:
        try:
            out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass
    return out


def reap(proc: subprocess.Popen) -> None:
    """End ``proc``'s whole group if a failed test left it running (started with a new session)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
