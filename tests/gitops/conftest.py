"""GitOps test helpers: a catalog, an initialised bare repo, the gantry CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.layout import init_repo
from pipeline_lib.core.catalog import Catalog, load_catalog
from tests.support.catalogs import evidence_off

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"


def digest(ch: str) -> str:
    return "sha256:" + ch * 64


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog with evidence off in prod and event (tests.support.catalogs)."""
    return evidence_off(load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml"))


@pytest.fixture()
def gitops_repo(tmp_path: Path, catalog: Catalog) -> Path:
    """A bare GitOps repo with the layout of every service in dev, prod and event."""
    bare = tmp_path / "gitops.git"
    assert init_repo(bare, catalog, catalog.services_in("dev"), "dev", REGISTRY)
    from gitops.git import transact
    from gitops.layout import scaffold

    def more(wd: Path):
        paths = scaffold(wd, catalog, list(catalog.services), ["prod", "event"], REGISTRY)
        return "scaffold prod and event", paths, None
    transact(bare.as_uri(), more)
    return bare


def clone(bare: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True)
    return dest


def gantry(*args: str, cwd: Path = PROJECT_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def synthetic_catalog(path: Path, n: int) -> Path:
    """A catalog with ``n`` services in dev (for concurrency tests and benchmarks)."""
    lines = ["version: 1", "defaults:", '  aws_account_id: "123456789012"', "  registry_region: ap-northeast-2",
             "  replica_regions: [ap-northeast-1]", "  gitops_repo: https://github.com/example/gitops.git",
             "environments:", "  dev:", "    platform: jenkins", "    aws_region: ap-northeast-2",
             "    domain: dev.example.com", "    namespace: shop-dev", "services:"]
    for i in range(n):
        lines += [f"  - name: svc-{i:03d}", f"    repo: example/svc-{i:03d}",
                  f"    ecr_repository: shop/svc-{i:03d}", f"    manifest_path: apps/svc-{i:03d}",
                  "    environments:", "      dev: {}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CLI calls without --catalog read jobs/catalog.yaml relative to the project root; the host
    writer locks, spools and kept checkouts of the test's repositories stay in its tmp_path."""
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("GANTRY_LOCK_DIR", str(tmp_path / "locks"))
