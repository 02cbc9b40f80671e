"""A child process bound to a loopback port: start, wait until ready, stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline_lib.core.errors import GantryError

LOOPBACK = "127.0.0.1"


def require_tool(name: str, package: str) -> str:
    """Path of executable ``name``, or a one-line error naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise GantryError(name, f"not found on PATH; install the Debian package {package!r} "
                                f"(apt-get install {package}) or run 'make deps'")
    return path


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def ensure_port_free(port: int, what: str) -> None:
    """Fail with a clear line when ``port`` on 127.0.0.1 is already taken.

    ``SO_REUSEADDR`` as the servers set it (Go's listeners do): connections of a stopped server
    left in TIME_WAIT do not keep a restart on the same port from binding; a listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise GantryError(what, f"port {port} on {LOOPBACK} is already in use; "
                                    f"choose another port or stop what is listening there") from None


class ManagedProcess:
    """One child process with its log file; ``stop()`` terminates its whole process group."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        except OSError as exc:
            raise GantryError(self.name, f"cannot start {self.argv[0]}: {exc.strerror}") from None
        finally:
            log.close()

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``ready()`` until true; fail with the log's last line if the child dies or times out."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise GantryError(self.name, f"exited with code {self.proc.returncode} while starting: "
                                             f"{self.last_log_line()} (log: {self.log_path})")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        self.stop()
        raise GantryError(self.name, f"not ready after {timeout:.0f}s (log: {self.log_path})")

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no output"

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
