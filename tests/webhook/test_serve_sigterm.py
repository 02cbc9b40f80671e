"""`gantry webhook serve` stopped by SIGTERM (pod eviction, Jenkins abort): uvicorn shuts down
gracefully, the trigger process is stopped, gantry exits 143 with one line and leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline_lib.core.process import free_port
from tests.support.serving import wait_healthy
from tests.support.signals import group_members, left_in_group, reap, sigint_ignored

from .conftest import SECRET

GANTRY = Path(sys.executable).parent / "gantry"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_stops_the_server_and_its_trigger_process(test_catalog_path, jenkins, tmp_path) -> None:
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), JENKINS_URL=jenkins.url,
               JENKINS_USER="hook", JENKINS_API_TOKEN="hook-token", PYTHONPATH=str(PROJECT_ROOT))
    # started as a Jenkins sh step or a container entry point would be: SIGINT ignored, own session
    proc = subprocess.Popen([str(GANTRY), "webhook", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--catalog", str(test_catalog_path), "--db", str(tmp_path / "db.sqlite3")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_ignored, start_new_session=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", proc), proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 10
        while len(group_members(proc.pid)) < 2 and time.monotonic() < deadline:   # server + trigger process
            time.sleep(0.05)
        assert len(group_members(proc.pid)) >= 2
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err
        assert "Application shutdown complete" in err and "Traceback" not in err, err
        assert err.strip().splitlines()[-1] == "gantry: terminated by SIGTERM; its processes were stopped"
        # multiprocessing's resource tracker ends by itself when it sees gantry gone: 2 s for that
        assert left_in_group(proc.pid, settle=2.0) == {}
    finally:
        reap(proc)
