"""The one subprocess runner: time limits kill the whole process group, output is bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError, NotFound, TimeoutExceeded
from pipeline_lib.core.process import (LOOPBACK, group_alive, port_is_free, run, spawn)
from tests.support.signals import group_members, reap, sigint_default


def _pgid_file_cmd(pid_file: Path, body: str) -> list[str]:
    # the shell writes its own pid (= its process group id: it leads a new session) before running
    return ["sh", "-c", f"echo $$ > {pid_file}; {body}"]


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return not group_members(pgid)


def test_timeout_kills_children_of_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(TimeoutExceeded) as info:
        run(_pgid_file_cmd(pid_file, "sleep 100 & sleep 100 & wait"), timeout=0.5)
    assert time.monotonic() - start < 10
    pgid = int(pid_file.read_text())
    assert _gone(pgid), f"still alive in group {pgid}: {group_members(pgid)}"
    assert not group_alive(pgid)
    assert info.value.exit_code == 2 and "did not finish within 0.5s" in info.value.what
    assert "sleep 100" in info.value.what   # names the command


def test_timeout_escalates_to_sigkill_for_children_ignoring_sigterm(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(TimeoutExceeded):
        run(_pgid_file_cmd(pid_file, "trap '' TERM; sleep 100 & trap '' TERM; wait"), timeout=0.5)
    assert _gone(int(pid_file.read_text()))


def test_ctrl_c_kills_the_group(tmp_path: Path) -> None:
    """SIGINT to the parent (as Ctrl-C does) ends the child's whole group before KeyboardInterrupt surfaces."""
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(f"""
        import sys
        from pipeline_lib.core.process import run
        try:
            run(["sh", "-c", "echo $$ > {pid_file}; sleep 100 & sleep 100 & wait"], timeout=60)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    # SIGINT back to default in the child: under Jenkins (nohup, background) it arrives ignored
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.getcwd()), preexec_fn=sigint_default,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pgid = int(pid_file.read_text())
        assert group_members(pgid)
        parent.send_signal(signal.SIGINT)
        out, _ = parent.communicate(timeout=20)
        assert parent.returncode == 130 and out.strip() == "interrupted"
        assert _gone(pgid)
    finally:
        reap(parent)
        if pid_file.exists() and not _gone(pgid := int(pid_file.read_text())):
            os.killpg(pgid, signal.SIGKILL)


def test_leftovers_of_a_finished_command_are_ended(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    done = run(_pgid_file_cmd(pid_file, "sleep 100 & echo started"), timeout=10)
    assert done.returncode == 0 and done.stdout.strip() == "started"
    assert _gone(int(pid_file.read_text()))


def test_output_is_bounded_and_keeps_the_tail() -> None:
    done = run([sys.executable, "-c", "import sys; sys.stdout.write('x' * 300000 + 'END')"],
               timeout=30, max_output=1000)
    assert done.truncated and len(done.stdout) == 1000 and done.stdout.endswith("END")


def test_input_exit_code_and_check() -> None:
    assert run(["cat"], timeout=10, input="hello").stdout == "hello"
    done = run(["sh", "-c", "echo oops >&2; exit 3"], timeout=10)
    assert done.returncode == 3 and done.last_line() == "oops"
    with pytest.raises(GantryError, match=r"^sh: `sh -c .*` exited 3: oops$"):
        run(["sh", "-c", "echo oops >&2; exit 3"], timeout=10, check=True)


def test_missing_program_is_not_found() -> None:
    with pytest.raises(NotFound, match="no-such-gantry-tool not found on PATH"):
        run(["no-such-gantry-tool"], timeout=5)


def test_secrets_are_masked_in_the_timeout_message() -> None:
    with pytest.raises(TimeoutExceeded) as info:
        run(["sh", "-c", "sleep 100", "sh", "--token=s3cr3t"], timeout=0.2, secrets=("s3cr3t",))
    assert "s3cr3t" not in str(info.value) and "***" in str(info.value)


def test_output_file_gets_both_streams(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    done = run(["sh", "-c", "echo one; echo two >&2"], timeout=10, output_file=log)
    assert done.returncode == 0 and done.stdout == ""
    assert sorted(log.read_text().split()) == ["one", "two"]


def test_spawned_server_stop_ends_its_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    child = spawn("sleeper", _pgid_file_cmd(pid_file, "sleep 100 & sleep 100"), tmp_path / "log")
    child.wait_ready(lambda: pid_file.exists() and bool(pid_file.read_text().strip()), timeout=10)
    pgid = int(pid_file.read_text())
    assert group_members(pgid)
    child.stop(grace=2)
    assert _gone(pgid)


def test_port_probe_is_not_fooled_by_time_wait() -> None:
    """A server that closed its side first leaves TIME_WAIT on its port; the port is still free."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((LOOPBACK, 0))
    server.listen()
    port = server.getsockname()[1]
    assert not port_is_free(port)          # a listener is in use
    client = socket.create_connection((LOOPBACK, port))
    conn, _ = server.accept()
    conn.close()                           # the server's side closes first -> TIME_WAIT on `port`
    time.sleep(0.05)
    client.close()
    server.close()
    time.sleep(0.05)
    states = Path("/proc/net/tcp").read_text()
    assert f":{port:04X} " in states and " 06 " in states    # a TIME_WAIT (state 06) socket exists
    # a plain bind (no SO_REUSEADDR) is refused: this is what used to be taken for "in use"
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind((LOOPBACK, port))
    assert port_is_free(port)
