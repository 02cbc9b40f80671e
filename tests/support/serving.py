"""Waiting for a server a test started (``gantry webhook serve`` and the like)."""

from __future__ import annotations

import subprocess
import time
import urllib.request


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    """Poll ``url`` until it answers 200; False when ``proc`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False
