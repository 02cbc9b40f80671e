"""moto's AWS server (``moto.server``) on 127.0.0.1: the AWS control plane for tests and demo."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from pipeline_lib.core.process import ManagedProcess, ensure_port_free, free_port
from pipeline_lib.core.settings import child_env


@dataclass
class MotoServer:
    """Run ``python -m moto.server`` in a child process; ``url`` is the boto3 ``endpoint_url``."""

    workdir: Path
    port: int = 0
    # moto settings, e.g. {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"} (AWS-managed IAM policies exist)
    settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> MotoServer:
        if self.port:
            ensure_port_free(self.port, "moto")
        else:
            self.port = free_port()
        self._process = ManagedProcess(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self.workdir / "moto.log", env=child_env(**self.settings) if self.settings else None)
        self._process.start()
        self._process.wait_ready(
            lambda: requests.get(f"{self.url}/moto-api/", timeout=1).status_code < 500, timeout)
        return self

    def reset(self) -> None:
        """Forget all AWS state (moto's documented reset endpoint)."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
