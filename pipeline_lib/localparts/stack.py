"""The local stand-ins the demo runs the pipeline against, all on 127.0.0.1.

``LocalStack`` starts two real OCI registries (Debian ``docker-registry``) playing ECR Seoul and
ECR Tokyo, a container engine behind the Docker API (a running Docker engine, else podman's
service) for builds without BuildKit, and plays ECR's cross-region replication by copying a
pushed digest — and its OCI referrers, the signed evidence — from Seoul to Tokyo (ECR does this by
itself; the pipeline only verifies it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.process import TAIL_OUTPUT, require_tool, run as run_command

from .engine import container_engine
from .registry import LocalRegistry

PRIMARY_REGION = "ap-northeast-2"
REPLICA_REGION = "ap-northeast-1"


@dataclass
class LocalStack:
    """Use as a context manager; ``primary``/``replica`` are ``host:port`` once started."""

    workdir: Path
    registry_port: int = 0
    engine_choice: str = "auto"
    primary: str = ""
    replica: str = ""
    engine: str = ""
    client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._parts = contextlib.ExitStack()

    def __enter__(self) -> LocalStack:
        try:
            seoul = self._parts.enter_context(LocalRegistry(self.workdir / "registry", self.registry_port,
                                                            name="registry"))
            tokyo = self._parts.enter_context(LocalRegistry(self.workdir / "registry-tokyo", 0,
                                                            name="registry-tokyo"))
            self.primary, self.replica = seoul.host, tokyo.host
            self.engine, self.client = self._parts.enter_context(container_engine(
                self.engine_choice, self.workdir / "podman", [seoul.host, tokyo.host]))
        except BaseException:
            self._parts.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._parts.close()

    @property
    def replicas(self) -> dict[str, str]:
        """region → registry host, as the catalog's replica regions map to ECR hosts."""
        return {REPLICA_REGION: self.replica}

    def replicate(self, repository: str, digest: str, tags: list[str], timeout: float = 120) -> None:
        """What ECR replication does after a push: the same digest, under the same tags, in Tokyo
        (``skopeo copy --all`` keeps the digest), then the digest's referrers (signed evidence)
        with their referrers tag schema index."""
        skopeo = require_tool("skopeo", "skopeo")
        for tag in tags:
            proc = run_command([skopeo, "copy", "--quiet", "--all", "--src-tls-verify=false",
                                "--dest-tls-verify=false", f"docker://{self.primary}/{repository}@{digest}",
                                f"docker://{self.replica}/{repository}:{tag}"], timeout=timeout,
                               what="replication stand-in", max_output=TAIL_OUTPUT)
            if proc.returncode != 0:
                lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                raise GantryError("replication stand-in", f"skopeo copy failed: {lines[-1] if lines else proc.returncode}")
        from pipeline_lib.image.referrers import copy_referrers
        from pipeline_lib.image.registry import RegistryClient
        copy_referrers(RegistryClient(self.primary), RegistryClient(self.replica), repository, digest)
