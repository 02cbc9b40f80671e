"""A catalog with a ``signing:`` section (prod: required, its own key; dev: warn, dev's key) and a
GitOps repository with that catalog's layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline_lib.core.catalog import load_catalog
from tests.support.paths import PROJECT_ROOT

from . import tamper
from .helpers import new_key


@pytest.fixture(scope="module")
def keyset(tmp_path_factory: pytest.TempPathFactory) -> tamper.Keys:
    return tamper.Keys(*(new_key(tmp_path_factory.mktemp(n)) for n in ("prod", "dev", "stranger")))


def signed_catalog(directory: Path, keyset: tamper.Keys, *, dev: str = "warn") -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text())
    body = raw[0]["_catalog"]
    body["signing"] = {
        "prod": {"evidence": "required", "trusted_keys": [str(Path(keyset.prod.source).with_name("gantry.pub"))]},
        "event": {"evidence": "required", "trusted_keys": [str(Path(keyset.prod.source).with_name("gantry.pub"))]},
        "dev": {"evidence": dev, "trusted_keys": [str(Path(keyset.dev.source).with_name("gantry.pub"))]},
    }
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_catalog(path)
    return path


@pytest.fixture(scope="module")
def gitops_bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare GitOps repo with every service's dev, prod and event layout (shared by a module's
    tests: each pins its own fresh digest)."""
    tmp_path = tmp_path_factory.mktemp("gitops")
    from gitops.git import transact
    from gitops.layout import init_repo, scaffold
    catalog = load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml")
    bare = tmp_path / "gitops.git"
    assert init_repo(bare, catalog, catalog.services_in("dev"), "dev", "127.0.0.1:5000")

    def more(wd: Path):
        return "scaffold prod and event", scaffold(wd, catalog, list(catalog.services), ["prod", "event"],
                                                   "127.0.0.1:5000"), None
    transact(bare.as_uri(), more)
    return bare
