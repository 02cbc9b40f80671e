"""Pick the container engine behind the Docker API: a running Docker engine, else podman."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker

from .podman import PodmanService


def docker_engine_available(timeout: int = 3) -> bool:
    """True when ``docker.from_env()`` (DOCKER_HOST or the default socket) answers a ping."""
    try:
        client = docker.from_env(timeout=timeout)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "no usable engine"
        return False
    finally:
        client.close()


@contextlib.contextmanager
def container_engine(choice: str, workdir: Path, insecure_registries: list[str]) -> Iterator[tuple[str, docker.DockerClient]]:
    """Yield ``(engine name, DockerClient)``; ``choice`` is ``auto``, ``docker`` or ``podman``.

    With podman, its service is started under ``workdir`` and stopped on exit.
    """
    if choice == "docker" or (choice == "auto" and docker_engine_available()):
        client = docker.from_env(timeout=300)
        try:
            yield "docker", client
        finally:
            client.close()
        return
    with PodmanService(workdir, insecure_registries=insecure_registries) as service:
        client = service.client()
        try:
            yield "podman", client
        finally:
            client.close()
