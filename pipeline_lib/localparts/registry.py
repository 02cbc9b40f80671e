"""A real OCI registry (Debian ``docker-registry``, distribution 2.8) on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from pipeline_lib.core.process import LOOPBACK, ManagedProcess, ensure_port_free, free_port, require_tool

PORT_WAIT = 5.0   # seconds a fixed port may stay busy before start() gives up

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


@dataclass
class LocalRegistry:
    """``docker-registry serve`` with its storage under ``workdir``; storage survives restarts."""

    workdir: Path
    port: int = 0
    name: str = "registry"

    def __post_init__(self) -> None:
        self._process: ManagedProcess | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.workdir / "data"

    def start(self, timeout: float = 30.0, port_wait: float = PORT_WAIT) -> LocalRegistry:
        """Serve on ``port`` (0: any free one). A fixed port still held by a listener (say, the
        previous demo's registry shutting down) gets ``port_wait`` seconds to free up, then
        Conflict. TIME_WAIT sockets do not count as in use."""
        binary = require_tool("docker-registry", "docker-registry")
        if self.port:
            ensure_port_free(self.port, self.name, wait=port_wait)
        else:
            self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(_CONFIG.format(root=self.storage, host=LOOPBACK, port=self.port))
        self._process = ManagedProcess(self.name, [binary, "serve", str(config)],
                                       self.workdir / "registry.log")
        self._process.start()
        self._process.wait_ready(self._ready, timeout)
        return self

    def _ready(self) -> bool:
        return requests.get(f"{self.url}/v2/", timeout=1).status_code == 200

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
