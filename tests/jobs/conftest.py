"""Fixtures for the jobs tests: a local Jenkins-API server and a tmp copy of jobs/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.localjenkins import LocalJenkins

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = PROJECT_ROOT / "jobs"


@pytest.fixture()
def jenkins() -> Iterator[LocalJenkins]:
    """A crumb-protected, token-authenticated Jenkins API stand-in."""
    with LocalJenkins(user="release", token="s3cret-token", crumb=True) as j:
        yield j


@pytest.fixture()
def jenkins_env(jenkins: LocalJenkins, monkeypatch: pytest.MonkeyPatch) -> LocalJenkins:
    monkeypatch.setenv("JENKINS_URL", jenkins.url)
    monkeypatch.setenv("JENKINS_USER", "release")
    monkeypatch.setenv("JENKINS_API_TOKEN", "s3cret-token")
    return jenkins


@pytest.fixture()
def jobs_copy(tmp_path: Path) -> Path:
    """A tmp copy of jobs/ (catalog included) that tests may break."""
    dest = tmp_path / "jobs"
    shutil.copytree(JOBS_DIR, dest, ignore=shutil.ignore_patterns("*.example", "__pycache__"))
    return dest


@pytest.fixture(autouse=True)
def _render_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the render cache out of the user's ~/.cache."""
    path = tmp_path_factory.mktemp("gantry-cache")
    monkeypatch.setenv("GANTRY_CACHE_DIR", str(path))
    return path
