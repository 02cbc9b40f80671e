"""Pinned requirements installed into a copy of the build context (pip --target, real wheels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.pydeps import prepare_build_context, read_pins

ROOT = Path(__file__).resolve().parents[2]


def test_the_storefront_pins_land_in_site_packages_with_their_metadata(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM scratch\nCOPY site-packages/ /sp/\n")
    pins = read_pins(ROOT / "examples" / "storefront" / "requirements.txt")
    idna = next(p for p in pins if p.name == "idna")   # one small pure-Python wheel is enough here
    (src / "requirements.txt").write_text(f"# a comment\n{idna}\n")
    dest = src / ".build-context"                      # inside the context, as in the Jenkinsfile
    got = prepare_build_context(src, dest, wheel_cache=tmp_path / "wheels")
    assert got == [idna]
    meta = dest / "site-packages" / f"idna-{idna.version}.dist-info" / "METADATA"
    assert f"Version: {idna.version}" in meta.read_text()
    assert not (dest / ".build-context").exists() and (dest / "Dockerfile").is_file()
    # second run: from the wheel cache alone
    assert prepare_build_context(src, dest, wheel_cache=tmp_path / "wheels") == [idna]


@pytest.mark.parametrize("line", ["requests>=2.0", "requests", "-e ."])
def test_unpinned_requirements_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"flask==3.0.3\n{line}\n")
    with pytest.raises(GantryError, match=r"requirements.txt:2: .* is not pinned as name==version"):
        read_pins(tmp_path / "requirements.txt")


def test_context_without_requirements_gets_an_empty_site_packages(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    assert prepare_build_context(tmp_path / "ctx", tmp_path / "out", wheel_cache=tmp_path / "w") == []
    assert (tmp_path / "out" / "site-packages").is_dir()
