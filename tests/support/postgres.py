"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, a temporary data
directory, 127.0.0.1 on a free port, the unix socket inside the temporary directory.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user
(``runuser``) in a directory that user owns. fsync is off: the data is thrown away.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` with ``pg_ctl`` and ``initdb``."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")
             if os.access(Path(p) / "pg_ctl", os.X_OK) and os.access(Path(p) / "initdb", os.X_OK)]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """``with LocalPostgres() as pg: pg.url`` (superuser ``postgres``, trust auth on loopback)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = _free_port()
        self.tmp: Path | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.tmp)

    def start(self) -> "LocalPostgres":
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; `make deps` does it)")
        self.tmp = Path(tempfile.mkdtemp(prefix="gantry-pg-"))
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        data = self.tmp / "data"
        init = self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                         "-E", "UTF8", "--no-sync", "--no-instructions")
        if init.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB")
        started = self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.tmp / "server.log"),
                            "-o", options, "-w", "-t", "60", "start", timeout=90)
        if started.returncode != 0:
            log = (self.tmp / "server.log").read_text(errors="replace") if (self.tmp / "server.log").exists() else ""
            self.stop()
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.tmp is None:
            return
        data = self.tmp / "data"
        if (data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
