"""podman's Docker-compatible API service (``podman system service``) with vfs storage.

Containers cannot run on these machines, but image build (no ``RUN`` steps), tag and push
work through the Docker API. Storage, run root and registries.conf live under ``workdir``
so nothing touches the host's podman set-up; ``insecure_registries`` are plain-HTTP hosts.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import docker

from pipeline_lib.core.process import ManagedProcess, require_tool
from pipeline_lib.core.settings import child_env

# A unix socket path is limited to 107 bytes; keep it short and outside deep work dirs.
_MAX_SOCKET_PATH = 100


@dataclass
class PodmanService:
    """Start ``podman system service`` on a private unix socket; ``base_url`` is for docker SDK."""

    workdir: Path
    insecure_registries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._process: ManagedProcess | None = None
        self.workdir = self.workdir.resolve()

    @property
    def socket_path(self) -> Path:
        """``workdir/podman.sock``, or a short path under the temp dir when that is too long."""
        path = self.workdir / "podman.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(str(self.workdir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"gantry-podman-{digest}" / "podman.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def environment(self) -> dict[str, str]:
        """Environment for any podman process using this service's storage and registries."""
        env = child_env()
        env["CONTAINERS_STORAGE_CONF"] = str(self.workdir / "storage.conf")
        env["CONTAINERS_REGISTRIES_CONF"] = str(self.workdir / "registries.conf")
        env["XDG_RUNTIME_DIR"] = str(self.workdir / "xdg")
        return env

    def _write_config(self) -> None:
        (self.workdir / "xdg").mkdir(parents=True, exist_ok=True)
        (self.workdir / "storage.conf").write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.workdir / "storage"}"\n'
            f'runroot = "{self.workdir / "run"}"\n')
        registries = ['unqualified-search-registries = []']
        for host in self.insecure_registries:
            registries.append(f'[[registry]]\nlocation = "{host}"\ninsecure = true')
        (self.workdir / "registries.conf").write_text("\n".join(registries) + "\n")

    def start(self, timeout: float = 60.0) -> PodmanService:
        binary = require_tool("podman", "podman")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if self.socket_path.exists():
            self.socket_path.unlink()
        self._process = ManagedProcess(
            "podman", [binary, "system", "service", "--time=0", self.base_url],
            self.workdir / "podman.log", env=self.environment())
        self._process.start()
        self._process.wait_ready(self._ready, timeout)
        return self

    def _ready(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = docker.DockerClient(base_url=self.base_url, timeout=5)
        try:
            return bool(client.ping())
        except docker.errors.DockerException:
            return False
        finally:
            client.close()

    def client(self, timeout: int = 300) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> PodmanService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
