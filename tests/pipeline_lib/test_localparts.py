"""Local parts: real registry and podman service, clear errors when they cannot start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.process import LOOPBACK, free_port, require_tool
from pipeline_lib.localparts.registry import LocalRegistry


def test_registry_serves_v2_on_loopback(registry: LocalRegistry) -> None:
    assert registry.host.startswith("127.0.0.1:")
    response = requests.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(GantryError) as info:
            LocalRegistry(tmp_path, port).start(port_wait=0.3)
    assert str(info.value) == (f"registry: port {port} on 127.0.0.1 is already in use; "
                               "choose another port or stop what is listening there")


def test_missing_debian_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GantryError, match=r"docker-registry: not found on PATH; install the Debian "
                                          r"package 'docker-registry'"):
        require_tool("docker-registry", "docker-registry")


def test_podman_builds_and_pushes(podman, registry: LocalRegistry, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    client = podman.client()
    try:
        image, _ = client.images.build(path=str(tmp_path), tag=f"{registry.host}/t/hello:1", rm=True)
        assert image.id.startswith("sha256:")
        events = list(client.images.push(f"{registry.host}/t/hello", tag="1", stream=True, decode=True))
        assert not [e for e in events if "error" in e], events
    finally:
        client.close()
    tags = requests.get(f"{registry.url}/v2/t/hello/tags/list", timeout=5).json()
    assert tags == {"name": "t/hello", "tags": ["1"]}


def test_podman_socket_fallback_for_long_paths(tmp_path: Path) -> None:
    from pipeline_lib.localparts.podman import PodmanService

    deep = tmp_path / ("x" * 60) / ("y" * 60)
    service = PodmanService(deep)
    assert len(str(service.socket_path)) <= 100
    assert service.socket_path != deep / "podman.sock"


def test_registry_restarts_at_once_on_its_fixed_port(tmp_path: Path) -> None:
    """Stop then start on the same port right away (TIME_WAIT sockets from the first run's
    clients remain): the second start succeeds, as two `make demo` runs in a row need."""
    port = free_port()
    first = LocalRegistry(tmp_path / "one", port).start()
    for _ in range(3):
        requests.get(f"{first.url}/v2/", timeout=5, headers={"Connection": "close"})
    first.stop()
    with LocalRegistry(tmp_path / "two", port) as second:
        assert requests.get(f"{second.url}/v2/", timeout=5).status_code == 200
