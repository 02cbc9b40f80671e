"""Fixtures for infra/ tests: a disposable copy of infra/ and the catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline_lib.core.catalog import Catalog, load_catalog

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INFRA = PROJECT_ROOT / "infra"
CATALOG = PROJECT_ROOT / "jobs" / "catalog.yaml"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


@pytest.fixture()
def infra_copy(tmp_path: Path) -> Path:
    """A writable copy of infra/ (no .terraform dirs) to break on purpose."""
    dest = tmp_path / "infra"
    shutil.copytree(INFRA, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    """Replace exactly one occurrence of ``old`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
