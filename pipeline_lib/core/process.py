"""The one way gantry runs an external program (git, terraform, trivy, checkov, buildctl, pytest…).

- :func:`run` runs a command to completion. A time limit is always given (seconds). The child
  starts in its own session (``start_new_session``), so its process group is the child plus
  everything it starts; on timeout, Ctrl-C or any other exception the whole group gets SIGTERM,
  ``KILL_GRACE`` seconds, then SIGKILL, and is reaped. Leftovers of a command that exited (a
  background child still holding its pipes) are ended the same way. Output is captured with
  bounded memory: the last ``max_output`` bytes of each stream are kept (``truncated`` says when
  more was dropped); pass ``output_file=`` to stream stdout+stderr to a file instead.
- :func:`spawn` starts a long-running local server (registry, moto, podman) as a
  :class:`ManagedProcess` whose ``stop()`` ends its whole group.
- SIGTERM (a Jenkins abort, a pod eviction) is handled like Ctrl-C once :func:`terminate_on_sigterm`
  is active (the ``gantry`` CLI does it): the handler ends the group of every running :func:`run`
  child at once, in any thread, refuses new children from then on, and raises :class:`Terminated`
  (a ``KeyboardInterrupt``), so ``finally`` blocks stop servers as on Ctrl-C; the CLI exits 143.
  An inherited *ignored* SIGTERM or SIGINT stays ignored (``nohup``, Jenkins' ``sh`` steps).
- Port helpers (:func:`free_port`, :func:`port_is_free`, :func:`ensure_port_free`) bind with
  ``SO_REUSEADDR`` as the servers themselves do, so TIME_WAIT sockets of a previous run do not
  look like a listener (Linux ``socket(7)``: a bind with SO_REUSEADDR fails only on an active
  listener).

Errors: :class:`~pipeline_lib.core.errors.NotFound` (program missing),
:class:`~pipeline_lib.core.errors.TimeoutExceeded` (naming the command, secrets masked),
``GantryError`` (cannot start; non-zero exit with ``check=True``). Environment values never
appear in messages.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)

if TYPE_CHECKING:
    import socket

from .errors import Conflict, GantryError, NotFound, TimeoutExceeded

LOOPBACK = "127.0.0.1"
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024   # bytes kept per stream
TAIL_OUTPUT = 64 * 1024                 # bytes kept when only the error tail matters
KILL_GRACE = 2.0                        # seconds between SIGTERM and SIGKILL
KILL_SETTLE = 2.0                       # at most this long for SIGKILLed members to be gone
_CHUNK = 65536


def _mask(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def describe(argv: Sequence[str], secrets: Sequence[str] = (), limit: int = 200) -> str:
    """``argv`` as a shell-quoted line with ``secrets`` masked, cut to ``limit`` characters."""
    import shlex
    line = _mask(shlex.join([os.path.basename(argv[0]), *argv[1:]]), secrets)
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class Completed:
    """A finished command: exit code, captured text (tails, see ``truncated``), seconds taken."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_line(self, secrets: Sequence[str] = (), limit: int = 300) -> str:
        """The most telling output line (last FATAL/ERROR line of stderr, else its last line;
        stdout when stderr is empty), ``secrets`` masked; ``""`` when there is none."""
        lines = [ln.strip() for ln in (self.stderr or self.stdout).splitlines() if ln.strip()]
        pick = next((ln for ln in reversed(lines) if "FATAL" in ln or "ERROR" in ln), lines[-1] if lines else "")
        return _mask(pick, secrets)[-limit:]


class _Tail:
    """The last ``cap`` bytes read from one pipe."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.dropped = False

    def drain(self, stream) -> None:  # type: ignore[no-untyped-def]
        """Read ``stream`` (a pipe) to its end, then close it. The thread holds the only use of
        its descriptor, so a reader still blocked after a timeout never sees a reused number."""
        try:
            fd = stream.fileno()
            while chunk := os.read(fd, _CHUNK):
                self.buf += chunk
                if len(self.buf) > self.cap:
                    del self.buf[: len(self.buf) - self.cap]
                    self.dropped = True
        except (OSError, ValueError):
            pass
        finally:
            try:
                stream.close()
            except OSError:
                pass

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of group ``pgid``, from /proc; [] when there are none."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(name))
    return members


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` still runs (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's group
        return True
    return bool(_group_members(pgid))


def kill_group(proc: subprocess.Popen, grace: float = KILL_GRACE) -> None:
    """SIGTERM the process group led by ``proc``, SIGKILL what is left after ``grace`` seconds,
    wait (at most ``KILL_SETTLE`` s) until the kernel has ended every member — SIGKILL is
    delivered asynchronously, so a loaded machine can still show one running just after — and
    reap ``proc``. Safe to call when the group is already gone."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        if not group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        settle = time.monotonic() + KILL_SETTLE
        while time.monotonic() < settle:
            proc.poll()
            if not group_alive(pgid):
                break
            time.sleep(0.01)
    proc.wait()


_LIVE: set[subprocess.Popen] = set()
_SERVERS: set[ManagedProcess] = set()
# Re-entrant: the SIGTERM handler runs in the main thread, possibly while it holds the lock.
_LIVE_LOCK = threading.RLock()
_STOPPING = threading.Event()   # set by SIGTERM: no new child is started after it


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (Jenkins abort, pod eviction): unwinds like Ctrl-C; the CLI exits 143."""


def kill_running(grace: float = KILL_GRACE) -> None:
    """Kill the process group of every :func:`run` child still running, in any thread.

    For an interrupt in the main thread while worker threads wait on children (e.g. three
    ``terraform plan`` runs in parallel): their own ``wait`` is not interrupted. Every group gets
    SIGTERM first, then the survivors SIGKILL after ``grace`` seconds (one wait for all)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(group_alive(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    for proc in procs:
        kill_group(proc, grace=0)


def stop_servers() -> None:
    """``stop()`` every :func:`spawn`/:class:`ManagedProcess` server still running (a last resort
    after an interrupt: ``with`` blocks and ``finally`` normally stop them first)."""
    with _LIVE_LOCK:
        servers = list(_SERVERS)
    for server in servers:
        server.stop(grace=KILL_GRACE)


_STARTING = threading.local()   # .now: this thread is between fork and registering the child


def _on_sigterm(signum: int, frame: object) -> None:
    if _STOPPING.is_set():
        return   # a second SIGTERM must not break the cleanup the first one started
    if getattr(_STARTING, "now", False):
        _STARTING.deferred = True   # raised inside Popen, the forked child would be left behind
        return
    _terminate()


def _terminate() -> None:
    _STOPPING.set()
    kill_running()
    raise Terminated()


@contextmanager
def _starting() -> Iterator[None]:
    """Around ``Popen`` + registration (under ``_LIVE_LOCK``): a SIGTERM arriving meanwhile is
    acted on right after, once the new child is registered and so gets killed too."""
    if _STOPPING.is_set():
        raise Terminated()
    _STARTING.now = True
    try:
        yield
    finally:
        _STARTING.now = False


def _deferred_sigterm() -> None:
    if getattr(_STARTING, "deferred", False):
        _STARTING.deferred = False
        _terminate()


def stopping() -> bool:
    """True once SIGTERM arrived (see :func:`terminate_on_sigterm`)."""
    return _STOPPING.is_set()


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM kills every :func:`run` child's group and raises
    :class:`Terminated` in the main thread; the previous handler is restored on exit.

    Nothing is installed outside the main thread or when SIGTERM is ignored (inherited SIG_IGN
    is a choice of whoever started us, as Python itself does for SIGINT)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv: Sequence[str], *, timeout: float, cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None, input: str | bytes | None = None,
        output_file: Path | None = None, check: bool = False, what: str | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT, secrets: Sequence[str] = ()) -> Completed:
    """Run ``argv`` (no shell) for at most ``timeout`` seconds; see the module docstring.

    ``env`` replaces the environment when given. ``what`` is the ``where`` of errors (default:
    the program's name). Raises NotFound, TimeoutExceeded, or GantryError (cannot start, or a
    non-zero exit when ``check``).
    """
    argv = [str(a) for a in argv]
    where = what or os.path.basename(argv[0])
    if timeout is None or timeout <= 0:
        raise ValueError("run() needs a positive timeout")
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    log = open(output_file, "ab") if output_file is not None else None  # noqa: SIM115
    start = time.monotonic()
    try:
        with _LIVE_LOCK, _starting():   # SIGTERM's kill_running sees every child started before it
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env is not None else None, stdin=stdin,
                                    stdout=log if log else subprocess.PIPE,
                                    stderr=subprocess.STDOUT if log else subprocess.PIPE,
                                    start_new_session=True)
            _LIVE.add(proc)
    except FileNotFoundError:
        raise NotFound(where, f"{os.path.basename(argv[0])} not found on PATH") from None
    except OSError as exc:
        raise GantryError(where, f"cannot run {os.path.basename(argv[0])}: {exc.strerror}") from None
    finally:
        if log is not None:
            log.close()
    out, err = _Tail(max_output), _Tail(max_output)
    threads: list[threading.Thread] = []
    try:
        _deferred_sigterm()
        for stream, tail in ((proc.stdout, out), (proc.stderr, err)):
            if stream is not None:
                threads.append(_start(tail.drain, stream))
        if input is not None and proc.stdin is not None:
            data = input.encode() if isinstance(input, str) else input
            threads.append(_start(_feed, proc.stdin, data))
        wait_exit(proc, timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        _join(threads, proc)
        raise TimeoutExceeded(where, f"`{describe(argv, secrets)}` did not finish within {timeout:g}s; "
                                     f"its process group was killed") from None
    except BaseException:   # KeyboardInterrupt, SystemExit: leave nothing behind
        kill_group(proc)
        _join(threads, proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    if group_alive(proc.pid):
        kill_group(proc, grace=0.2)
    _join(threads, proc)
    done = Completed(tuple(argv), proc.returncode, out.text(), err.text(), time.monotonic() - start,
                     out.dropped or err.dropped)
    if check and done.returncode != 0:
        raise GantryError(where, f"`{describe(argv, secrets)}` exited {done.returncode}: {done.last_line(secrets) or 'no output'}")
    return done


def wait_exit(proc: subprocess.Popen, timeout: float) -> int:
    """``proc.wait(timeout)``, woken by the child's exit itself (a Linux pidfd) where
    ``Popen.wait`` polls with sleeps of up to 50 ms: every tool run would end up to 50 ms late.

    Raises ``subprocess.TimeoutExpired`` like ``Popen.wait``; elsewhere falls back to it.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):   # not Linux >= 5.3, or the child is already reaped
        return proc.wait(timeout)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def _start(target: Callable[..., None], *args: object) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def _feed(pipe, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _join(threads: list[threading.Thread], proc: subprocess.Popen) -> None:
    for t in threads:
        t.join(5.0)   # a grandchild that left the group may still hold a pipe: do not hang on it
    if any(t.is_alive() for t in threads):
        # the readers close their pipes when they end; keep Popen from closing them under them
        proc.stdout = proc.stderr = None


# --- long-running local servers -------------------------------------------------------------

def require_tool(name: str, package: str) -> str:
    """Path of executable ``name``, or NotFound naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise NotFound(name, f"not found on PATH; install the Debian package {package!r} "
                             f"(apt-get install {package}) or run 'make deps'")
    return path


def _probe_socket() -> socket.socket:
    import socket   # loaded by what uses ports, not by every CLI run (main() imports this module)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the OS picks it)."""
    with _probe_socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could bind ``host:port`` now. Binds with SO_REUSEADDR, as servers do,
    so TIME_WAIT sockets left by an earlier run do not count as in use; a listener does."""
    with _probe_socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def ensure_port_free(port: int, what: str, wait: float = 0.0) -> None:
    """Raise Conflict (one line) when something listens on ``port`` of 127.0.0.1 for ``wait``
    seconds (a previous run's server may still be shutting down: it gets that long to go)."""
    deadline = time.monotonic() + wait
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            raise Conflict(what, f"port {port} on {LOOPBACK} is already in use; "
                                 f"choose another port or stop what is listening there")
        time.sleep(0.1)


class ManagedProcess:
    """One long-running child with its log file; ``stop()`` ends its whole process group."""

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
            with _LIVE_LOCK, _starting():
                self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=self.env,
                                             start_new_session=True)
                _SERVERS.add(self)
        except FileNotFoundError:
            raise NotFound(self.name, f"{self.argv[0]} not found on PATH") from None
        except OSError as exc:
            raise GantryError(self.name, f"cannot start {self.argv[0]}: {exc.strerror}") from None
        finally:
            log.close()
        _deferred_sigterm()   # the caller's clean-up (or the CLI's stop_servers) then stops it

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
        raise TimeoutExceeded(self.name, f"not ready after {timeout:.0f}s (log: {self.log_path})")

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no output"

    def stop(self, grace: float = 10.0) -> None:
        """End the whole group (SIGTERM, ``grace`` seconds, SIGKILL) and reap the child."""
        with _LIVE_LOCK:
            proc, self.proc = self.proc, None
            _SERVERS.discard(self)
        if proc is None:
            return
        kill_group(proc, grace=grace)


def spawn(name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    """Start ``argv`` in its own process group, output appended to ``log_path``."""
    child = ManagedProcess(name, argv, log_path, env)
    child.start()
    return child
