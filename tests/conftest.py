"""Shared fixtures: real local parts started by the tests themselves, bound to 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_lib.localparts.moto_server import MotoServer
from pipeline_lib.localparts.podman import PodmanService
from pipeline_lib.localparts.registry import LocalRegistry
from tests.support.paths import FIXTURES

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``tests/fixtures``: real scanner reports, payloads and schemas (see its SOURCES.md)."""
    return FIXTURES


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A real docker-registry (stands in for ECR Seoul)."""
    with LocalRegistry(tmp_path_factory.mktemp("registry-seoul"), name="registry-seoul") as reg:
        yield reg


@pytest.fixture(scope="session")
def registry_tokyo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A second real docker-registry (stands in for ECR Tokyo)."""
    with LocalRegistry(tmp_path_factory.mktemp("registry-tokyo"), name="registry-tokyo") as reg:
        yield reg


@pytest.fixture(scope="session")
def podman(registry: LocalRegistry, registry_tokyo: LocalRegistry) -> Iterator[PodmanService]:
    """podman's Docker-compatible service with both local registries marked insecure."""
    base = Path(os.environ.get("GANTRY_TEST_PODMAN_DIR", "/tmp"))
    workdir = base / f"gantry-podman-{os.getpid()}"
    service = PodmanService(workdir, insecure_registries=[registry.host, registry_tokyo.host])
    with service:
        yield service
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto in server mode: the AWS control plane (ECR, Scheduler, Secrets Manager, SNS, ...)."""
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture()
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Point boto3 at moto through the standard settings (AWS_ENDPOINT_URL) and reset its state."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


def git(cwd: Path, *args: str) -> str:
    """Run the real ``git`` CLI in ``cwd`` and return its stdout."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def bare_repo(tmp_path: Path) -> Path:
    """An empty bare git repository on disk (a GitOps remote)."""
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(path)], check=True)
    return path
